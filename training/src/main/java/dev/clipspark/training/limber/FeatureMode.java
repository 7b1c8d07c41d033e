package dev.clipspark.training.limber;

/** What LiMBeR reads from the frozen CLIP image tower ({@code limber.features}). */
public enum FeatureMode {
  /**
   * The pooled, projected image embedding {@code [d]} (CLIP's {@code encode_image}), not L2-normalised, as the
   * paper feeds its encoders' outputs; P maps it to {@code limber.prompts} soft prompts.
   */
  POOLED,
  /**
   * The grid before pooling {@code [k, c]}: a ViT's patch tokens after the last block and {@code ln_post}, a
   * ResNet's feature map before attention pooling; k is the number of positions and P maps each with one shared
   * linear map.
   */
  GRID;

  /** How settings and files spell it: {@code pooled}, {@code grid}. */
  public String spelling() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * The mode spelled {@code value}.
   *
   * @throws IllegalArgumentException naming the value and the allowed ones
   */
  public static FeatureMode of(String value) {
    for (FeatureMode m : values()) {
      if (m.spelling().equals(value)) {
        return m;
      }
    }
    throw new IllegalArgumentException("Unknown LiMBeR feature mode '" + value + "': must be one of pooled, grid");
  }
}
