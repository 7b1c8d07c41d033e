package dev.clipspark.evaluation;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.imageio.ImageIO;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/** Raw pixel features of an encoded image: its own size, one channel when grey, values in [0, 1]. */
final class RawPixels {

  private RawPixels() {}

  static BufferedImage decode(byte[] encoded) {
    if (encoded == null || encoded.length == 0) {
      throw new IllegalArgumentException("Cannot decode image: it has no bytes");
    }
    try {
      // ImageIO.read closes the stream itself.
      ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded));
      BufferedImage image = ImageIO.read(in);
      if (image == null) {
        throw new IllegalArgumentException("Cannot decode image: no reader for its format");
      }
      return image;
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot decode image: " + e.getMessage(), e);
    }
  }

  /**
   * Decoded pixels.
   *
   * @param shape {@code [height, width, channels]}, channels 1 for grey images, else 3
   * @param values channel-major pixel values / 255
   */
  record Pixels(int[] shape, float[] values) {}

  static Pixels of(byte[] encoded) {
    BufferedImage image = decode(encoded);
    return new Pixels(new int[] {image.getHeight(), image.getWidth(), isGrey(image) ? 1 : 3}, values(image));
  }

  private static float[] values(BufferedImage image) {
    int w = image.getWidth();
    int h = image.getHeight();
    if (isGrey(image)) {
      float[] out = new float[w * h];
      var raster = image.getRaster();
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          out[y * w + x] = raster.getSample(x, y, 0) / 255f;
        }
      }
      return out;
    }
    float[] out = new float[3 * w * h];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int rgb = image.getRGB(x, y);
        out[y * w + x] = ((rgb >> 16) & 0xff) / 255f;
        out[w * h + y * w + x] = ((rgb >> 8) & 0xff) / 255f;
        out[2 * w * h + y * w + x] = (rgb & 0xff) / 255f;
      }
    }
    return out;
  }

  private static boolean isGrey(BufferedImage image) {
    return image.getType() == BufferedImage.TYPE_BYTE_GRAY || image.getType() == BufferedImage.TYPE_USHORT_GRAY;
  }
}
