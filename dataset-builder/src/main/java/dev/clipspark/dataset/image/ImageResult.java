package dev.clipspark.dataset.image;

import dev.clipspark.dataset.RejectReason;

/**
 * What {@link ImageProcessor#process} made of one encoded image: either the re-encoded JPEG, or the reason
 * it was refused. The source fields are filled as far as processing got (a refused image may still know its
 * format and declared size). Like every record holding an array, equality compares the {@code jpeg} array
 * by identity.
 *
 * @param jpeg the baseline JPEG, or null when refused
 * @param width width of the output in pixels, 0 when refused
 * @param height height of the output in pixels, 0 when refused
 * @param sourceWidth width declared by the source's header, 0 when unknown
 * @param sourceHeight height declared by the source's header, 0 when unknown
 * @param sourceFormat {@code jpeg}, {@code png}, {@code webp}, {@code gif} or {@code bmp}; null when not
 *     recognised
 * @param reject why the image was refused, or null when it was processed
 * @param detail a human-readable explanation of the refusal (for logs, not for counting), null when processed
 */
public record ImageResult(
    byte[] jpeg,
    int width,
    int height,
    int sourceWidth,
    int sourceHeight,
    String sourceFormat,
    RejectReason reject,
    String detail) {

  /** Whether the image was processed, i.e. {@link #jpeg} holds the output. */
  public boolean ok() {
    return reject == null;
  }

  static ImageResult processed(byte[] jpeg, int width, int height, int sourceWidth, int sourceHeight, String format) {
    return new ImageResult(jpeg, width, height, sourceWidth, sourceHeight, format, null, null);
  }

  static ImageResult rejected(
      RejectReason reason, String detail, int sourceWidth, int sourceHeight, String format) {
    return new ImageResult(null, 0, 0, sourceWidth, sourceHeight, format, reason, detail);
  }
}
