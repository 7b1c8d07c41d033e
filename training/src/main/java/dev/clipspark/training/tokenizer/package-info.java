/**
 * CLIP's tokenizer: lower-cased byte-level BPE as in OpenAI's {@code simple_tokenizer.py}, and a Spark job
 * that learns its merges from a dataset's captions.
 *
 * <p>{@link dev.clipspark.training.tokenizer.ClipTokenizer} encodes, decodes and tokenizes into fixed-length
 * rows of ids; loaded with OpenAI's {@code bpe_simple_vocab_16e6.txt.gz} and a vocabulary of 49,408 it gives
 * OpenAI's ids. Its steps are public on their own: {@link dev.clipspark.training.tokenizer.TextCleaner}
 * (ftfy's character fixes, HTML unescaping, white space, lower case),
 * {@link dev.clipspark.training.tokenizer.PreTokenizer} (CLIP's splitting pattern) and
 * {@link dev.clipspark.training.tokenizer.BytesToUnicode} (the byte-to-symbol table). Merges are
 * {@link dev.clipspark.training.tokenizer.BpeMerge}s, read and written by
 * {@link dev.clipspark.training.tokenizer.MergesFile} in OpenAI's file format.
 *
 * <p>{@link dev.clipspark.training.tokenizer.BpeTrainer} counts words with Spark and learns merges on the
 * driver, reporting a {@link dev.clipspark.training.tokenizer.TrainResult}. The {@code tokenizer.*} settings
 * are read by {@link dev.clipspark.training.tokenizer.TokenizerOptions}.
 */
package dev.clipspark.training.tokenizer;
