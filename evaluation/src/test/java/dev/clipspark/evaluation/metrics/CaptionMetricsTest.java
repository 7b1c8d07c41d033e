package dev.clipspark.evaluation.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class CaptionMetricsTest {

  private static List<String> t(String s) {
    return s.isEmpty() ? List.of() : Arrays.asList(s.split(" "));
  }

  @Test
  void tokenizerLowerCasesSplitsCliticsAndDropsCocoPunctuation() {
    assertThat(CaptionTokenizer.tokenize("Here, a RED star near the top; again?"))
        .containsExactly("here", "a", "red", "star", "near", "the", "top", "again");
    assertThat(CaptionTokenizer.tokenize("Don't miss the dog's toy (small)."))
        .containsExactly("do", "n't", "miss", "the", "dog", "'s", "toy", "small");
    assertThat(CaptionTokenizer.tokenize("It's a ring 1,000 px 3.5 cm \u201cnice\u201d & co. -- well-known..."))
        .containsExactly("it", "'s", "a", "ring", "1,000", "px", "3.5", "cm", "nice", "&", "co", "well-known");
    assertThat(CaptionTokenizer.tokenize("  ... !")).isEmpty();
  }

  @Test
  void bleuByHand() {
    // Candidate "the cat sat on the mat" (6 tokens) against "the cat is on the mat" (6) and "a cat sat on a mat" (6).
    // Clipped matches: 1-grams the(2, max ref count 2) cat sat on mat = 6 of 6; 2-grams the-cat cat-sat sat-on
    // on-the the-mat = 5 of 5; 3-grams the-cat-sat(no) cat-sat-on(yes) sat-on-the(no) on-the-mat(yes) = 2 of 4;
    // 4-grams the-cat-sat-on(no) cat-sat-on-the(no) sat-on-the-mat(no) = 0 of 3.
    var refs = List.of(List.of(t("the cat is on the mat"), t("a cat sat on a mat")));
    var b = CaptionMetrics.bleu(List.of(t("the cat sat on the mat")), refs);
    // coco's smoothing: (matches + 1e-15) / (n-grams + 1e-9).
    assertThat(b.precisions()[0]).isCloseTo((6 + 1e-15) / (6 + 1e-9), within(1e-15));
    assertThat(b.precisions()[1]).isCloseTo((5 + 1e-15) / (5 + 1e-9), within(1e-15));
    assertThat(b.precisions()[2]).isCloseTo((2 + 1e-15) / (4 + 1e-9), within(1e-15));
    assertThat(b.precisions()[3]).isCloseTo(1e-15 / (3 + 1e-9), within(1e-25));
    // Equal lengths: coco's ratio (6 + 1e-15) / (6 + 1e-9) is just below 1, so a penalty of 1 - 1.7e-10 applies.
    assertThat(b.brevity()).isCloseTo(Math.exp(1 - (6 + 1e-9) / (6 + 1e-15)), within(1e-15)).isLessThan(1.0);
    assertThat(b.bleu()[2]).isCloseTo(Math.cbrt(0.5), within(1e-9));
    assertThat(b.bleu4()).isCloseTo(Math.pow(0.5 * 1e-15 / 3, 0.25), within(1e-9));
    // Brevity: "cat on mat" (3) against references of 4 and 8 tokens: the closest is 4, BP = exp(1 - 4/3).
    var shortOne = CaptionMetrics.bleu(List.of(t("cat on mat")), List.of(List.of(t("a cat on mat"),
        t("there is a cat on the mat here"))));
    assertThat(shortOne.referenceLength()).isEqualTo(4);
    assertThat(shortOne.brevity()).isCloseTo(Math.exp(1 - 4.0 / 3), within(1e-9));
    // Ties between closest lengths take the shorter reference: 4 tokens against 3 and 5 gives 3, no penalty.
    assertThat(CaptionMetrics.bleu(List.of(t("a b c d")), List.of(List.of(t("a b e"), t("a b c d e"))))
        .referenceLength()).isEqualTo(3);
  }

  @Test
  void ciderDByHand() {
    // Two images. Image 0: candidate "a b", reference "a b"; image 1: candidate "c", reference "d".
    // log(I) = log 2; df(a) = df(b) = df(a b) = 1 -> weight log 2 each; image 0: 1-gram cosine 1, 2-gram cosine 1,
    // 3- and 4-grams empty (0); lengths (bigrams) equal -> CIDEr-D = 10 * (1 + 1 + 0 + 0) / 4 = 5.
    // Image 1: no shared n-gram -> 0. The mean is 2.5.
    var c = CaptionMetrics.ciderD(List.of(t("a b"), t("c")), List.of(List.of(t("a b")), List.of(t("d"))));
    assertThat(c.perImage()[0]).isCloseTo(5.0, within(1e-12));
    assertThat(c.perImage()[1]).isCloseTo(0.0, within(1e-12));
    assertThat(c.score()).isCloseTo(2.5, within(1e-12));
    // An n-gram in every image's references has idf log(2) - log(2) = 0 and counts for nothing: "a b" against
    // references "a c" (image 0) and "a d" (image 1) shares only "a", whose weight is 0.
    var common = CaptionMetrics.ciderD(List.of(t("a b"), t("a d")), List.of(List.of(t("a c")), List.of(t("a d"))));
    assertThat(common.perImage()[0]).isCloseTo(0.0, within(1e-12));
    // Image 1's candidate equals its reference: unigram "d" and bigram "a d" give cosine 1, "a" weighs 0;
    // 10 * (1 + 1) / 4 = 5.
    assertThat(common.perImage()[1]).isCloseTo(5.0, within(1e-12));
    // Clipping: repeating a matching word does not raise the score above the single occurrence's
    // (min(g_c, g_r) g_r stays, only |g_c| grows).
    var refs = List.of(List.of(t("x y")), List.of(t("z w")));
    double once = CaptionMetrics.ciderD(List.of(t("x"), t("z")), refs).perImage()[0];
    double thrice = CaptionMetrics.ciderD(List.of(t("x x x"), t("z")), refs).perImage()[0];
    assertThat(thrice).isLessThan(once);
    // The Gaussian length penalty: same unigram cosine, lengths differing by d bigrams scale by exp(-d^2 / 72).
    var lp = CaptionMetrics.ciderD(List.of(t("p q"), t("z")), List.of(List.of(t("p q p q p q")), List.of(t("z w"))));
    // unigrams: candidate (p, q) x log2 each, reference (3p, 3q) x log2: cosine 1; min(1,3)*3 = 3 per word ->
    // 2 * 3 log2^2 / (sqrt2 log2 * sqrt18 log2) = 1. Bigrams: candidate {p q}: 1 x log2; reference {p q: 3, q p: 2}:
    // (1 * 3 log2^2) / (log2 * sqrt(13) log2) = 3 / sqrt 13. Lengths 1 and 5: penalty exp(-16 / 72).
    double expected = 10 * (1 + 3 / Math.sqrt(13)) / 4 * Math.exp(-16.0 / 72);
    assertThat(lp.perImage()[0]).isCloseTo(expected, within(1e-12));
  }

  @Test
  void equalsTheIndependentPythonReferenceOnThreeHundredTwentySets() throws Exception {
    JsonNode root;
    try (InputStream in = getClass().getResourceAsStream("/caption-metrics/caption-metrics.json")) {
      root = new ObjectMapper().readTree(in);
    }
    int sets = 0;
    for (JsonNode corpus : root.get("corpora")) {
      var candidates = new ArrayList<List<String>>();
      var references = new ArrayList<List<List<String>>>();
      for (int i = 0; i < corpus.get("candidates").size(); i++) {
        List<String> tokens = CaptionTokenizer.tokenize(corpus.get("candidates").get(i).asText());
        assertThat(tokens).containsExactlyElementsOf(strings(corpus.get("candidate_tokens").get(i)));
        candidates.add(tokens);
        var refs = new ArrayList<List<String>>();
        for (int j = 0; j < corpus.get("references").get(i).size(); j++) {
          List<String> r = CaptionTokenizer.tokenize(corpus.get("references").get(i).get(j).asText());
          assertThat(r).containsExactlyElementsOf(strings(corpus.get("reference_tokens").get(i).get(j)));
          refs.add(r);
        }
        references.add(refs);
        sets++;
      }
      var bleu = CaptionMetrics.bleu(candidates, references);
      for (int n = 0; n < 4; n++) {
        assertThat(bleu.bleu()[n]).as("BLEU-%d of %s", n + 1, corpus.get("candidates"))
            .isCloseTo(corpus.get("bleu").get(n).asDouble(), within(1e-9));
      }
      var cider = CaptionMetrics.ciderD(candidates, references);
      assertThat(cider.score()).isCloseTo(corpus.get("cider_d").asDouble(), within(1e-9));
      for (int i = 0; i < candidates.size(); i++) {
        assertThat(cider.perImage()[i]).isCloseTo(corpus.get("cider_d_per_image").get(i).asDouble(), within(1e-9));
      }
    }
    assertThat(sets).isGreaterThanOrEqualTo(300);
  }

  @Test
  void badInputIsNamed() {
    assertThatThrownBy(() -> CaptionMetrics.bleu(List.of(t("a")), List.of()))
        .hasMessageContaining("Cannot score 1 candidate captions against the references of 0 images");
    assertThatThrownBy(() -> CaptionMetrics.ciderD(List.of(t("a")), List.of(List.of())))
        .hasMessage("Cannot score image 0: it has no reference caption");
  }

  private static List<String> strings(JsonNode array) {
    var out = new ArrayList<String>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }
}
