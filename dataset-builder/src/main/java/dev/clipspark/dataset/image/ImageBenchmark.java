package dev.clipspark.dataset.image;

import java.awt.AlphaComposite;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.geom.RoundRectangle2D;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.SplittableRandom;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Measures {@link ImageProcessor} throughput on one thread: decode, validate, resize and re-encode of
 * synthetic photo-like JPEGs (smooth gradients, soft shapes and sensor-like noise, encoded at quality 90),
 * after a warm-up that lets the JIT compile the hot paths. The {@code bench images} command prints its
 * {@link Result}.
 */
public final class ImageBenchmark {

  /** Distinct sources generated; the timed loop cycles through them. */
  static final int DISTINCT_SOURCES = 16;
  /** Quality of the generated source JPEGs. */
  static final int SOURCE_QUALITY = 90;

  /**
   * What one run measured.
   *
   * @param imagesPerSecond images processed per second in the timed loop
   * @param images images processed in the timed loop (warm-up excluded)
   * @param seconds wall time of the timed loop
   * @param meanSourceBytes mean size of the source JPEGs processed
   * @param meanOutputBytes mean size of the re-encoded JPEGs
   */
  public record Result(double imagesPerSecond, int images, double seconds, double meanSourceBytes,
      double meanOutputBytes) {}

  private ImageBenchmark() {}

  /**
   * Generates {@code min(images, 16)} distinct {@code sourceSide x sourceSide} photo-like JPEGs, warms up on
   * {@code min(images, 200)} (at least 20) images, then times {@code images} images through one
   * {@link ImageProcessor} on the calling thread.
   *
   * @throws IllegalArgumentException when {@code images < 1}, or {@code sourceSide} is outside 1 to 16384 or
   *     would be refused under {@code options} (under {@code image.min-side} or over {@code image.max-pixels})
   */
  public static Result run(int images, int sourceSide, ImageOptions options) {
    if (images < 1) {
      throw new IllegalArgumentException("Cannot run the image benchmark with " + images + " images: need at least 1");
    }
    if (sourceSide < 1 || sourceSide > 16384) {
      throw new IllegalArgumentException(
          "Cannot run the image benchmark with " + sourceSide + " pixel sources: the side must be between 1 and 16384");
    }
    if (sourceSide < options.minSide() || (long) sourceSide * sourceSide > options.maxPixels()) {
      throw new IllegalArgumentException("Cannot run the image benchmark with " + sourceSide + " x " + sourceSide
          + " sources: they would be refused under " + ImageOptions.MIN_SIDE + " = " + options.minSide()
          + " and " + ImageOptions.MAX_PIXELS + " = " + options.maxPixels());
    }
    byte[][] sources = new byte[Math.min(images, DISTINCT_SOURCES)][];
    for (int i = 0; i < sources.length; i++) {
      sources[i] = encodeJpeg(photoLike(sourceSide, sourceSide, 1000L + i), SOURCE_QUALITY);
    }
    try (var processor = new ImageProcessor(options)) {
      int warmUp = Math.max(20, Math.min(images, 200));
      for (int i = 0; i < warmUp; i++) {
        check(processor.process(sources[i % sources.length]));
      }
      long sourceBytes = 0;
      long outputBytes = 0;
      long start = System.nanoTime();
      for (int i = 0; i < images; i++) {
        byte[] source = sources[i % sources.length];
        ImageResult r = check(processor.process(source));
        sourceBytes += source.length;
        outputBytes += r.jpeg().length;
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      return new Result(images / seconds, images, seconds, (double) sourceBytes / images,
          (double) outputBytes / images);
    }
  }

  private static ImageResult check(ImageResult r) {
    if (!r.ok()) {
      throw new IllegalStateException(
          "Cannot run the image benchmark: a generated source was refused as " + r.reject().key() + ": " + r.detail());
    }
    return r;
  }

  /**
   * A photo-like RGB image: a four-colour gradient with soft low-frequency texture, a dozen anti-aliased
   * shapes (some translucent, some gradient-filled) and Gaussian noise of about 4 levels, so that it
   * compresses like a photograph rather than like flat colours. The same seed gives the same image.
   */
  public static BufferedImage photoLike(int width, int height, long seed) {
    var rnd = new SplittableRandom(seed);
    var image = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
    byte[] px = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
    int[][] corners = new int[4][3];
    for (int[] c : corners) {
      for (int k = 0; k < 3; k++) {
        c[k] = 30 + rnd.nextInt(200);
      }
    }
    double fx = (1 + rnd.nextInt(4)) * Math.PI / width;
    double fy = (1 + rnd.nextInt(4)) * Math.PI / height;
    for (int y = 0, i = 0; y < height; y++) {
      double v = (double) y / Math.max(1, height - 1);
      for (int x = 0; x < width; x++) {
        double u = (double) x / Math.max(1, width - 1);
        double texture = 18 * Math.sin(x * fx * 3 + y * fy) * Math.cos(y * fy * 2 - x * fx);
        for (int k = 2; k >= 0; k--) { // B, G, R
          double c = (1 - u) * (1 - v) * corners[0][k] + u * (1 - v) * corners[1][k]
              + (1 - u) * v * corners[2][k] + u * v * corners[3][k];
          px[i++] = (byte) clamp(c + texture);
        }
      }
    }
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    for (int s = 0; s < 12; s++) {
      var colour = new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256));
      float alpha = rnd.nextInt(3) == 0 ? 0.5f : 1f;
      g.setComposite(AlphaComposite.getInstance(AlphaComposite.SRC_OVER, alpha));
      int x = rnd.nextInt(width);
      int y = rnd.nextInt(height);
      int w = 1 + rnd.nextInt(Math.max(1, width / 3));
      int h = 1 + rnd.nextInt(Math.max(1, height / 3));
      if (rnd.nextBoolean()) {
        g.setPaint(new GradientPaint(x, y, colour, x + w, y + h, colour.darker().darker()));
      } else {
        g.setPaint(colour);
      }
      switch (s % 3) {
        case 0 -> g.fill(new Ellipse2D.Double(x - w / 2.0, y - h / 2.0, w, h));
        case 1 -> g.fill(new RoundRectangle2D.Double(x - w / 2.0, y - h / 2.0, w, h, w / 4.0, h / 4.0));
        default -> g.fill(new Polygon(
            new int[] {x, x + w, x - w / 2}, new int[] {y - h, y + h / 2, y + h}, 3));
      }
    }
    g.dispose();
    for (int i = 0; i < px.length; i++) {
      px[i] = (byte) clamp((px[i] & 0xff) + rnd.nextGaussian() * 4);
    }
    return image;
  }

  /** Encodes an image as a baseline JPEG at the given quality (1 to 100). */
  public static byte[] encodeJpeg(BufferedImage image, int quality) {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    try {
      ImageWriteParam param = writer.getDefaultWriteParam();
      param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      param.setCompressionQuality(quality / 100f);
      var bytes = new ByteArrayOutputStream();
      try (var out = new MemoryCacheImageOutputStream(bytes)) {
        writer.setOutput(out);
        writer.write(null, new IIOImage(image, null, null), param);
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot encode a synthetic JPEG in memory: " + e.getMessage(), e);
    } finally {
      writer.dispose();
    }
  }

  private static int clamp(double v) {
    return (int) Math.max(0, Math.min(255, Math.round(v)));
  }
}
