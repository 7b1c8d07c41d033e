package dev.clipspark.dataset.image;

import java.util.zip.CRC32;

/**
 * Byte-level knowledge of the supported formats: recognising them by their signatures, checking a PNG's chunk
 * structure and CRCs (the JDK's PNG decoder checks neither), and reading the few JPEG header facts the
 * decoder needs for CMYK files.
 */
final class Formats {

  static final String JPEG = "jpeg";
  static final String PNG = "png";
  static final String WEBP = "webp";
  static final String GIF = "gif";
  static final String BMP = "bmp";

  private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  private Formats() {}

  /** The format whose signature starts {@code b}, or null when none of the supported ones does. */
  static String sniff(byte[] b) {
    if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
      return JPEG;
    }
    if (startsWith(b, 0, PNG_SIGNATURE)) {
      return PNG;
    }
    if (b.length >= 12 && startsWith(b, 0, ascii("RIFF")) && startsWith(b, 8, ascii("WEBP"))) {
      return WEBP;
    }
    if (startsWith(b, 0, ascii("GIF87a")) || startsWith(b, 0, ascii("GIF89a"))) {
      return GIF;
    }
    if (b.length >= 14 && b[0] == 'B' && b[1] == 'M') {
      return BMP;
    }
    return null;
  }

  /** The first bytes of {@code b} in hex, for messages about unrecognised data. */
  static String head(byte[] b) {
    var sb = new StringBuilder();
    for (int i = 0; i < Math.min(8, b.length); i++) {
      sb.append(String.format("%02x", b[i] & 0xff));
    }
    return sb.toString();
  }

  /**
   * Walks a PNG's chunks from the signature to {@code IEND}. Returns null when the structure is sound, else
   * what is wrong: a chunk running past the end of the data (truncation), no {@code IEND}, or a CRC mismatch
   * in a critical chunk ({@code IHDR}, {@code PLTE}, {@code IDAT}, {@code IEND}); like libpng, bad CRCs in
   * ancillary chunks are ignored.
   */
  static String checkPng(byte[] b) {
    var crc = new CRC32();
    int pos = PNG_SIGNATURE.length;
    while (true) {
      if (pos + 8 > b.length) {
        return "the data ends at byte " + b.length + " before the IEND chunk";
      }
      long length = readInt(b, pos) & 0xffffffffL;
      int typeAt = pos + 4;
      String type = new String(b, typeAt, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
      if (length > Integer.MAX_VALUE || typeAt + 4 + length + 4 > b.length) {
        return "chunk " + type + " at byte " + pos + " declares " + length + " bytes, past the end of the data";
      }
      int dataEnd = typeAt + 4 + (int) length;
      boolean critical = (b[typeAt] & 0x20) == 0;
      if (critical) {
        crc.reset();
        crc.update(b, typeAt, 4 + (int) length);
        if ((int) crc.getValue() != readInt(b, dataEnd)) {
          return "CRC mismatch in chunk " + type + " at byte " + pos;
        }
      }
      if (type.equals("IEND")) {
        return null;
      }
      pos = dataEnd + 4;
    }
  }

  /**
   * Facts from a JPEG's markers up to the first start-of-frame: the number of colour components and the
   * Adobe APP14 colour transform (-1 when there is no Adobe marker; 0 for CMYK or RGB, 1 for YCbCr, 2 for
   * YCCK). Components is 0 when no frame header was found.
   */
  record JpegHeader(int components, int adobeTransform) {}

  static JpegHeader scanJpeg(byte[] b) {
    int adobe = -1;
    int pos = 2;
    while (pos + 4 <= b.length) {
      if ((b[pos] & 0xff) != 0xff) {
        return new JpegHeader(0, adobe);
      }
      int marker = b[pos + 1] & 0xff;
      if (marker == 0xff) { // fill byte
        pos++;
        continue;
      }
      int length = ((b[pos + 2] & 0xff) << 8) | (b[pos + 3] & 0xff);
      boolean sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
      if (sof) {
        int components = pos + 9 < b.length ? b[pos + 9] & 0xff : 0;
        return new JpegHeader(components, adobe);
      }
      if (marker == 0xee && length >= 14 && pos + 4 + 12 <= b.length
          && startsWith(b, pos + 4, ascii("Adobe"))) {
        adobe = b[pos + 4 + 11] & 0xff;
      }
      if (marker == 0xda || marker == 0xd9) {
        return new JpegHeader(0, adobe);
      }
      pos += 2 + length;
    }
    return new JpegHeader(0, adobe);
  }

  private static int readInt(byte[] b, int at) {
    return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
  }

  private static boolean startsWith(byte[] b, int at, byte[] prefix) {
    if (b.length < at + prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (b[at + i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private static byte[] ascii(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  }
}
