package dev.clipspark.dataset;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WordsTest {

  @Test
  void lowerCasesAndSplitsOnEverythingButWordCharacters() {
    assertThat(Words.tokenize("A Photo of NEW-York's  skyline, 2024!"))
        .containsExactly("a", "photo", "of", "new", "york's", "skyline", "2024");
  }

  @Test
  void apostrophesStayOnlyBetweenWordCharacters() {
    assertThat(Words.tokenize("don't 'quoted' rock'n'roll o\u2019clock ' x'"))
        .containsExactly("don't", "quoted", "rock'n'roll", "o'clock", "x");
  }

  @Test
  void underscoresHyphensAndSymbolsSeparate() {
    assertThat(Words.tokenize("hot_dog jack-o'-lantern C++ e-mail@home"))
        .containsExactly("hot", "dog", "jack", "o", "lantern", "c", "e", "mail", "home");
  }

  @Test
  void unicodeLettersMarksAndDigits() {
    // "café" with a combining acute accent stays one word; Cyrillic and Greek are lower-cased.
    assertThat(Words.tokenize("Cafe\u0301 МОСКВА Ελλάδα ½ x²"))
        .containsExactly("cafe\u0301", "москва", "ελλάδα", "½", "x²");
  }

  @Test
  void ideographsAreWordsOfTheirOwn() {
    assertThat(Words.tokenize("東京タワー at night 猫")).containsExactly("東", "京", "タワー", "at", "night", "猫");
  }

  @Test
  void supplementaryCharacters() {
    // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter outside the BMP; U+1F600 is an emoji (a separator).
    assertThat(Words.tokenize("\uD835\uDC00bc\uD83D\uDE00de")).containsExactly("\uD835\uDC00bc", "de");
  }

  @Test
  void normalizeJoinsWordsWithSingleSpaces() {
    assertThat(Words.normalize("  New_York -- City ")).isEqualTo("new york city");
    assertThat(Words.normalize("!!!")).isEmpty();
  }
}
