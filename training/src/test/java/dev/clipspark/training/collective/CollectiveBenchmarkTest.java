package dev.clipspark.training.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CollectiveBenchmarkTest {

  @Test
  void measuresEveryOperation() {
    var result = CollectiveBenchmark.run(3, 3 * 4 * 1000, 2);
    assertThat(result.k()).isEqualTo(3);
    assertThat(result.bytes()).isEqualTo(12_000);
    assertThat(java.util.List.of(result.allReduceSeconds(), result.allGatherSeconds(), result.reduceScatterSeconds(),
        result.copySeconds(), result.allocateSeconds()))
        .allMatch(s -> s > 0 && Double.isFinite(s));
    assertThat(result.toString()).startsWith("K=3, 0.0 MB x 2: all-reduce ");
  }

  @Test
  void rejectsSizesThatDoNotSplitIntoFloatsPerRank() {
    assertThatThrownBy(() -> CollectiveBenchmark.run(3, 100, 1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot benchmark 100 bytes: must be a positive multiple of 12 (whole floats, one equal share"
            + " per rank) and at most 8 GiB");
  }
}
