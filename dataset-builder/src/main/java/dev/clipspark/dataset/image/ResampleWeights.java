package dev.clipspark.dataset.image;

/**
 * Separable resampling weights for one image axis, shared by the dataset builder's resizer (which turns them
 * into fixed-point integers) and the training preprocessor (floats). Output pixel {@code i} reads source
 * pixels {@code first[i]} to {@code first[i] + count[i] - 1} with weights {@code weights[i * taps + k]}.
 *
 * @param first first source pixel of each output pixel
 * @param count source pixels each output pixel reads
 * @param weights {@code taps} slots per output pixel, the first {@code count[i]} used, summing to 1
 * @param taps slots per output pixel
 */
public record ResampleWeights(int[] first, int[] count, double[] weights, int taps) {

  /**
   * Weights mapping the source window {@code [start, start + length)} of an axis of {@code srcSize} pixels
   * onto {@code outSize} output pixels: area averaging when shrinking, Catmull-Rom when enlarging; each
   * output pixel's weights sum to 1.
   */
  public static ResampleWeights of(int srcSize, double start, double length, int outSize) {
    double scale = length / outSize;
    boolean area = scale >= 1.0;
    int taps = area ? (int) Math.ceil(scale) + 2 : 4;
    int[] first = new int[outSize];
    int[] count = new int[outSize];
    double[] weights = new double[outSize * taps];
    double[] w = new double[taps];
    for (int i = 0; i < outSize; i++) {
      int lo;
      int hi;
      if (area) {
        double a = start + i * scale;
        double b = a + scale;
        lo = Math.max(0, (int) Math.floor(a));
        hi = Math.min(srcSize, (int) Math.ceil(b));
        for (int j = lo; j < hi; j++) {
          w[j - lo] = Math.max(0.0, Math.min(b, j + 1) - Math.max(a, j));
        }
      } else {
        double centre = start + (i + 0.5) * scale - 0.5;
        int j0 = (int) Math.floor(centre) - 1;
        lo = Math.max(0, j0);
        hi = Math.min(srcSize, j0 + 4);
        for (int j = lo; j < hi; j++) {
          w[j - lo] = cubic(centre - j);
        }
      }
      if (hi <= lo) { // a window entirely outside the image: take the nearest edge pixel
        lo = Math.min(Math.max(0, lo), srcSize - 1);
        hi = lo + 1;
        w[0] = 1.0;
      }
      // drop zero-weight taps at either end (float round-off at exact pixel boundaries)
      while (hi - lo > 1 && Math.abs(w[0]) <= 1e-12) {
        System.arraycopy(w, 1, w, 0, hi - lo - 1);
        lo++;
      }
      while (hi - lo > 1 && Math.abs(w[hi - lo - 1]) <= 1e-12) {
        hi--;
      }
      double sum = 0;
      for (int j = 0; j < hi - lo; j++) {
        sum += w[j];
      }
      first[i] = lo;
      count[i] = hi - lo;
      for (int j = 0; j < hi - lo; j++) {
        weights[i * taps + j] = w[j] / sum;
      }
    }
    return new ResampleWeights(first, count, weights, taps);
  }

  /**
   * PIL's bicubic weights ({@code Image.resize(..., BICUBIC)}, Pillow's {@code precompute_coeffs}) for output
   * pixels {@code from} to {@code from + count - 1} of resizing a whole axis of {@code srcSize} pixels to
   * {@code outSize}: the cubic convolution kernel with {@code a = -0.5}, its support of 2 pixels stretched by
   * the reduction factor when shrinking (so shrinking averages, antialiased, and enlarging interpolates),
   * centred at {@code (i + 0.5) * srcSize / outSize}, taps outside the image dropped and the rest renormalised
   * to sum to 1. Taking a sub-range gives a resize followed by an integer crop, computed without the pixels
   * cropped away.
   *
   * @throws IllegalArgumentException if a size is not positive or the range is not inside {@code [0, outSize)}
   */
  public static ResampleWeights bicubic(int srcSize, int outSize, int from, int count) {
    if (srcSize < 1 || outSize < 1 || from < 0 || count < 1 || from + count > outSize) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "Cannot resample %d pixels to %d and take %d from %d: sizes must be positive and the range inside the"
              + " output", srcSize, outSize, count, from));
    }
    double scale = (double) srcSize / outSize;
    double filterScale = Math.max(scale, 1.0);
    double support = 2.0 * filterScale;
    int taps = (int) Math.ceil(support) * 2 + 1;
    int[] first = new int[count];
    int[] number = new int[count];
    double[] weights = new double[count * taps];
    for (int i = 0; i < count; i++) {
      double centre = (from + i + 0.5) * scale;
      int lo = Math.max(0, (int) (centre - support + 0.5));
      int hi = Math.min(srcSize, (int) (centre + support + 0.5));
      double sum = 0;
      for (int j = lo; j < hi; j++) {
        double w = cubic((j - centre + 0.5) / filterScale);
        weights[i * taps + j - lo] = w;
        sum += w;
      }
      if (sum != 0) {
        for (int j = lo; j < hi; j++) {
          weights[i * taps + j - lo] /= sum;
        }
      }
      first[i] = lo;
      number[i] = hi - lo;
    }
    return new ResampleWeights(first, number, weights, taps);
  }

  /** The Catmull-Rom cubic convolution kernel ({@code a = -0.5}). */
  private static double cubic(double x) {
    double a = -0.5;
    x = Math.abs(x);
    if (x < 1) {
      return ((a + 2) * x - (a + 3)) * x * x + 1;
    }
    if (x < 2) {
      return (((x - 5) * x + 8) * x - 4) * a;
    }
    return 0;
  }
}
