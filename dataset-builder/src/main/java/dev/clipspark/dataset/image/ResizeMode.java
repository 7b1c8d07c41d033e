package dev.clipspark.dataset.image;

/**
 * How an image is fitted to {@code image.size} ({@code S} below), as img2dataset's resize modes do. In
 * configuration the constants are written {@code center-crop}, {@code keep-ratio} and {@code border}.
 *
 * <p>Sides are scaled by the same factor and rounded to the nearest pixel (at least 1). Images smaller than
 * the target are scaled up, so every output of a build has the same geometry.
 */
public enum ResizeMode {
  /** Scale the shorter side to {@code S}, then keep the centre {@code S x S} square: the output is {@code S x S}. */
  CENTER_CROP,
  /**
   * Scale the shorter side to {@code S} and keep the whole image: a {@code w x h} landscape source becomes
   * {@code round(w * S / h) x S}, a portrait one {@code S x round(h * S / w)}.
   */
  KEEP_RATIO,
  /**
   * Scale the longer side to {@code S} and pad to an {@code S x S} square with black borders, the image
   * centred: a {@code w x h} landscape source fills {@code S x round(h * S / w)} of the square.
   */
  BORDER
}
