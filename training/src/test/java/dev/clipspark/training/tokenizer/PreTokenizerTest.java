package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PreTokenizerTest {

  @Test
  void contractionsAreTheirOwnPieces() {
    assertThat(PreTokenizer.split("it's we'll they've i'm you're he'd can't"))
        .containsExactly("it", "'s", "we", "'ll", "they", "'ve", "i", "'m", "you", "'re", "he", "'d", "can", "'t");
  }

  @Test
  void contractionsIgnoreCaseAndOtherApostrophesArePunctuation() {
    assertThat(PreTokenizer.split("IT'S")).containsExactly("IT", "'S");
    assertThat(PreTokenizer.split("'x 'ss")).containsExactly("'", "x", "'s", "s");
  }

  @Test
  void digitsAreSplitOnePerPiece() {
    assertThat(PreTokenizer.split("2021 v1.5")).containsExactly("2", "0", "2", "1", "v", "1", ".", "5");
    assertThat(PreTokenizer.split("½٣")).containsExactly("½", "٣");
  }

  @Test
  void punctuationRunsStayTogether() {
    assertThat(PreTokenizer.split("wow!!! ... --> (x)"))
        .containsExactly("wow", "!!!", "...", "-->", "(", "x", ")");
    assertThat(PreTokenizer.split("😀🎉 a+b")).containsExactly("😀🎉", "a", "+", "b");
  }

  @Test
  void unicodeLettersFormWords() {
    assertThat(PreTokenizer.split("café naïve straße мир 東京タワー"))
        .containsExactly("café", "naïve", "straße", "мир", "東京タワー");
    // a combining mark is not a letter: it ends the word and joins the next punctuation run
    assertThat(PreTokenizer.split("e\u0301x")).containsExactly("e", "\u0301", "x");
  }

  @Test
  void specialTokensAndWhiteSpace() {
    assertThat(PreTokenizer.split("<|startoftext|>a photo<|endoftext|>"))
        .containsExactly("<|startoftext|>", "a", "photo", "<|endoftext|>");
    assertThat(PreTokenizer.split(" \t a\u00a0b\u3000c ")).containsExactly("a", "b", "c");
    assertThat(PreTokenizer.split("")).isEmpty();
  }

  @Test
  void ypogegrammeniMatchesNothingAsInClip() {
    assertThat(PreTokenizer.split("»\u0345x")).containsExactly("»", "x");
  }
}
