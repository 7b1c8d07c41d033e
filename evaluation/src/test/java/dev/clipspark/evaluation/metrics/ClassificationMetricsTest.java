package dev.clipspark.evaluation.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ClassificationMetricsTest {

  /**
   * Five samples over three classes, worked by hand:
   * <pre>
   *   sample  label  scores            ranking     top-1 ok  top-2 ok
   *   0       0      0.9 0.05 0.05     0 1 2       yes       yes
   *   1       0      0.2 0.7  0.1      1 0 2       no (1)    yes
   *   2       1      0.1 0.8  0.1      1 0 2       yes       yes
   *   3       2      0.5 0.3  0.2      0 1 2       no (0)    no
   *   4       2      0.3 0.3  0.4      2 0 1       yes       yes
   * </pre>
   * top-1 3/5, top-2 4/5; recall: class 0 1/2, class 1 1/1, class 2 1/2; mean (0.5 + 1 + 0.5) / 3.
   */
  @Test
  void topKPerClassRecallAndConfusionMatchHandComputedValues() {
    int[] labels = {0, 0, 1, 2, 2};
    float[][] scores = {
        {0.9f, 0.05f, 0.05f}, {0.2f, 0.7f, 0.1f}, {0.1f, 0.8f, 0.1f}, {0.5f, 0.3f, 0.2f}, {0.3f, 0.3f, 0.4f}};
    var m = ClassificationMetrics.of(labels, scores, 2);
    assertThat(m.samples()).isEqualTo(5);
    assertThat(m.top1()).isEqualTo(0.6);
    assertThat(m.topK()).isEqualTo(0.8);
    assertThat(m.k()).isEqualTo(2);
    assertThat(m.perClassRecall()).containsExactly(0.5, 1.0, 0.5);
    assertThat(m.perClassCount()).containsExactly(2, 1, 2);
    assertThat(m.meanPerClassRecall()).isCloseTo(2.0 / 3, within(1e-12));
    assertThat(m.confusion()).isEqualTo(new long[][] {{1, 1, 0}, {0, 1, 0}, {1, 0, 1}});
  }

  @Test
  void tiesRankTheLowerClassFirstAndKIsCappedAtTheClassCount() {
    // All scores equal: class 0 wins every tie, so only samples of class 0 are right at top-1.
    int[] labels = {0, 1, 2, 1};
    float[][] scores = {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
    var m = ClassificationMetrics.of(labels, scores, 5);
    assertThat(m.top1()).isEqualTo(0.25);
    assertThat(m.k()).isEqualTo(3);
    assertThat(m.topK()).isEqualTo(1.0);
    assertThat(m.confusion()[1][0]).isEqualTo(2);
  }

  @Test
  void aClassWithoutSamplesIsLeftOutOfTheMean() {
    var m = ClassificationMetrics.of(new int[] {0, 0, 2}, new float[][] {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, 1);
    assertThat(m.perClassRecall()[1]).isNaN();
    assertThat(m.meanPerClassRecall()).isEqualTo((0.5 + 1.0) / 2);
  }

  @Test
  void badInputIsNamed() {
    assertThatThrownBy(() -> new ClassificationMetrics.Accumulator(3, 1).add(3, new float[3]))
        .hasMessage("Cannot score a sample of class 3: classes are 0 to 2");
    assertThatThrownBy(() -> new ClassificationMetrics.Accumulator(3, 1).add(0, new float[2]))
        .hasMessage("Cannot score a sample with 2 scores: expected one per class, 3");
    assertThatThrownBy(() -> new ClassificationMetrics.Accumulator(3, 1).result())
        .hasMessageContaining("no samples");
  }
}
