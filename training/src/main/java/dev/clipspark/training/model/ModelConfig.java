package dev.clipspark.training.model;

import java.util.Objects;

/**
 * A CLIP architecture: the joint embedding size and the two towers. Loaded from
 * {@code conf/models/NAME.conf} by {@link ModelConfigs#load(String)}; small and immutable, so it can be
 * broadcast to executors as is.
 *
 * @param name     the model's name, the file name of its {@code .conf} without the extension
 * @param embedDim size of the joint image-text embedding both towers project to
 * @param vision   the image tower
 * @param text     the text tower
 */
public record ModelConfig(String name, int embedDim, VisionConfig vision, TextConfig text)
    implements java.io.Serializable {

  /** Key of {@link #embedDim()}; required, as in open_clip. */
  public static final String EMBED_DIM = "embed_dim";
  /** Key of the {@link #vision()} block. */
  public static final String VISION = "vision";
  /** Key of the {@link #text()} block. */
  public static final String TEXT = "text";

  /** Validates; fails with the offending key, its value and what is allowed. */
  public ModelConfig {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(vision, "vision");
    Objects.requireNonNull(text, "text");
    if (name.isBlank()) {
      throw new IllegalArgumentException("Cannot name a model '" + name + "': the name must not be blank");
    }
    VisionConfig.positive("embed_dim", embedDim);
  }
}
