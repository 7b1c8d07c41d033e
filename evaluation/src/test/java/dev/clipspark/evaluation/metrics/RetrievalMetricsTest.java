package dev.clipspark.evaluation.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class RetrievalMetricsTest {

  @Test
  void rankCountsEveryOtherCandidateScoringAtLeastAsHigh() {
    float[] scores = {0.1f, 0.9f, 0.5f, 0.5f, 0.2f};
    assertThat(RetrievalMetrics.rank(scores, new int[] {1})).isEqualTo(1);
    // 0.5 ties with the other 0.5 and is beaten by 0.9: rank 3 for either of the tied pair.
    assertThat(RetrievalMetrics.rank(scores, new int[] {2})).isEqualTo(3);
    assertThat(RetrievalMetrics.rank(scores, new int[] {3})).isEqualTo(3);
    assertThat(RetrievalMetrics.rank(scores, new int[] {0})).isEqualTo(5);
    // Several correct candidates: the best one counts.
    assertThat(RetrievalMetrics.rank(scores, new int[] {0, 4})).isEqualTo(4);
    // All equal: last, not first.
    assertThat(RetrievalMetrics.rank(new float[] {1, 1, 1, 1}, new int[] {0})).isEqualTo(4);
  }

  @Test
  void correctCandidatesNeverCountAgainstEachOther() {
    // Two correct candidates tied at the top (an image's caption written twice): rank 1, not 2.
    float[] scores = {0.7f, 0.7f, 0.3f, 0.7f};
    assertThat(RetrievalMetrics.rank(scores, new int[] {0, 1})).as("the wrong 0.7 ties with them").isEqualTo(2);
    assertThat(RetrievalMetrics.rank(new float[] {0.7f, 0.7f, 0.3f, 0.2f}, new int[] {1, 0})).isEqualTo(1);
    // A caption carried by three images, the best of them at 0.5: two wrong ones above it, one wrong tied with it.
    float[] images = {0.1f, 0.9f, 0.5f, 0.8f, 0.2f, 0.5f};
    assertThat(RetrievalMetrics.rank(images, new int[] {4, 5, 0})).isEqualTo(4);
    // Repeated indices are one candidate.
    assertThat(RetrievalMetrics.rank(images, new int[] {5, 5, 5})).isEqualTo(4);
    // A NaN score of a correct candidate ranks it behind every wrong one.
    assertThat(RetrievalMetrics.rank(new float[] {Float.NaN, 0.1f, 0.2f}, new int[] {0})).isEqualTo(3);
  }

  @Test
  void recallAtKAndMedianRankOfHandPickedRanks() {
    // Ranks 1, 1, 3, 6, 12, 2: R@1 2/6, R@5 4/6, R@10 5/6; sorted 1 1 2 3 6 12, median (2 + 3) / 2.
    var m = RetrievalMetrics.ofRanks(new int[] {1, 1, 3, 6, 12, 2}, 20);
    assertThat(m.recallAt1()).isEqualTo(2 / 6.0);
    assertThat(m.recallAt5()).isEqualTo(4 / 6.0);
    assertThat(m.recallAt10()).isEqualTo(5 / 6.0);
    assertThat(m.medianRank()).isEqualTo(2.5);
    assertThat(RetrievalMetrics.ofRanks(new int[] {4, 1, 9}, 9).medianRank()).isEqualTo(4);
  }

  @Test
  void aQueryWithoutACorrectCandidateIsRefused() {
    assertThatThrownBy(() -> RetrievalMetrics.rank(new float[] {1}, new int[0])).hasMessageContaining("without a correct candidate");
    assertThatThrownBy(() -> RetrievalMetrics.rank(new float[] {1}, new int[] {1}))
        .hasMessage("Cannot rank candidate 1: the query scored 1 candidates");
    assertThatThrownBy(() -> RetrievalMetrics.rank(new float[] {1, 2}, new int[] {1, -3}))
        .hasMessage("Cannot rank candidate -3: the query scored 2 candidates");
  }
}
