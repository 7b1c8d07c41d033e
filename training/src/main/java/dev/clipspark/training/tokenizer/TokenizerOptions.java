package dev.clipspark.training.tokenizer;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;

/**
 * The {@code tokenizer.*} settings: which merges file to load, how large the vocabulary is, how long a
 * tokenized text is, and which words {@link BpeTrainer} learns from. Every constructor path validates, with
 * messages naming the key, e.g. {@code Cannot set tokenizer.vocab-size to 300: must be between 515 and
 * 1000000}.
 *
 * @param vocabSize tokens in the vocabulary: 512 byte symbols, {@code vocabSize - 514} merges, 2 special
 *     tokens (CLIP: 49,408)
 * @param contextLength ids per tokenized text, start and end tokens included (CLIP: 77)
 * @param minWordCount words seen fewer times than this are left out when learning merges
 * @param merges the merges file (local path or Hadoop URI, plain or gzip); empty when none is configured
 */
public record TokenizerOptions(int vocabSize, int contextLength, long minWordCount, String merges)
    implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Vocabulary size. */
  public static final String VOCAB_SIZE = "tokenizer.vocab-size";
  /** Default of {@link #VOCAB_SIZE}: OpenAI CLIP's. */
  public static final int VOCAB_SIZE_DEFAULT = ClipTokenizer.OPENAI_VOCAB_SIZE;
  /** Smallest {@link #VOCAB_SIZE}: the 514 base tokens and one merge. */
  public static final int VOCAB_SIZE_MIN = ClipTokenizer.BASE_TOKENS + 1;
  /** Largest {@link #VOCAB_SIZE}. */
  public static final int VOCAB_SIZE_MAX = 1_000_000;

  /** Context length. */
  public static final String CONTEXT_LENGTH = "tokenizer.context-length";
  /** Default of {@link #CONTEXT_LENGTH}: CLIP's. */
  public static final int CONTEXT_LENGTH_DEFAULT = ClipTokenizer.DEFAULT_CONTEXT_LENGTH;
  /** Smallest {@link #CONTEXT_LENGTH}: room for the start and end tokens. */
  public static final int CONTEXT_LENGTH_MIN = 2;
  /** Largest {@link #CONTEXT_LENGTH}. */
  public static final int CONTEXT_LENGTH_MAX = 65_536;

  /** Minimum count of a word for merge learning. */
  public static final String MIN_WORD_COUNT = "tokenizer.min-word-count";
  /** Default of {@link #MIN_WORD_COUNT}. */
  public static final long MIN_WORD_COUNT_DEFAULT = 2;

  /** The merges file. */
  public static final String MERGES = "tokenizer.merges";
  /** Default of {@link #MERGES}: none. */
  public static final String MERGES_DEFAULT = "";

  /** Validates every field; see the constants for the allowed ranges. */
  public TokenizerOptions {
    check(VOCAB_SIZE, vocabSize, VOCAB_SIZE_MIN, VOCAB_SIZE_MAX);
    check(CONTEXT_LENGTH, contextLength, CONTEXT_LENGTH_MIN, CONTEXT_LENGTH_MAX);
    check(MIN_WORD_COUNT, minWordCount, 1, Long.MAX_VALUE);
    if (merges == null) {
      throw new ConfigValueException(MERGES, "nothing", "must be a path or URI, or empty for none");
    }
    merges = merges.strip();
  }

  /** Reads and validates every {@code tokenizer.*} key. */
  public static TokenizerOptions from(Settings s) {
    return new TokenizerOptions(
        s.intIn(VOCAB_SIZE, VOCAB_SIZE_MIN, VOCAB_SIZE_MAX),
        s.intIn(CONTEXT_LENGTH, CONTEXT_LENGTH_MIN, CONTEXT_LENGTH_MAX),
        s.longIn(MIN_WORD_COUNT, 1, Long.MAX_VALUE),
        s.string(MERGES));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static TokenizerOptions defaults() {
    return new TokenizerOptions(VOCAB_SIZE_DEFAULT, CONTEXT_LENGTH_DEFAULT, MIN_WORD_COUNT_DEFAULT, MERGES_DEFAULT);
  }

  /** The number of merges the vocabulary holds: {@code vocabSize - 514}. */
  public int mergeCount() {
    return vocabSize - ClipTokenizer.BASE_TOKENS;
  }

  /** A copy with another {@link #merges} file. */
  public TokenizerOptions withMerges(String newMerges) {
    return new TokenizerOptions(vocabSize, contextLength, minWordCount, newMerges);
  }

  /** A copy with another {@link #vocabSize}. */
  public TokenizerOptions withVocabSize(int newVocabSize) {
    return new TokenizerOptions(newVocabSize, contextLength, minWordCount, merges);
  }

  private static void check(String key, long v, long min, long max) {
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }
}
