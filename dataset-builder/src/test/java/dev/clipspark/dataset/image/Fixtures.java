package dev.clipspark.dataset.image;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;

/** Test images made on the fly. */
final class Fixtures {

  private Fixtures() {}

  /** An image filled by {@code rgb(x, y)}. */
  static BufferedImage image(int w, int h, int type, PixelFn rgb) {
    var img = new BufferedImage(w, h, type);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, rgb.at(x, y));
      }
    }
    return img;
  }

  /** ARGB (or RGB) of a pixel. */
  interface PixelFn {
    int at(int x, int y);
  }

  static byte[] encode(BufferedImage img, String format) {
    var out = new ByteArrayOutputStream();
    try {
      if (!ImageIO.write(img, format, out)) {
        throw new IllegalStateException("no " + format + " writer for image type " + img.getType());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  static BufferedImage decode(byte[] bytes) {
    try {
      BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
      if (img == null) {
        throw new IllegalStateException("not decodable");
      }
      return img;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static int red(int rgb) {
    return (rgb >> 16) & 0xff;
  }

  static int green(int rgb) {
    return (rgb >> 8) & 0xff;
  }

  static int blue(int rgb) {
    return rgb & 0xff;
  }

  /** Byte offset of the first chunk of the given type in a PNG. */
  static int chunk(byte[] png, String type) {
    int pos = 8;
    while (pos + 8 <= png.length) {
      int len = ByteBuffer.wrap(png, pos, 4).getInt();
      String t = new String(png, pos + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
      if (t.equals(type)) {
        return pos;
      }
      pos += 12 + len;
    }
    throw new IllegalStateException("no " + type + " chunk");
  }

  /** Recomputes the CRC of the chunk starting at {@code pos}. */
  static void fixCrc(byte[] png, int pos) {
    int len = ByteBuffer.wrap(png, pos, 4).getInt();
    var crc = new CRC32();
    crc.update(png, pos + 4, 4 + len);
    ByteBuffer.wrap(png, pos + 8 + len, 4).putInt((int) crc.getValue());
  }

  /** A PNG consisting of the signature and an IHDR chunk declaring the given size, nothing else. */
  static byte[] pngHeaderOnly(int width, int height) {
    var b = ByteBuffer.allocate(8 + 25);
    b.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
    b.putInt(13);
    int typeAt = b.position();
    b.put("IHDR".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    b.putInt(width).putInt(height).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
    var crc = new CRC32();
    crc.update(b.array(), typeAt, 17);
    b.putInt((int) crc.getValue());
    return b.array();
  }
}
