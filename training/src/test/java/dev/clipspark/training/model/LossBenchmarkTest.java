package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LossBenchmarkTest {

  @Test
  void measuresBothSchemesAndTheDenseLoss() {
    var r = LossBenchmark.run(256, 32, 4, 16, 1, 7);
    System.out.println(r);
  }
}
