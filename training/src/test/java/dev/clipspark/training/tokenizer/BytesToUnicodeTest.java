package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import org.junit.jupiter.api.Test;

class BytesToUnicodeTest {

  @Test
  void mapsEveryByteToADistinctPrintableNonSpaceCharacter() {
    var seen = new HashSet<Character>();
    for (int b = 0; b < 256; b++) {
      char c = BytesToUnicode.charOf(b);
      seen.add(c);
      assertThat(Character.isISOControl(c)).as("byte %d", b).isFalse();
      assertThat(Character.isWhitespace(c) || Character.isSpaceChar(c)).as("byte %d", b).isFalse();
      assertThat(Character.isDefined(c)).isTrue();
      assertThat(BytesToUnicode.byteOf(c)).isEqualTo(b);
    }
    assertThat(seen).hasSize(256);
  }

  @Test
  void knownEntries() {
    assertThat(BytesToUnicode.charOf('!')).isEqualTo('!');
    assertThat(BytesToUnicode.charOf('a')).isEqualTo('a');
    assertThat(BytesToUnicode.charOf(0)).isEqualTo('\u0100');
    assertThat(BytesToUnicode.charOf(' ')).isEqualTo('\u0120');
    // 0..32 take U+0100..U+0120, then 127..160 continue at U+0121, and the soft hyphen 173 comes last.
    assertThat(BytesToUnicode.charOf(127)).isEqualTo('\u0121');
    assertThat(BytesToUnicode.charOf(160)).isEqualTo('\u0142');
    assertThat(BytesToUnicode.charOf(173)).isEqualTo('\u0143');
    assertThat(BytesToUnicode.charOf(0xE9)).isEqualTo('é');
    assertThat(BytesToUnicode.charOf((byte) -1)).isEqualTo('ÿ');
    assertThat(BytesToUnicode.byteOf('\u0144')).isEqualTo(-1);
    assertThat(BytesToUnicode.byteOf(' ')).isEqualTo(-1);
  }

  @Test
  void tableOrderListsSelfMappedBytesFirst() {
    assertThat(BytesToUnicode.byteAt(0)).isEqualTo('!');
    assertThat(BytesToUnicode.byteAt(93)).isEqualTo('~');
    assertThat(BytesToUnicode.byteAt(94)).isEqualTo(0xA1);
    assertThat(BytesToUnicode.byteAt(105)).isEqualTo(0xAC);
    assertThat(BytesToUnicode.byteAt(106)).isEqualTo(0xAE);
    assertThat(BytesToUnicode.byteAt(187)).isEqualTo(0xFF);
    assertThat(BytesToUnicode.byteAt(188)).isEqualTo(0);
    assertThat(BytesToUnicode.byteAt(255)).isEqualTo(173);
    var all = new HashSet<Integer>();
    for (int i = 0; i < 256; i++) {
      all.add(BytesToUnicode.byteAt(i));
    }
    assertThat(all).hasSize(256);
  }

  @Test
  void encodesUtf8Bytes() {
    assertThat(BytesToUnicode.encode("a é".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .isEqualTo("a\u0120Ã©");
  }
}
