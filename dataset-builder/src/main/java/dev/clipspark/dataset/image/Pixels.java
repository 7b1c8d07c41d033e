package dev.clipspark.dataset.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBufferByte;
import java.awt.image.DirectColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;

/**
 * 8-bit, 3-channel, pixel-interleaved pixels: the working format between decoding and re-encoding. The
 * channel order is BGR unless {@link #rgb} says RGB (resampling does not care; the encoder is given BGR).
 * The array may be a decoder's own buffer, used without copying, hence the offset and stride.
 */
final class Pixels {

  final byte[] data;
  final int offset;
  final int stride;
  final int width;
  final int height;
  final boolean rgb;

  Pixels(byte[] data, int offset, int stride, int width, int height, boolean rgb) {
    this.data = data;
    this.offset = offset;
    this.stride = stride;
    this.width = width;
    this.height = height;
    this.rgb = rgb;
  }

  /**
   * The pixels of a decoded image as 8-bit colour: grey is replicated, palettes are looked up, 16-bit
   * samples are rounded to 8 bits, alpha is composited onto white, and any other colour space goes through
   * its colour model's conversion to sRGB. A byte-interleaved 3-channel image (what the JPEG decoder
   * returns) is used in place.
   */
  static Pixels of(BufferedImage image) {
    Pixels direct = direct(image.getRaster(), image.getColorModel());
    if (direct != null) {
      return direct;
    }
    int w = image.getWidth();
    int h = image.getHeight();
    byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
    ColorModel cm = image.getColorModel();
    Raster raster = image.getRaster();
    if (cm instanceof IndexColorModel icm) {
      indexed(raster, icm, out);
    } else if ((cm instanceof ComponentColorModel || cm instanceof DirectColorModel) && plain(cm)) {
      components(raster, cm, out);
    } else {
      viaColorModel(image, out);
    }
    return new Pixels(out, 0, w * 3, w, h, false);
  }

  /** CMYK samples (4 bands, 8 bits) as BGR; {@code inverted} for Adobe files, which store 255 minus the ink. */
  static Pixels ofCmyk(Raster raster, boolean ycck, boolean inverted) {
    int w = raster.getWidth();
    int h = raster.getHeight();
    byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
    int[] row = new int[w * 4];
    int o = 0;
    for (int y = 0; y < h; y++) {
      raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
      for (int x = 0, i = 0; x < w; x++, i += 4) {
        int c = row[i];
        int m = row[i + 1];
        int ye = row[i + 2];
        int k = row[i + 3];
        if (ycck) { // YCbCr of the stored (inverted) C, M, Y
          int luma = c;
          int cb = m - 128;
          int cr = ye - 128;
          c = clamp((int) Math.round(luma + 1.402 * cr));
          m = clamp((int) Math.round(luma - 0.344136 * cb - 0.714136 * cr));
          ye = clamp((int) Math.round(luma + 1.772 * cb));
        }
        if (!inverted) {
          c = 255 - c;
          m = 255 - m;
          ye = 255 - ye;
          k = 255 - k;
        }
        // now c, m, ye, k are 255 minus the ink: colour = (1 - ink) * (1 - black)
        out[o++] = (byte) div255(ye * k);
        out[o++] = (byte) div255(m * k);
        out[o++] = (byte) div255(c * k);
      }
    }
    return new Pixels(out, 0, w * 3, w, h, false);
  }

  private static Pixels direct(Raster raster, ColorModel cm) {
    if (!(raster.getSampleModel() instanceof PixelInterleavedSampleModel sm)
        || !(raster.getDataBuffer() instanceof DataBufferByte db)
        || db.getNumBanks() != 1
        || sm.getNumBands() != 3
        || sm.getPixelStride() != 3
        || cm.hasAlpha()
        || !cm.getColorSpace().isCS_sRGB()
        || cm.getComponentSize(0) != 8) {
      return null;
    }
    int[] bands = sm.getBandOffsets();
    boolean bgr = bands[0] == 2 && bands[1] == 1 && bands[2] == 0;
    boolean rgb = bands[0] == 0 && bands[1] == 1 && bands[2] == 2;
    if (!bgr && !rgb) {
      return null;
    }
    int offset = db.getOffset()
        + sm.getOffset(raster.getMinX() - raster.getSampleModelTranslateX(),
            raster.getMinY() - raster.getSampleModelTranslateY())
        - bands[0]; // getOffset points at band 0's sample; the pixel starts at offset 0 in both layouts
    return new Pixels(db.getData(), offset, sm.getScanlineStride(), raster.getWidth(), raster.getHeight(), rgb);
  }

  /** sRGB or grey colour space with one or three integer colour components of at most 16 bits. */
  private static boolean plain(ColorModel cm) {
    for (int size : cm.getComponentSize()) {
      if (size < 1 || size > 16) {
        return false;
      }
    }
    ColorSpace cs = cm.getColorSpace();
    int n = cm.getNumColorComponents();
    return (n == 3 && cs.isCS_sRGB()) || (n == 1 && cs.getType() == ColorSpace.TYPE_GRAY);
  }

  private static void components(Raster raster, ColorModel cm, byte[] out) {
    int w = raster.getWidth();
    int h = raster.getHeight();
    int colours = cm.getNumColorComponents();
    int bands = raster.getNumBands();
    boolean alpha = cm.hasAlpha();
    boolean premultiplied = cm.isAlphaPremultiplied();
    int[] max = new int[bands];
    for (int b = 0; b < bands; b++) {
      max[b] = (1 << cm.getComponentSize(b)) - 1;
    }
    int[] row = new int[w * bands];
    int[] px = new int[3];
    int o = 0;
    for (int y = 0; y < h; y++) {
      raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
      for (int x = 0, i = 0; x < w; x++, i += bands) {
        for (int c = 0; c < 3; c++) {
          int b = colours == 1 ? 0 : c;
          px[c] = to8(row[i + b], max[b]);
        }
        if (alpha) {
          int a = to8(row[i + colours], max[colours]);
          for (int c = 0; c < 3; c++) {
            px[c] = premultiplied ? Math.min(255, px[c] + 255 - a) : div255(px[c] * a + 255 * (255 - a));
          }
        }
        out[o++] = (byte) px[2];
        out[o++] = (byte) px[1];
        out[o++] = (byte) px[0];
      }
    }
  }

  private static void indexed(Raster raster, IndexColorModel icm, byte[] out) {
    int size = icm.getMapSize();
    int[] argb = new int[size];
    icm.getRGBs(argb);
    byte[] lut = new byte[size * 3];
    for (int i = 0; i < size; i++) {
      int p = argb[i];
      int a = p >>> 24;
      lut[i * 3] = (byte) onWhite(p & 0xff, a);
      lut[i * 3 + 1] = (byte) onWhite((p >> 8) & 0xff, a);
      lut[i * 3 + 2] = (byte) onWhite((p >> 16) & 0xff, a);
    }
    int w = raster.getWidth();
    int h = raster.getHeight();
    int[] row = new int[w];
    int o = 0;
    for (int y = 0; y < h; y++) {
      raster.getSamples(raster.getMinX(), raster.getMinY() + y, w, 1, 0, row);
      for (int x = 0; x < w; x++) {
        int i = Math.min(row[x], size - 1) * 3;
        out[o++] = lut[i];
        out[o++] = lut[i + 1];
        out[o++] = lut[i + 2];
      }
    }
  }

  private static void viaColorModel(BufferedImage image, byte[] out) {
    int w = image.getWidth();
    int[] row = new int[w];
    int o = 0;
    for (int y = 0; y < image.getHeight(); y++) {
      image.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0; x < w; x++) {
        int p = row[x];
        int a = p >>> 24;
        out[o++] = (byte) onWhite(p & 0xff, a);
        out[o++] = (byte) onWhite((p >> 8) & 0xff, a);
        out[o++] = (byte) onWhite((p >> 16) & 0xff, a);
      }
    }
  }

  private static int onWhite(int c, int a) {
    return div255(c * a + 255 * (255 - a));
  }

  private static int to8(int v, int max) {
    return max == 255 ? v : (v * 255 + max / 2) / max;
  }

  private static int div255(int v) {
    return (v + 127) / 255;
  }

  private static int clamp(int v) {
    return v < 0 ? 0 : Math.min(v, 255);
  }
}
