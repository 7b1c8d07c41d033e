package dev.clipspark.training.tokenizer;

/**
 * The reversible byte-to-character table of GPT-2 and CLIP ({@code bytes_to_unicode}): every one of the 256
 * byte values gets one printable, non-space character, so that a byte string can be written as a string of
 * BPE symbols and merges can be stored in a text file.
 *
 * <p>The 188 bytes that are printable Latin-1 characters ({@code '!'..'~'}, {@code '¡'..'¬'},
 * {@code '®'..'ÿ'}) map to themselves; the other 68 (control characters, space, DEL, NBSP and the soft
 * hyphen) map, in increasing byte order, to {@code U+0100}, {@code U+0101}, ... The <em>table order</em>
 * lists the self-mapped bytes first, in increasing order, then the others: it is the order of the first 256
 * entries of CLIP's vocabulary.
 */
public final class BytesToUnicode {

  private static final char[] BYTE_TO_CHAR = new char[256];
  private static final int[] TABLE_ORDER = new int[256];
  private static final int[] CHAR_TO_BYTE = new int[512];

  static {
    int n = 0;
    boolean[] self = new boolean[256];
    for (int b = 0; b < 256; b++) {
      if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        self[b] = true;
        BYTE_TO_CHAR[b] = (char) b;
        TABLE_ORDER[n++] = b;
      }
    }
    int extra = 0;
    for (int b = 0; b < 256; b++) {
      if (!self[b]) {
        BYTE_TO_CHAR[b] = (char) (256 + extra++);
        TABLE_ORDER[n++] = b;
      }
    }
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    for (int b = 0; b < 256; b++) {
      CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
    }
  }

  private BytesToUnicode() {}

  /** The character that stands for byte {@code b} (0 to 255, or a signed Java byte). */
  public static char charOf(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /** The byte (0 to 255) that {@code c} stands for, or -1 if {@code c} is not in the table. */
  public static int byteOf(char c) {
    return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
  }

  /** The byte at position {@code i} (0 to 255) of the table order (see the class comment). */
  public static int byteAt(int i) {
    return TABLE_ORDER[i];
  }

  /** Every byte of {@code bytes} written as its character: a word in BPE symbols. */
  public static String encode(byte[] bytes) {
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
    }
    return new String(out);
  }
}
