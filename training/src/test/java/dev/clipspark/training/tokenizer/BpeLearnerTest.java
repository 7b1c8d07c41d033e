package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BpeLearnerTest {

  /** Sennrich et al.'s example: low x5, lower x2, newest x6, widest x3. */
  static final Map<String, Long> CLASSIC = Map.of("low", 5L, "lower", 2L, "newest", 6L, "widest", 3L);

  /**
   * Worked by hand. Start: (e,s) 9, (s,t</w>) 9, (w,e) 8, (l,o) 7, (n,e) 6, (e,w) 6, (o,w</w>) 5, (w,i) 3,
   * (i,d) 3, (d,e) 3, (o,w) 2, (e,r</w>) 2.
   * 1. e s (9, ties with s t</w>, "e" < "s"); then (es,t</w>) 9, (w,es) 6, (d,es) 3, (w,e) 2.
   * 2. es t</w> (9). 3. l o (7); then (lo,w</w>) 5, (lo,w) 2.
   * 4. e w (6, ties with n e and w est</w>; "e" first). 5. ew est</w> (6, "ew" < "n"). 6. n ewest</w> (6).
   * 7. lo w</w> (5). 8. d est</w> (3, before i d and w i). 9. i dest</w> (3). 10. w idest</w> (3).
   * 11. e r</w> (2, "e" < "lo" < "w"). 12. lo w (2). 13. low er</w> (2). Then no pair is left.
   */
  static final List<BpeMerge> CLASSIC_MERGES = List.of(
      new BpeMerge("e", "s"), new BpeMerge("es", "t</w>"), new BpeMerge("l", "o"), new BpeMerge("e", "w"),
      new BpeMerge("ew", "est</w>"), new BpeMerge("n", "ewest</w>"), new BpeMerge("lo", "w</w>"),
      new BpeMerge("d", "est</w>"), new BpeMerge("i", "dest</w>"), new BpeMerge("w", "idest</w>"),
      new BpeMerge("e", "r</w>"), new BpeMerge("lo", "w"), new BpeMerge("low", "er</w>"));

  @Test
  void learnsTheClassicExampleInOrder() {
    assertThat(BpeLearner.learn(CLASSIC, 1000)).containsExactlyElementsOf(CLASSIC_MERGES);
  }

  @Test
  void stopsAtTheMergesAskedFor() {
    assertThat(BpeLearner.learn(CLASSIC, 4)).containsExactlyElementsOf(CLASSIC_MERGES.subList(0, 4));
  }

  @Test
  void pairsSeenOnceAreNotMerged() {
    assertThat(BpeLearner.learn(Map.of("ab", 1L, "cd", 1L), 10)).isEmpty();
    // a b a b a</w>: only (a,b) occurs twice; after it, ab ab a</w> has no repeated pair
    assertThat(BpeLearner.learn(Map.of("ababa", 1L), 10)).containsExactly(new BpeMerge("a", "b"));
    assertThat(BpeLearner.learn(Map.of(), 10)).isEmpty();
  }

  @Test
  void repeatedSymbolsMergeLeftToRightAsTheTokenizerDoes() {
    // a a a a</w> x3: (a,a) is counted at positions 0 and 1 (6) and merged left to right: aa a a</w>; then
    // (aa,a) 3 and (a,a</w>) 3 tie and "a" < "aa": aa aa</w>; then aaaa</w>
    var merges = BpeLearner.learn(Map.of("aaaa", 3L), 10);
    assertThat(merges).containsExactly(new BpeMerge("a", "a"), new BpeMerge("a", "a</w>"), new BpeMerge("aa", "aa</w>"));
    ClipTokenizer tok = ClipTokenizer.of(merges);
    assertThat(tok.encode("aaaa")).hasSize(1);
    assertThat(tok.token(tok.encode("aaaa")[0])).isEqualTo("aaaa</w>");
  }

  @Test
  void theLearnedMergesEncodeTheirWords() {
    ClipTokenizer tok = ClipTokenizer.of(BpeLearner.learn(CLASSIC, 1000));
    for (String w : CLASSIC.keySet()) {
      assertThat(tok.encode(w)).hasSize(1);
      assertThat(tok.token(tok.encode(w)[0])).isEqualTo(w + "</w>");
    }
    // e s -> es t</w> -> l o -> lo w (rank 11): low est</w>
    assertThat(tok.decode(tok.encode("lowest"))).isEqualTo("lowest ");
    assertThat(tok.encode("lowest")).containsExactly(tok.id("low"), tok.id("est</w>"));
  }

  @Test
  void refusesBadWords() {
    assertThatThrownBy(() -> BpeLearner.learn(Map.of("a b", 2L), 5))
        .hasMessage("Cannot learn merges from the word \"a b\": character U+20 is not a byte symbol");
    assertThatThrownBy(() -> BpeLearner.learn(Map.of("ab", 0L), 5))
        .hasMessage("Cannot learn merges from the word \"ab\" with count 0: words must be non-empty and counts positive");
  }
}
