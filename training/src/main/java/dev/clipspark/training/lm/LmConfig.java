package dev.clipspark.training.lm;

import java.util.Locale;
import java.util.Objects;

/**
 * The architecture of a GPT-2-family causal language model, with Hugging Face's {@code GPT2Config} field
 * names ({@code conf/models/lm/NAME.conf}); defaults are GPT-2 small's (124M).
 *
 * @param name             the model's name (its file name without {@code .conf})
 * @param vocabSize        rows of the token embedding, which is also the output head; must cover the tokenizer
 * @param nCtx             the longest sequence: rows of the learned position embedding
 * @param nEmbd            token width
 * @param nLayer           transformer blocks
 * @param nHead            attention heads; must divide {@code nEmbd}
 * @param layerNormEpsilon epsilon of every LayerNorm
 */
public record LmConfig(String name, int vocabSize, int nCtx, int nEmbd, int nLayer, int nHead,
    double layerNormEpsilon) implements java.io.Serializable {

  /** Key of {@link #vocabSize()}. */
  public static final String VOCAB_SIZE = "vocab_size";
  /** GPT-2's vocabulary: 256 bytes, 50,000 merges and {@code <|endoftext|>}. */
  public static final int VOCAB_SIZE_DEFAULT = 50257;
  /** Key of {@link #nCtx()}. */
  public static final String N_CTX = "n_ctx";
  /** GPT-2's context. */
  public static final int N_CTX_DEFAULT = 1024;
  /** Key of {@link #nEmbd()}. */
  public static final String N_EMBD = "n_embd";
  /** GPT-2 small's width. */
  public static final int N_EMBD_DEFAULT = 768;
  /** Key of {@link #nLayer()}. */
  public static final String N_LAYER = "n_layer";
  /** GPT-2 small's depth. */
  public static final int N_LAYER_DEFAULT = 12;
  /** Key of {@link #nHead()}. */
  public static final String N_HEAD = "n_head";
  /** GPT-2 small's heads. */
  public static final int N_HEAD_DEFAULT = 12;
  /** Key of {@link #layerNormEpsilon()}. */
  public static final String LAYER_NORM_EPSILON = "layer_norm_epsilon";
  /** GPT-2's LayerNorm epsilon. */
  public static final double LAYER_NORM_EPSILON_DEFAULT = 1e-5;

  /** Validates; fails with the offending key, its value and what is allowed. */
  public LmConfig {
    Objects.requireNonNull(name, "name");
    positive(VOCAB_SIZE, vocabSize);
    positive(N_CTX, nCtx);
    positive(N_EMBD, nEmbd);
    positive(N_LAYER, nLayer);
    positive(N_HEAD, nHead);
    if (nEmbd % nHead != 0) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot set n_embd to %d: must be a multiple of n_head %d", nEmbd, nHead));
    }
    if (!(layerNormEpsilon > 0) || !Double.isFinite(layerNormEpsilon)) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot set layer_norm_epsilon to %s: must be a positive number", layerNormEpsilon));
    }
  }

  /** Width of one attention head. */
  public int headWidth() {
    return nEmbd / nHead;
  }

  private static void positive(String key, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot set %s to %d: must be at least 1",
          key, value));
    }
  }
}
