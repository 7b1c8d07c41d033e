package dev.clipspark.training.lm;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;

/**
 * The {@code lm.*} settings of the language-model side (LiMBeR captioning), validated with messages naming the key,
 * e.g. {@code Cannot set lm.tokenizer.vocab-size to 100: must be between 258 and 1000000}.
 *
 * @param tokenizerVocabSize tokens of a GPT-2-style tokenizer that {@code train-tokenizer --kind gpt2} learns:
 *     256 byte symbols, {@code vocabSize - 257} merges and {@code <|endoftext|>} (GPT-2: 50,257)
 */
public record LmOptions(int tokenizerVocabSize) implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Vocabulary size of a learned GPT-2-style tokenizer. */
  public static final String TOKENIZER_VOCAB_SIZE = "lm.tokenizer.vocab-size";
  /** Default of {@link #TOKENIZER_VOCAB_SIZE}: GPT-2's. */
  public static final int TOKENIZER_VOCAB_SIZE_DEFAULT = 50257;
  /** Smallest {@link #TOKENIZER_VOCAB_SIZE}: 256 byte symbols, {@code <|endoftext|>} and one merge. */
  public static final int TOKENIZER_VOCAB_SIZE_MIN = 258;
  /** Largest {@link #TOKENIZER_VOCAB_SIZE}. */
  public static final int TOKENIZER_VOCAB_SIZE_MAX = 1_000_000;

  /** Validates. */
  public LmOptions {
    if (tokenizerVocabSize < TOKENIZER_VOCAB_SIZE_MIN || tokenizerVocabSize > TOKENIZER_VOCAB_SIZE_MAX) {
      throw new ConfigValueException(TOKENIZER_VOCAB_SIZE, tokenizerVocabSize,
          "must be between " + TOKENIZER_VOCAB_SIZE_MIN + " and " + TOKENIZER_VOCAB_SIZE_MAX);
    }
  }

  /** Reads and validates every {@code lm.*} key. */
  public static LmOptions from(Settings s) {
    return new LmOptions(s.intIn(TOKENIZER_VOCAB_SIZE, TOKENIZER_VOCAB_SIZE_MIN, TOKENIZER_VOCAB_SIZE_MAX));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static LmOptions defaults() {
    return new LmOptions(TOKENIZER_VOCAB_SIZE_DEFAULT);
  }
}
