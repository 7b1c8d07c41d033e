package dev.clipspark.dataset.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.dataset.Words;
import java.util.HashSet;
import org.junit.jupiter.api.Test;

class MatcherBenchmarkTest {

  @Test
  void workloadHasTheDescribedShape() {
    var workload = MatcherBenchmark.workload(4_000, 5_000, 3);
    var queries = workload.queries();
    assertThat(queries).hasSize(4_000);
    var normalised = new HashSet<String>();
    int[] byLength = new int[6];
    for (String query : queries) {
      var words = Words.tokenize(query);
      assertThat(words).isNotEmpty().hasSizeLessThanOrEqualTo(4);
      byLength[words.size()]++;
      normalised.add(String.join(" ", words));
    }
    assertThat(normalised).as("queries are distinct after normalisation").hasSize(4_000);
    assertThat(byLength[1] / 4_000.0).isCloseTo(0.75, within(0.01));
    assertThat(byLength[2] / 4_000.0).isCloseTo(0.20, within(0.01));
    assertThat((byLength[3] + byLength[4]) / 4_000.0).isCloseTo(0.05, within(0.01));

    long chars = 0;
    long nonAscii = 0;
    long words = 0;
    for (String caption : workload.captions()) {
      chars += caption.length();
      nonAscii += caption.chars().filter(c -> c >= 0x80).count();
      int count = Words.tokenize(caption).size();
      assertThat(count).as("words of \"%s\"", caption).isBetween(5, 24);
      words += count;
    }
    int captions = workload.captions().length;
    assertThat(captions).isEqualTo(5_000);
    assertThat((double) chars / captions).isBetween(40.0, 90.0);
    assertThat((double) words / captions).isBetween(8.0, 13.0);
    assertThat((double) nonAscii / chars).isBetween(0.005, 0.05);
  }

  @Test
  void workloadDependsOnlyOnTheSeed() {
    var a = MatcherBenchmark.workload(500, 300, 9);
    var b = MatcherBenchmark.workload(500, 300, 9);
    var c = MatcherBenchmark.workload(500, 300, 10);
    assertThat(a.queries()).isEqualTo(b.queries());
    assertThat(a.captions()).isEqualTo(b.captions());
    assertThat(c.captions()).isNotEqualTo(a.captions());
  }

  @Test
  void runReportsWhatItMeasured() {
    var result = MatcherBenchmark.run(3_000, 20_000, 5);
    assertThat(result.queries()).isEqualTo(3_000);
    assertThat(result.captions()).isEqualTo(20_000);
    assertThat(result.captionsPerSecond()).isPositive();
    assertThat(result.buildSeconds()).isPositive();
    var workload = MatcherBenchmark.workload(3_000, 20_000, 5);
    var matcher = QueryMatcher.build(workload.queries());
    assertThat(result.serializedBytes()).isEqualTo(MatcherBenchmark.serializedSize(matcher));
    long matches = 0;
    for (String caption : workload.captions()) {
      matches += matcher.matchIds(caption).length;
    }
    assertThat(result.meanMatchesPerCaption()).isCloseTo((double) matches / 20_000, within(1e-9));
    assertThat(result.meanMatchesPerCaption()).isGreaterThan(1.0);
    assertThat(result.toString()).contains("3,000 queries", "20,000 captions");
  }

  @Test
  void rejectsEmptyRuns() {
    assertThatThrownBy(() -> MatcherBenchmark.run(0, 10, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot run the matcher benchmark with 0 queries: must be at least 1");
    assertThatThrownBy(() -> MatcherBenchmark.run(10, 0, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot run the matcher benchmark with 0 captions: must be at least 1");
  }
}
