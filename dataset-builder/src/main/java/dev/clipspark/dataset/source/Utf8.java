package dev.clipspark.dataset.source;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Strict UTF-8 decoding of captions and table fields. */
final class Utf8 {

  private Utf8() {}

  /** The text of {@code bytes}, or null when they are not valid UTF-8 (no replacement characters). */
  static String decodeStrict(byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  /**
   * A caption file's text: strictly decoded, without a leading byte order mark and without trailing line
   * breaks; null when the bytes are not valid UTF-8.
   */
  static String caption(byte[] bytes) {
    String s = decodeStrict(bytes);
    if (s == null) {
      return null;
    }
    int start = !s.isEmpty() && s.charAt(0) == '\uFEFF' ? 1 : 0;
    int end = s.length();
    while (end > start && (s.charAt(end - 1) == '\n' || s.charAt(end - 1) == '\r')) {
      end--;
    }
    return s.substring(start, end);
  }
}
