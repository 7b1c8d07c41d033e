package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LossBenchmarkTest {

  @Test
  void measuresBothSchemesInOneRunAndTheDenseLossAtSmallSizes() {
    int big = 256;
    int d = 32;
    int k = 4;
    int n = big / k;
    var r = LossBenchmark.run(big, d, k, 16, 1, 0, 7);
    assertThat(r.localBatch()).isEqualTo(n);
    assertThat(r.gatheredFeatureBytes()).isEqualTo(2L * big * d * 4);

    // Ring payloads through rank 0, both directions: the features gathered (K-1 blocks of n d floats each
    // way, twice), then the sharded loss's log-sum-exps (n floats) or gather-with-gradient's reduce-scatter
    // (as many bytes as the features), and a two-float all-reduce (six floats through rank 0 of 4).
    long features = 2 * 2L * (k - 1) * n * d * 4;
    assertThat(r.sharded().bytesMoved()).isEqualTo(features + 2 * 2L * (k - 1) * n * 4 + 24);
    assertThat(r.gatherWithGradient().bytesMoved()).isEqualTo(2 * features + 24);
    assertThat(r.bytesMovedRatio()).isLessThan(0.55);

    // Measured working memory: the analytic figure plus the n-vectors it leaves out (under 16 floats a row).
    assertThat(r.sharded().workingMemoryBytes())
        .isBetween(r.sharded().analyticWorkingMemoryBytes(), r.sharded().analyticWorkingMemoryBytes() + 64L * n);
    assertThat(r.gatherWithGradient().workingMemoryBytes()).isBetween(
        r.gatherWithGradient().analyticWorkingMemoryBytes(), r.gatherWithGradient().analyticWorkingMemoryBytes() + 64L * n);
    assertThat(r.sharded().workingMemoryBytes()).isLessThan(r.gatherWithGradient().workingMemoryBytes());

    // The dense loss of the whole batch runs at this size and needs far more.
    assertThat(r.dense()).isPresent();
    var dense = r.dense().orElseThrow();
    assertThat(dense.analyticWorkingMemoryBytes()).isEqualTo(r.denseAnalyticBytes());
    assertThat(dense.workingMemoryBytes()).isBetween(dense.analyticWorkingMemoryBytes(),
        dense.analyticWorkingMemoryBytes() + 64L * big);
    assertThat(dense.bytesMoved()).isZero();

    // The same data gives the same loss either way (rank 0's terms; the peers' are copies of them).
    assertThat(r.sharded().loss()).isCloseTo(r.gatherWithGradient().loss(), within(1e-4 * r.sharded().loss()));
    for (var s : new LossBenchmark.Scheme[] {r.sharded(), r.gatherWithGradient(), dense}) {
      assertThat(s.seconds()).isPositive().isFinite();
    }
  }

  @Test
  void rejectsSizesThatDoNotSplit() {
    assertThatThrownBy(() -> LossBenchmark.run(100, 8, 8, 4, 1, 1, 1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot benchmark the loss of a batch of 100 over 8 workers: need at least 1 worker and a batch"
            + " that is a positive multiple of the workers");
    assertThatThrownBy(() -> LossBenchmark.run(64, 1, 8, 4, 1, 1, 1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot benchmark the loss with dimension 1, tile 4, 1 repetitions and 1 threads: need a dimension"
            + " of at least 2, a tile and repetitions of at least 1, and threads of at least 0");
  }
}
