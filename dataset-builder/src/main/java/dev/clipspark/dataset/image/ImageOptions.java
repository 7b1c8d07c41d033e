package dev.clipspark.dataset.image;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;

/**
 * The {@code image.*} settings of a build: how images are validated, resized and re-encoded. Immutable and
 * small, so the driver can broadcast it to the executors; every constructor path validates, with messages
 * naming the key, e.g. {@code Cannot set image.size to 5: must be between 8 and 4096}.
 *
 * @param size output side length in pixels (the shorter side for {@link ResizeMode#KEEP_RATIO})
 * @param resizeMode how the image is fitted to {@code size}
 * @param minSide images whose shorter side is smaller are refused as {@code too_small}
 * @param maxPixels images whose header declares more pixels are refused as {@code too_many_pixels}, before
 *     any decoding
 * @param jpegQuality quality of the re-encoded baseline JPEG, 1 to 100 (the libjpeg/Pillow scale)
 */
public record ImageOptions(int size, ResizeMode resizeMode, int minSide, long maxPixels, int jpegQuality)
    implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Output side length in pixels. */
  public static final String SIZE = "image.size";
  /** Default of {@link #SIZE}. */
  public static final int SIZE_DEFAULT = 256;
  /** Smallest allowed {@link #SIZE}. */
  public static final int SIZE_MIN = 8;
  /** Largest allowed {@link #SIZE}. */
  public static final int SIZE_MAX = 4096;

  /** Resize mode: {@code center-crop}, {@code keep-ratio} or {@code border}. */
  public static final String RESIZE_MODE = "image.resize-mode";
  /** Default of {@link #RESIZE_MODE}. */
  public static final ResizeMode RESIZE_MODE_DEFAULT = ResizeMode.CENTER_CROP;

  /** Smallest accepted shorter side of a source image. */
  public static final String MIN_SIDE = "image.min-side";
  /** Default of {@link #MIN_SIDE}. */
  public static final int MIN_SIDE_DEFAULT = 32;
  /** Largest allowed {@link #MIN_SIDE}: the largest side a JPEG can have; it does not depend on {@link #SIZE}. */
  public static final int MIN_SIDE_MAX = 65535;

  /** Largest accepted pixel count (width times height) declared by a source's header. */
  public static final String MAX_PIXELS = "image.max-pixels";
  /** Default of {@link #MAX_PIXELS}: Pillow's decompression-bomb limit. */
  public static final long MAX_PIXELS_DEFAULT = 89_478_485L;

  /** Quality of the re-encoded JPEG. */
  public static final String JPEG_QUALITY = "image.jpeg-quality";
  /** Default of {@link #JPEG_QUALITY}. */
  public static final int JPEG_QUALITY_DEFAULT = 95;

  /** Validates every field; see the constants for the allowed ranges. */
  public ImageOptions {
    check(SIZE, size, SIZE_MIN, SIZE_MAX);
    if (resizeMode == null) {
      throw new ConfigValueException(RESIZE_MODE, "nothing", "must be one of " + Settings.allowed(ResizeMode.class));
    }
    check(MIN_SIDE, minSide, 1, MIN_SIDE_MAX);
    check(MAX_PIXELS, maxPixels, 1, Long.MAX_VALUE);
    check(JPEG_QUALITY, jpegQuality, 1, 100);
  }

  /** Reads and validates every {@code image.*} key. */
  public static ImageOptions from(Settings s) {
    return new ImageOptions(
        s.intIn(SIZE, SIZE_MIN, SIZE_MAX),
        s.enumOf(RESIZE_MODE, ResizeMode.class),
        s.intIn(MIN_SIDE, 1, MIN_SIDE_MAX),
        s.longIn(MAX_PIXELS, 1, Long.MAX_VALUE),
        s.intIn(JPEG_QUALITY, 1, 100));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static ImageOptions defaults() {
    return new ImageOptions(
        SIZE_DEFAULT, RESIZE_MODE_DEFAULT, MIN_SIDE_DEFAULT, MAX_PIXELS_DEFAULT, JPEG_QUALITY_DEFAULT);
  }

  /** A copy with another {@link #size}. */
  public ImageOptions withSize(int newSize) {
    return new ImageOptions(newSize, resizeMode, minSide, maxPixels, jpegQuality);
  }

  /** A copy with another {@link #resizeMode}. */
  public ImageOptions withResizeMode(ResizeMode newMode) {
    return new ImageOptions(size, newMode, minSide, maxPixels, jpegQuality);
  }

  /** A copy with another {@link #minSide}. */
  public ImageOptions withMinSide(int newMinSide) {
    return new ImageOptions(size, resizeMode, newMinSide, maxPixels, jpegQuality);
  }

  /** A copy with another {@link #maxPixels}. */
  public ImageOptions withMaxPixels(long newMaxPixels) {
    return new ImageOptions(size, resizeMode, minSide, newMaxPixels, jpegQuality);
  }

  /** A copy with another {@link #jpegQuality}. */
  public ImageOptions withJpegQuality(int newQuality) {
    return new ImageOptions(size, resizeMode, minSide, maxPixels, newQuality);
  }

  private static void check(String key, long v, long min, long max) {
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }
}
