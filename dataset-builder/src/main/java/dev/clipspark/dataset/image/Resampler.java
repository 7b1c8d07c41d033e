package dev.clipspark.dataset.image;

/**
 * Separable resampling of 3-channel 8-bit pixels, horizontal pass first, then vertical, in fixed point.
 *
 * <p>Downscaling averages areas: each output pixel is the mean of the source area it covers, partial pixels
 * weighted by their covered fraction (OpenCV's {@code INTER_AREA}, which img2dataset uses to downscale), so
 * no reduction factor aliases. Upscaling interpolates with the Catmull-Rom cubic ({@code a = -0.5}). The
 * source window may start and end at fractional positions, which makes cropping exact.
 *
 * <p>Not thread-safe: it keeps its scratch buffers between calls.
 */
final class Resampler {

  private static final int BITS = 22;
  private static final int ONE = 1 << BITS;
  private static final int HALF = 1 << (BITS - 1);

  private byte[] tmp = new byte[0];
  private int[] acc = new int[0];

  /** Per output index: the first source index, the number of taps, and the fixed-point weights. */
  record Coeffs(int[] first, int[] count, int[] weights, int taps) {}

  /**
   * Resamples the window {@code [x0, x0 + w) x [y0, y0 + h)} of {@code src} (in source pixels) to
   * {@code outW x outH} pixels written at {@code dst[dstOffset]} with row stride {@code dstStride}, in the
   * source's channel order.
   */
  void resize(Pixels src, double x0, double y0, double w, double h,
      byte[] dst, int dstOffset, int dstStride, int outW, int outH) {
    Coeffs cx = coeffs(src.width, x0, w, outW);
    Coeffs cy = coeffs(src.height, y0, h, outH);
    int ymin = Integer.MAX_VALUE;
    int ymax = 0;
    for (int y = 0; y < outH; y++) {
      ymin = Math.min(ymin, cy.first[y]);
      ymax = Math.max(ymax, cy.first[y] + cy.count[y]);
    }
    int rowBytes = outW * 3;
    int rows = ymax - ymin;
    if (tmp.length < rows * rowBytes) {
      tmp = new byte[rows * rowBytes];
    }
    if (acc.length < rowBytes) {
      acc = new int[rowBytes];
    }
    for (int r = 0; r < rows; r++) {
      horizontal(src.data, src.offset + (ymin + r) * src.stride, cx, tmp, r * rowBytes, outW);
    }
    for (int y = 0; y < outH; y++) {
      vertical(cy, y, ymin, rowBytes, dst, dstOffset + y * dstStride);
    }
  }

  private static void horizontal(byte[] src, int srcRow, Coeffs c, byte[] out, int outRow, int outW) {
    int[] first = c.first;
    int[] count = c.count;
    int[] weights = c.weights;
    int taps = c.taps;
    for (int x = 0, o = outRow; x < outW; x++, o += 3) {
      int s = srcRow + first[x] * 3;
      int wi = x * taps;
      int b0 = HALF;
      int b1 = HALF;
      int b2 = HALF;
      for (int t = 0, n = count[x]; t < n; t++, s += 3) {
        int wt = weights[wi + t];
        b0 += wt * (src[s] & 0xff);
        b1 += wt * (src[s + 1] & 0xff);
        b2 += wt * (src[s + 2] & 0xff);
      }
      out[o] = clip(b0);
      out[o + 1] = clip(b1);
      out[o + 2] = clip(b2);
    }
  }

  private void vertical(Coeffs c, int y, int ymin, int rowBytes, byte[] dst, int dstRow) {
    int[] a = acc;
    byte[] t = tmp;
    java.util.Arrays.fill(a, 0, rowBytes, HALF);
    int base = (c.first[y] - ymin) * rowBytes;
    int wi = y * c.taps;
    for (int k = 0, n = c.count[y]; k < n; k++, base += rowBytes) {
      int wt = c.weights[wi + k];
      for (int i = 0; i < rowBytes; i++) {
        a[i] += wt * (t[base + i] & 0xff);
      }
    }
    for (int i = 0; i < rowBytes; i++) {
      dst[dstRow + i] = clip(a[i]);
    }
  }

  private static byte clip(int fixed) {
    int v = fixed >> BITS;
    return (byte) (v < 0 ? 0 : Math.min(v, 255));
  }

  /** {@link ResampleWeights} in fixed point. */
  static Coeffs coeffs(int srcSize, double start, double length, int outSize) {
    ResampleWeights r = ResampleWeights.of(srcSize, start, length, outSize);
    int[] weights = new int[r.weights().length];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = (int) Math.round(r.weights()[i] * ONE);
    }
    return new Coeffs(r.first(), r.count(), weights, r.taps());
  }
}
