package dev.clipspark.dataset.image;

import dev.clipspark.dataset.RejectReason;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.Raster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Decodes, validates, resizes and re-encodes images: encoded JPEG, PNG, WebP, GIF or BMP bytes in, a baseline
 * JPEG of {@link ImageOptions#size()} out (geometry per {@link ResizeMode}), or the {@link RejectReason} why
 * not. {@link #process} never throws for bad input; only {@link OutOfMemoryError} escapes it.
 *
 * <p>In order:
 *
 * <ol>
 *   <li>no bytes: {@code empty_file};
 *   <li>no supported signature (JPEG, PNG, WebP, GIF, BMP): {@code unsupported_format};
 *   <li>the width and height are read from the header alone, before any pixel memory is allocated: more than
 *       {@code image.max-pixels} is {@code too_many_pixels} (a 100000 x 100000 PNG header is refused in
 *       milliseconds), a shorter side under {@code image.min-side} is {@code too_small};
 *   <li>decoding; a decoder exception, a truncated or damaged JPEG (which the JDK decoder fills with grey and
 *       only warns about), a PNG with a missing {@code IEND} or a bad CRC in a critical chunk is
 *       {@code corrupt_image};
 *   <li>conversion to 8-bit RGB: grey is replicated, palettes looked up, 16-bit samples rounded, alpha
 *       composited onto white, CMYK and YCCK JPEGs converted (Adobe inverted or plain);
 *   <li>resizing: area averaging when shrinking (no aliasing at any factor), Catmull-Rom cubic when enlarging;
 *       JPEGs at least eight times the target are decoded with source subsampling, keeping at least four
 *       times the target's resolution for the averaging;
 *   <li>re-encoding as a baseline JPEG (4:2:0) at {@code image.jpeg-quality}.
 * </ol>
 *
 * <p>Not thread-safe: use one per thread (one per Spark task). It keeps its decoders, encoder and buffers
 * between images; {@link #close()} releases them.
 */
public final class ImageProcessor implements AutoCloseable {

  /** Decoder warnings that do not mean lost pixels (lower case, matched as substrings). */
  private static final List<String> HARMLESS_WARNINGS = List.of(
      "extraneous bytes before marker",
      "unknown jfif revision",
      "invalid sos parameters for sequential jpeg",
      "invalid icc profile",
      "thumbnail");

  /**
   * Decoded JPEGs keep at least this many times the target resolution. The JDK decoder subsamples by
   * dropping pixels, which lets noise through unaveraged; at 4 the area averaging that follows still
   * removes most of it (at 2, 2048-pixel noisy sources came out 26% larger as JPEG, at 4 only 4%), while
   * a 2048 x 2048 source to 256 is still decoded at half resolution.
   */
  static final int SUBSAMPLING_MARGIN = 4;

  private final ImageOptions options;
  private final Map<String, ImageReader> readers = new HashMap<>();
  private final List<String> warnings = new ArrayList<>();
  private final Resampler resampler = new Resampler();
  private final ByteArrayOutputStream encoded = new ByteArrayOutputStream(64 * 1024);
  private ImageWriter writer;
  private ImageWriteParam writeParam;
  private BufferedImage canvas;

  /** A processor for the given settings. */
  public ImageProcessor(ImageOptions options) {
    if (options == null) {
      throw new IllegalArgumentException("Cannot create an image processor: options are null");
    }
    this.options = options;
  }

  /** The settings this processor applies. */
  public ImageOptions options() {
    return options;
  }

  /**
   * Processes one encoded image. Returns the re-encoded JPEG with its dimensions, or the reason the image was
   * refused with a detail message; see the class comment for the steps.
   *
   * @param bytes the encoded image (not modified); null counts as empty
   */
  public ImageResult process(byte[] bytes) {
    if (bytes == null || bytes.length == 0) {
      return ImageResult.rejected(RejectReason.EMPTY_FILE, "the image has 0 bytes", 0, 0, null);
    }
    String format = Formats.sniff(bytes);
    if (format == null) {
      return ImageResult.rejected(RejectReason.UNSUPPORTED_FORMAT,
          "not a JPEG, PNG, WebP, GIF or BMP: the data starts with 0x" + Formats.head(bytes), 0, 0, null);
    }
    ImageReader reader = reader(format);
    if (reader == null) {
      return ImageResult.rejected(RejectReason.UNSUPPORTED_FORMAT,
          "no " + format + " decoder is installed", 0, 0, format);
    }
    int width = 0;
    int height = 0;
    boolean healthy = false;
    Pixels pixels;
    try {
      warnings.clear();
      reader.setInput(new ByteArrayImageInputStream(bytes), true, true);
      try {
        width = reader.getWidth(0);
        height = reader.getHeight(0);
      } catch (IOException | RuntimeException e) {
        return ImageResult.rejected(RejectReason.CORRUPT_IMAGE,
            "Cannot read the " + format + " header: " + describe(e), 0, 0, format);
      }
      if (width <= 0 || height <= 0) {
        return ImageResult.rejected(RejectReason.CORRUPT_IMAGE,
            "the " + format + " header declares " + width + " x " + height + " pixels", width, height, format);
      }
      long pixelCount = (long) width * height;
      if (pixelCount > options.maxPixels()) {
        healthy = true;
        return ImageResult.rejected(RejectReason.TOO_MANY_PIXELS,
            String.format(Locale.ROOT, "the header declares %d x %d = %d pixels, more than %s = %d",
                width, height, pixelCount, ImageOptions.MAX_PIXELS, options.maxPixels()),
            width, height, format);
      }
      if (Math.min(width, height) < options.minSide()) {
        healthy = true;
        return ImageResult.rejected(RejectReason.TOO_SMALL,
            String.format(Locale.ROOT, "%d x %d: the shorter side is under %s = %d",
                width, height, ImageOptions.MIN_SIDE, options.minSide()),
            width, height, format);
      }
      if (format.equals(Formats.PNG)) {
        String broken = Formats.checkPng(bytes);
        if (broken != null) {
          healthy = true;
          return ImageResult.rejected(RejectReason.CORRUPT_IMAGE, "broken png: " + broken, width, height, format);
        }
      }
      try {
        pixels = decode(reader, format, bytes, width, height);
      } catch (IOException | RuntimeException e) {
        return ImageResult.rejected(RejectReason.CORRUPT_IMAGE,
            "Cannot decode the " + format + ": " + describe(e), width, height, format);
      }
      String damage = damage();
      if (damage != null) {
        return ImageResult.rejected(RejectReason.CORRUPT_IMAGE,
            "the " + format + " decoder reported damaged data: " + damage, width, height, format);
      }
      healthy = true;
    } catch (OutOfMemoryError e) {
      throw e;
    } catch (Error e) { // a decoder's InternalError, StackOverflowError and the like: bad input, not a bad JVM
      return ImageResult.rejected(RejectReason.CORRUPT_IMAGE,
          "Cannot decode the " + format + ": " + describe(e), width, height, format);
    } finally {
      release(format, reader, healthy);
    }
    return render(pixels, width, height, format);
  }

  /** Releases the decoders and the encoder. The processor must not be used afterwards. */
  @Override
  public void close() {
    for (ImageReader r : readers.values()) {
      r.dispose();
    }
    readers.clear();
    if (writer != null) {
      writer.dispose();
      writer = null;
    }
    canvas = null;
  }

  private Pixels decode(ImageReader reader, String format, byte[] bytes, int width, int height)
      throws IOException {
    ImageReadParam param = reader.getDefaultReadParam();
    int step = subsampling(format, width, height);
    if (step > 1) {
      param.setSourceSubsampling(step, step, 0, 0);
    }
    if (format.equals(Formats.JPEG)) {
      Formats.JpegHeader header = Formats.scanJpeg(bytes);
      if (header.components() == 4) {
        Raster raster = reader.readRaster(0, param);
        return Pixels.ofCmyk(raster, header.adobeTransform() == 2, header.adobeTransform() >= 0);
      }
    }
    return Pixels.of(reader.read(0, param));
  }

  /**
   * The JPEG source subsampling step: the largest whole step that keeps the decoded image at least
   * {@link #SUBSAMPLING_MARGIN} times the target on the side that {@link ResizeMode} scales to {@code size}.
   * 1 for other formats.
   */
  int subsampling(String format, int width, int height) {
    if (!format.equals(Formats.JPEG)) {
      return 1;
    }
    int side = options.resizeMode() == ResizeMode.BORDER ? Math.max(width, height) : Math.min(width, height);
    return Math.max(1, side / (SUBSAMPLING_MARGIN * options.size()));
  }

  private ImageResult render(Pixels px, int sourceWidth, int sourceHeight, String format) {
    int size = options.size();
    int canvasW;
    int canvasH;
    int outW;
    int outH;
    double x0 = 0;
    double y0 = 0;
    double windowW = px.width;
    double windowH = px.height;
    switch (options.resizeMode()) {
      case CENTER_CROP -> {
        canvasW = canvasH = outW = outH = size;
        double side = Math.min(sourceWidth, sourceHeight);
        windowW = side / sourceWidth * px.width;
        windowH = side / sourceHeight * px.height;
        x0 = (px.width - windowW) / 2;
        y0 = (px.height - windowH) / 2;
      }
      case KEEP_RATIO -> {
        if (sourceWidth <= sourceHeight) {
          outW = size;
          outH = scale(sourceHeight, size, sourceWidth);
        } else {
          outW = scale(sourceWidth, size, sourceHeight);
          outH = size;
        }
        canvasW = outW;
        canvasH = outH;
      }
      case BORDER -> {
        if (sourceWidth >= sourceHeight) {
          outW = size;
          outH = scale(sourceHeight, size, sourceWidth);
        } else {
          outW = scale(sourceWidth, size, sourceHeight);
          outH = size;
        }
        canvasW = canvasH = size;
      }
      default -> throw new IllegalStateException("Cannot resize: unknown mode " + options.resizeMode());
    }
    if (canvas == null || canvas.getWidth() != canvasW || canvas.getHeight() != canvasH) {
      canvas = new BufferedImage(canvasW, canvasH, BufferedImage.TYPE_3BYTE_BGR);
    }
    byte[] dst = ((DataBufferByte) canvas.getRaster().getDataBuffer()).getData();
    int stride = canvasW * 3;
    int offset = ((canvasH - outH) / 2) * stride + ((canvasW - outW) / 2) * 3;
    if (outW != canvasW || outH != canvasH) {
      Arrays.fill(dst, (byte) 0);
    }
    resampler.resize(px, x0, y0, windowW, windowH, dst, offset, stride, outW, outH);
    if (px.rgb) {
      for (int y = 0; y < outH; y++) {
        for (int i = offset + y * stride, end = i + outW * 3; i < end; i += 3) {
          byte r = dst[i];
          dst[i] = dst[i + 2];
          dst[i + 2] = r;
        }
      }
    }
    return ImageResult.processed(encode(canvas), canvasW, canvasH, sourceWidth, sourceHeight, format);
  }

  private static int scale(int side, int size, int reference) {
    return (int) Math.max(1, Math.round((double) side * size / reference));
  }

  private byte[] encode(BufferedImage image) {
    if (writer == null) {
      Iterator<ImageWriter> it = ImageIO.getImageWritersByFormatName("jpeg");
      if (!it.hasNext()) {
        throw new IllegalStateException("Cannot encode JPEG: no JPEG ImageIO writer is installed");
      }
      writer = it.next();
      writeParam = writer.getDefaultWriteParam();
      writeParam.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      writeParam.setCompressionQuality(options.jpegQuality() / 100f);
      writeParam.setProgressiveMode(ImageWriteParam.MODE_DISABLED);
    }
    encoded.reset();
    try (var out = new MemoryCacheImageOutputStream(encoded)) {
      writer.setOutput(out);
      writer.write(null, new IIOImage(image, null, null), writeParam);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot encode a " + image.getWidth() + " x " + image.getHeight()
          + " JPEG in memory: " + e.getMessage(), e);
    } finally {
      writer.setOutput(null);
    }
    return encoded.toByteArray();
  }

  private ImageReader reader(String format) {
    ImageReader r = readers.get(format);
    if (r == null) {
      r = Decoders.create(format);
      if (r == null) {
        return null;
      }
      r.addIIOReadWarningListener((source, message) -> warnings.add(message));
      readers.put(format, r);
    }
    return r;
  }

  /** Keeps a reader that finished cleanly for the next image; disposes of one left in an unknown state. */
  private void release(String format, ImageReader reader, boolean healthy) {
    if (healthy) {
      reader.setInput(null);
      return;
    }
    readers.remove(format);
    try {
      reader.dispose();
    } catch (RuntimeException ignored) {
      // the reader is dropped either way; a new one is made for the next image of this format
    }
  }

  /** The decoder warnings that mean lost or damaged pixels, joined with "; ", or null when there are none. */
  private String damage() {
    var damaging = new ArrayList<String>();
    for (String w : warnings) {
      String lower = w == null ? "" : w.toLowerCase(Locale.ROOT);
      if (HARMLESS_WARNINGS.stream().noneMatch(lower::contains)) {
        damaging.add(w);
      }
    }
    return damaging.isEmpty() ? null : String.join("; ", damaging);
  }

  private static String describe(Throwable e) {
    String m = e.getMessage();
    Throwable cause = e.getCause();
    String s = e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    if (cause != null && cause != e) {
      s += " (" + cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : ": " + cause.getMessage())
          + ")";
    }
    return s;
  }
}
