package dev.clipspark.training.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LearningRateScheduleTest {

  @Test
  void cosineWarmsUpLinearlyThenDecaysToZero() {
    var s = LearningRateSchedule.cosine(1e-3, 10, 110);
    assertThat(s.at(0)).isCloseTo(1e-4, within(1e-18));
    assertThat(s.at(4)).isCloseTo(5e-4, within(1e-18));
    assertThat(s.at(9)).isCloseTo(1e-3, within(1e-18));
    assertThat(s.at(10)).isCloseTo(1e-3, within(1e-18));
    // A quarter of the way into the decay: 0.5 * (1 + cos(pi / 4)) = 0.8535533905932737.
    assertThat(s.at(35)).isCloseTo(8.535533905932737e-4, within(1e-16));
    assertThat(s.at(60)).isCloseTo(5e-4, within(1e-16));
    assertThat(s.at(110)).isCloseTo(0, within(1e-18));
    // Not clamped past the end, as open_clip: 0.5 * (1 + cos(1.1 pi)) = 0.024471741852423234.
    assertThat(s.at(120)).isCloseTo(2.4471741852423234e-5, within(1e-16));
  }

  @Test
  void cosineWithoutWarmupStartsAtTheBaseRate() {
    var s = LearningRateSchedule.cosine(0.5, 0, 4);
    assertThat(s.at(0)).isEqualTo(0.5);
    assertThat(s.at(2)).isCloseTo(0.25, within(1e-15));
  }

  @Test
  void constantWarmsUpThenHolds() {
    var s = LearningRateSchedule.constant(0.1, 4);
    assertThat(s.at(0)).isCloseTo(0.025, within(1e-17));
    assertThat(s.at(2)).isCloseTo(0.075, within(1e-17));
    assertThat(s.at(3)).isEqualTo(0.1);
    assertThat(s.at(1_000_000)).isEqualTo(0.1);
    assertThat(LearningRateSchedule.constant(0.1, 0).at(0)).isEqualTo(0.1);
  }

  @Test
  void rejectsBadArguments() {
    assertThatThrownBy(() -> LearningRateSchedule.cosine(1e-3, 10, 10))
        .hasMessage("Cannot schedule a cosine decay over 10 total steps: must be more than the 10 warmup steps");
    assertThatThrownBy(() -> LearningRateSchedule.cosine(-1, 0, 10))
        .hasMessage("Cannot set the base learning rate to -1.0: must be finite and at least 0");
    assertThatThrownBy(() -> LearningRateSchedule.constant(Double.POSITIVE_INFINITY, 0))
        .hasMessage("Cannot set the base learning rate to Infinity: must be finite and at least 0");
    assertThatThrownBy(() -> LearningRateSchedule.constant(0.1, -1))
        .hasMessage("Cannot warm up for -1 steps: must be at least 0");
    assertThatThrownBy(() -> LearningRateSchedule.cosine(0.1, 1, 5).at(-1))
        .hasMessage("Cannot compute the learning rate at step -1: steps count from 0");
  }
}
