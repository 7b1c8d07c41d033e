package dev.clipspark.training.model;

/**
 * The text tower of a CLIP model, with open_clip's field names ({@code text { ... }} in a model file):
 * a causal transformer over token embeddings whose end-of-text position is projected to the joint space.
 *
 * @param contextLength tokens per caption, start and end tokens included
 * @param vocabSize     rows of the token embedding; must match the tokenizer
 * @param width         token width of the transformer
 * @param heads         attention heads; must divide {@code width}
 * @param layers        transformer blocks
 */
public record TextConfig(int contextLength, int vocabSize, int width, int heads, int layers) implements java.io.Serializable {

  /** Key of {@link #contextLength()}. */
  public static final String CONTEXT_LENGTH = "context_length";
  /** open_clip's default context length. */
  public static final int CONTEXT_LENGTH_DEFAULT = 77;
  /** Key of {@link #vocabSize()}. */
  public static final String VOCAB_SIZE = "vocab_size";
  /** The CLIP BPE tokenizer's vocabulary size, open_clip's default. */
  public static final int VOCAB_SIZE_DEFAULT = 49408;
  /** Key of {@link #width()}. */
  public static final String WIDTH = "width";
  /** open_clip's default text width. */
  public static final int WIDTH_DEFAULT = 512;
  /** Key of {@link #heads()}. */
  public static final String HEADS = "heads";
  /** open_clip's default head count. */
  public static final int HEADS_DEFAULT = 8;
  /** Key of {@link #layers()}. */
  public static final String LAYERS = "layers";
  /** open_clip's default depth. */
  public static final int LAYERS_DEFAULT = 12;

  /** Validates; fails with the offending key, its value and what is allowed. */
  public TextConfig {
    VisionConfig.positive("text.context_length", contextLength);
    VisionConfig.positive("text.vocab_size", vocabSize);
    VisionConfig.positive("text.width", width);
    VisionConfig.positive("text.heads", heads);
    VisionConfig.positive("text.layers", layers);
    if (width % heads != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot set text.width to %d: must be a multiple of text.heads %d", width, heads));
    }
  }
}
