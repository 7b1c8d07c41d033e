/**
 * A causal language model for LiMBeR captioning: GPT-2's architecture ({@link dev.clipspark.training.lm.LmConfig},
 * loaded from {@code conf/models/lm/NAME.conf} by {@link dev.clipspark.training.lm.LmConfigs}), its parameters with
 * Hugging Face's names and layouts ({@link dev.clipspark.training.lm.Gpt2Parameters}), the model itself
 * ({@link dev.clipspark.training.lm.Gpt2Model}, on the layers of {@code dev.clipspark.training.nn}) and the
 * next-token loss ({@link dev.clipspark.training.lm.NextTokenLoss}); for training, the token rows of captions or
 * text files in a seeded order ({@link dev.clipspark.training.lm.LmCorpus}), one worker's share of a data-parallel
 * step ({@link dev.clipspark.training.lm.LmTrainStep}) and language-model checkpoints
 * ({@link dev.clipspark.training.lm.LmCheckpoints}, kind {@code gpt2}, with the tokenizer's files); the training
 * loop itself is {@code dev.clipspark.training.trainer.LmTrainer}. GPT-2's byte-level BPE tokenizer lives in
 * {@code dev.clipspark.training.tokenizer} ({@link dev.clipspark.training.tokenizer.Gpt2Tokenizer}).
 */
package dev.clipspark.training.lm;
