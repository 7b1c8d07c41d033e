package dev.clipspark.training.data;

import dev.clipspark.dataset.image.ResampleWeights;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBufferByte;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * CLIP's image transforms, from an encoded image or a {@link BufferedImage} to {@code 3 x S x S} floats
 * (channel-major, RGB), each channel scaled to {@code [0, 1]} and normalised with {@link #MEAN} and
 * {@link #STD}:
 * <ul>
 *   <li>{@link #eval(int, Resample)} with {@link Resample#BICUBIC}: OpenAI's {@code preprocess}, the transform
 *       the released CLIP weights were trained and evaluated with: torchvision's {@code Resize(S, BICUBIC)} of
 *       the shorter side (the longer to {@code int(S * long / short)}) with PIL's antialiased bicubic filter,
 *       then {@code CenterCrop(S)} at integer offsets, with 8-bit rounding after each resampling pass as PIL
 *       does; only the pixels kept by the crop are computed.</li>
 *   <li>{@link #eval(int)} (and {@link Resample#AREA}): {@code Resize(S)} then {@code CenterCrop(S)} computed in
 *       one step as the centred square of side {@code min(w, h)} resampled to {@code S x S} (area averaging,
 *       see below), without the intermediate rounding of the resized size.</li>
 *   <li>{@link #train(int, double, double)}: open_clip's training transform, torchvision's
 *       {@code RandomResizedCrop(S, scale=(min, max), ratio=(3/4, 4/3))}: up to 10 attempts at a random area
 *       fraction and log-uniform aspect ratio, then the fallback to a centre crop with the ratio clamped to
 *       the range ({@link #crop(int, int, Random)}); the crop is resampled to {@code S x S}.</li>
 * </ul>
 * Area resampling (training and {@link Resample#AREA}) is separable: downscaling averages areas (each output pixel is the mean of the source area it
 * covers, partial pixels weighted), upscaling interpolates with the Catmull-Rom cubic; values stay in float
 * and are clamped to {@code [0, 255]} before normalising.
 *
 * <p>Immutable and thread-safe: {@link #apply(byte[], Random)} allocates its scratch per call, so one
 * instance serves every decode thread. The {@link Random} is used only by the training transform.
 */
public final class ImagePreprocessor {

  /** CLIP's per-channel mean of RGB in {@code [0, 1]}. */
  public static final List<Double> MEAN = List.of(0.48145466, 0.4578275, 0.40821073);
  /** CLIP's per-channel standard deviation of RGB in {@code [0, 1]}. */
  public static final List<Double> STD = List.of(0.26862954, 0.26130258, 0.27577711);
  /** The largest output side accepted. */
  public static final int MAX_SIZE = 4096;

  private static final double MIN_RATIO = 3.0 / 4.0;
  private static final double MAX_RATIO = 4.0 / 3.0;
  private static final int ATTEMPTS = 10;

  private static final float[] SCALE = new float[3];
  private static final float[] BIAS = new float[3];

  static {
    for (int c = 0; c < 3; c++) {
      SCALE[c] = (float) (1.0 / (255.0 * STD.get(c)));
      BIAS[c] = (float) (-MEAN.get(c) / STD.get(c));
    }
  }

  /** How the evaluation transform resamples. */
  public enum Resample {
    /**
     * Area averaging when shrinking, Catmull-Rom when enlarging, from the centred square in one step, in float:
     * what ClipSpark's training transform uses.
     */
    AREA,
    /** OpenAI's {@code preprocess}: PIL's bicubic resize of the shorter side, then an integer centre crop. */
    BICUBIC
  }

  private final int size;
  private final boolean train;
  private final Resample resample;
  private final double minScale;
  private final double maxScale;

  private ImagePreprocessor(int size, boolean train, Resample resample, double minScale, double maxScale) {
    this.size = size;
    this.train = train;
    this.resample = resample;
    this.minScale = minScale;
    this.maxScale = maxScale;
  }

  /**
   * The evaluation transform: resize the shorter side to {@code size}, centre crop {@code size x size}.
   *
   * @throws IllegalArgumentException if {@code size} is not in {@code [1, 4096]}
   */
  public static ImagePreprocessor eval(int size) {
    return eval(size, Resample.AREA);
  }

  /**
   * The evaluation transform with the given resampling: {@link Resample#BICUBIC} is OpenAI's {@code preprocess}
   * (see the class comment), {@link Resample#AREA} the same as {@link #eval(int)}.
   *
   * @throws IllegalArgumentException if {@code size} is not in {@code [1, 4096]}
   */
  public static ImagePreprocessor eval(int size, Resample resample) {
    checkSize(size);
    return new ImagePreprocessor(size, false, java.util.Objects.requireNonNull(resample, "resample"), 1.0, 1.0);
  }

  /**
   * The training transform: a random resized crop of area fraction in {@code [minScale, maxScale]} and aspect
   * ratio in {@code [3/4, 4/3]}, resampled to {@code size x size} (open_clip uses {@code (0.9, 1.0)}).
   *
   * @throws IllegalArgumentException if {@code size} is not in {@code [1, 4096]} or the scales are not
   *     {@code 0 < minScale <= maxScale <= 1}
   */
  public static ImagePreprocessor train(int size, double minScale, double maxScale) {
    checkSize(size);
    if (!(minScale > 0 && minScale <= maxScale && maxScale <= 1)) {
      throw new IllegalArgumentException("Cannot make a random resized crop with scale (" + minScale + ", " + maxScale
          + "): need 0 < min <= max <= 1");
    }
    return new ImagePreprocessor(size, true, Resample.AREA, minScale, maxScale);
  }

  private static void checkSize(int size) {
    if (size < 1 || size > MAX_SIZE) {
      throw new IllegalArgumentException("Cannot preprocess images to " + size + " pixels: the size must be between 1 and "
          + MAX_SIZE);
    }
  }

  /** The output side {@code S}. */
  public int size() {
    return size;
  }

  /** Whether this is the random training transform (otherwise the deterministic evaluation one). */
  public boolean isTrain() {
    return train;
  }

  /** How this transform resamples (always {@link Resample#AREA} for the training transform). */
  public Resample resample() {
    return resample;
  }

  /** The smallest area fraction of a training crop (1 for the evaluation transform). */
  public double minScale() {
    return minScale;
  }

  /** The largest area fraction of a training crop (1 for the evaluation transform). */
  public double maxScale() {
    return maxScale;
  }

  /**
   * A source window, in source pixels, that is resampled to the output square.
   *
   * @param left x of the window's left edge
   * @param top y of the window's top edge
   * @param width the window's width
   * @param height the window's height
   */
  public record Crop(double left, double top, double width, double height) {}

  /**
   * The window this transform takes from a {@code width x height} image: for evaluation the centred square of
   * side {@code min(width, height)} (fractional offsets kept); for training torchvision's
   * {@code RandomResizedCrop.get_params}, drawing from {@code random} (integer offsets and sizes).
   *
   * @throws IllegalArgumentException if a side is not positive
   */
  public Crop crop(int width, int height, Random random) {
    if (width < 1 || height < 1) {
      throw new IllegalArgumentException("Cannot crop a " + width + " x " + height + " image: both sides must be positive");
    }
    if (!train) {
      int m = Math.min(width, height);
      return new Crop((width - m) / 2.0, (height - m) / 2.0, m, m);
    }
    Objects.requireNonNull(random, "random");
    double area = (double) width * height;
    double logMin = Math.log(MIN_RATIO);
    double logMax = Math.log(MAX_RATIO);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      double target = area * (minScale + (maxScale - minScale) * random.nextDouble());
      double ratio = Math.exp(logMin + (logMax - logMin) * random.nextDouble());
      long w = Math.round(Math.sqrt(target * ratio));
      long h = Math.round(Math.sqrt(target / ratio));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        int top = random.nextInt(height - (int) h + 1);
        int left = random.nextInt(width - (int) w + 1);
        return new Crop(left, top, w, h);
      }
    }
    // torchvision's fallback: a centre crop, its aspect ratio clamped to the allowed range
    double inRatio = (double) width / height;
    long w;
    long h;
    if (inRatio < MIN_RATIO) {
      w = width;
      h = Math.round(w / MIN_RATIO);
    } else if (inRatio > MAX_RATIO) {
      h = height;
      w = Math.round(h * MAX_RATIO);
    } else {
      w = width;
      h = height;
    }
    return new Crop((width - w) / 2, (height - h) / 2, w, h);
  }

  /**
   * Decodes {@code encoded} (JPEG, or any format ImageIO reads) and transforms it.
   *
   * @param random drawn from by the training transform only; may be null for evaluation
   * @return {@code 3 * S * S} floats, channel-major (R plane, G plane, B plane), normalised
   * @throws IllegalArgumentException if the bytes are empty or do not decode
   */
  public float[] apply(byte[] encoded, Random random) {
    return apply(decode(encoded), random);
  }

  /**
   * Transforms a decoded image (its alpha, if any, is dropped, as {@code convert("RGB")} does).
   *
   * @param random drawn from by the training transform only; may be null for evaluation
   * @return {@code 3 * S * S} floats, channel-major (R plane, G plane, B plane), normalised
   */
  public float[] apply(BufferedImage image, Random random) {
    Source src = Source.of(image);
    if (!train && resample == Resample.BICUBIC) {
      return resample(src, bicubic(src.width, src.height, false), bicubic(src.width, src.height, true), true);
    }
    Crop c = crop(src.width, src.height, random);
    return resample(src, Coeffs.of(src.width, c.left(), c.width(), size),
        Coeffs.of(src.height, c.top(), c.height(), size), false);
  }

  /**
   * One axis of torchvision's {@code Resize(S)} then {@code CenterCrop(S)} on a PIL image: the shorter side
   * becomes {@code S}, the longer {@code int(S * long / short)}; the crop starts at
   * {@code int(round((resized - S) / 2.0))} (Python rounds halves to even).
   */
  private Coeffs bicubic(int width, int height, boolean vertical) {
    int shorter = Math.min(width, height);
    int longer = Math.max(width, height);
    int resizedLonger = (int) (size * (double) longer / shorter);
    int resizedW = width <= height ? size : resizedLonger;
    int resizedH = width <= height ? resizedLonger : size;
    int src = vertical ? height : width;
    int resized = vertical ? resizedH : resizedW;
    int offset = (int) Math.rint((resized - size) / 2.0);
    return Coeffs.of(ResampleWeights.bicubic(src, resized, offset, size));
  }

  /** Decodes an encoded image without ImageIO's disk cache. */
  static BufferedImage decode(byte[] encoded) {
    if (encoded == null || encoded.length == 0) {
      throw new IllegalArgumentException("Cannot decode image: it has no bytes");
    }
    BufferedImage image;
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded))) {
      Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
      if (!readers.hasNext()) {
        throw new IllegalArgumentException("Cannot decode image: no decoder recognises its " + encoded.length
            + " bytes (a dataset stores JPEG)");
      }
      ImageReader reader = readers.next();
      try {
        reader.setInput(in, true, true);
        image = reader.read(0);
      } finally {
        reader.dispose();
      }
    } catch (IOException | RuntimeException e) {
      if (e instanceof IllegalArgumentException && e.getMessage() != null && e.getMessage().startsWith("Cannot decode")) {
        throw (IllegalArgumentException) e;
      }
      throw new IllegalArgumentException("Cannot decode image of " + encoded.length + " bytes: " + e, e);
    }
    if (image == null || image.getWidth() < 1 || image.getHeight() < 1) {
      throw new IllegalArgumentException("Cannot decode image of " + encoded.length + " bytes: the decoder returned no pixels");
    }
    return image;
  }

  /**
   * Resamples {@code src} to {@code S x S} with separable weights, horizontal pass first, and normalises it,
   * channel-major. With {@code eightBit}, each pass's result is rounded to an integer in {@code [0, 255]}, as
   * PIL's resampling of 8-bit images does (half up).
   */
  private float[] resample(Source src, Coeffs cx, Coeffs cy, boolean eightBit) {
    int s = size;
    int ymin = Integer.MAX_VALUE;
    int ymax = 0;
    for (int y = 0; y < s; y++) {
      ymin = Math.min(ymin, cy.first[y]);
      ymax = Math.max(ymax, cy.first[y] + cy.count[y]);
    }
    int rowFloats = s * 3;
    // horizontal pass: the source rows the vertical pass needs, each resampled to S interleaved RGB floats
    float[] tmp = new float[(ymax - ymin) * rowFloats];
    byte[] data = src.data;
    int r0 = src.red;
    int g0 = src.green;
    int b0 = src.blue;
    for (int row = ymin; row < ymax; row++) {
      int srcRow = src.offset + row * src.stride;
      int o = (row - ymin) * rowFloats;
      for (int x = 0; x < s; x++, o += 3) {
        int p = srcRow + cx.first[x] * 3;
        int wi = x * cx.taps;
        float r = 0;
        float g = 0;
        float b = 0;
        for (int t = 0, n = cx.count[x]; t < n; t++, p += 3) {
          float w = cx.weights[wi + t];
          r += w * (data[p + r0] & 0xff);
          g += w * (data[p + g0] & 0xff);
          b += w * (data[p + b0] & 0xff);
        }
        if (eightBit) {
          r = round8(r);
          g = round8(g);
          b = round8(b);
        }
        tmp[o] = r;
        tmp[o + 1] = g;
        tmp[o + 2] = b;
      }
    }
    // vertical pass into the channel planes, clamped and normalised
    float[] out = new float[3 * s * s];
    float[] acc = new float[rowFloats];
    int plane = s * s;
    for (int y = 0; y < s; y++) {
      java.util.Arrays.fill(acc, 0f);
      int base = (cy.first[y] - ymin) * rowFloats;
      int wi = y * cy.taps;
      for (int k = 0, n = cy.count[y]; k < n; k++, base += rowFloats) {
        float w = cy.weights[wi + k];
        for (int i = 0; i < rowFloats; i++) {
          acc[i] += w * tmp[base + i];
        }
      }
      if (eightBit) {
        for (int i = 0; i < rowFloats; i++) {
          acc[i] = round8(acc[i]);
        }
      }
      int o = y * s;
      for (int x = 0, i = 0; x < s; x++, i += 3) {
        out[o + x] = clamp(acc[i]) * SCALE[0] + BIAS[0];
        out[plane + o + x] = clamp(acc[i + 1]) * SCALE[1] + BIAS[1];
        out[2 * plane + o + x] = clamp(acc[i + 2]) * SCALE[2] + BIAS[2];
      }
    }
    return out;
  }

  /** The 8-bit value PIL stores for a resampled sum: rounded half up, clamped to {@code [0, 255]}. */
  private static float round8(float v) {
    return clamp((float) Math.floor(v + 0.5f));
  }

  private static float clamp(float v) {
    return v < 0f ? 0f : Math.min(v, 255f);
  }

  /**
   * 8-bit interleaved 3-channel pixels: the decoder's own buffer where it is plain sRGB, grey samples
   * replicated, else the colour model's conversion to sRGB.
   */
  private static final class Source {
    final byte[] data;
    final int offset;
    final int stride;
    final int width;
    final int height;
    final int red;
    final int green;
    final int blue;

    private Source(byte[] data, int offset, int stride, int width, int height, int red, int green, int blue) {
      this.data = data;
      this.offset = offset;
      this.stride = stride;
      this.width = width;
      this.height = height;
      this.red = red;
      this.green = green;
      this.blue = blue;
    }

    static Source of(BufferedImage image) {
      int w = image.getWidth();
      int h = image.getHeight();
      Raster raster = image.getRaster();
      ColorModel cm = image.getColorModel();
      if (raster.getDataBuffer() instanceof DataBufferByte db && db.getNumBanks() == 1
          && raster.getSampleModel() instanceof PixelInterleavedSampleModel sm
          && sm.getNumBands() == 3 && sm.getPixelStride() == 3
          && cm instanceof ComponentColorModel && !cm.hasAlpha() && cm.getColorSpace().isCS_sRGB()
          && cm.getComponentSize(0) == 8 && cm.getComponentSize(1) == 8 && cm.getComponentSize(2) == 8
          && raster.getSampleModelTranslateX() == 0 && raster.getSampleModelTranslateY() == 0) {
        int[] bands = sm.getBandOffsets();
        return new Source(db.getData(), db.getOffset(), sm.getScanlineStride(), w, h, bands[0], bands[1], bands[2]);
      }
      if (cm instanceof ComponentColorModel && raster.getNumBands() == 1 && cm.getComponentSize(0) == 8) {
        // grey as stored (what a grey JPEG holds), replicated: not through Java's linear grey colour space
        int[] grey = raster.getPixels(0, 0, w, h, (int[]) null);
        byte[] rgb = new byte[Math.multiplyExact(grey.length, 3)];
        for (int i = 0, o = 0; i < grey.length; i++, o += 3) {
          byte v = (byte) grey[i];
          rgb[o] = v;
          rgb[o + 1] = v;
          rgb[o + 2] = v;
        }
        return new Source(rgb, 0, w * 3, w, h, 0, 1, 2);
      }
      int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
      byte[] rgb = new byte[Math.multiplyExact(argb.length, 3)];
      for (int i = 0, o = 0; i < argb.length; i++, o += 3) {
        int v = argb[i];
        rgb[o] = (byte) (v >> 16);
        rgb[o + 1] = (byte) (v >> 8);
        rgb[o + 2] = (byte) v;
      }
      return new Source(rgb, 0, w * 3, w, h, 0, 1, 2);
    }
  }

  /** Per output index along one axis: the first source index, the number of taps and their weights. */
  private static final class Coeffs {
    final int[] first;
    final int[] count;
    final float[] weights;
    final int taps;

    private Coeffs(int[] first, int[] count, float[] weights, int taps) {
      this.first = first;
      this.count = count;
      this.weights = weights;
      this.taps = taps;
    }

    /** {@link ResampleWeights#of} as floats. */
    static Coeffs of(int srcSize, double start, double length, int out) {
      return of(ResampleWeights.of(srcSize, start, length, out));
    }

    /** {@code r} as floats. */
    static Coeffs of(ResampleWeights r) {
      float[] weights = new float[r.weights().length];
      for (int i = 0; i < weights.length; i++) {
        weights[i] = (float) r.weights()[i];
      }
      return new Coeffs(r.first(), r.count(), weights, r.taps());
    }
  }
}
