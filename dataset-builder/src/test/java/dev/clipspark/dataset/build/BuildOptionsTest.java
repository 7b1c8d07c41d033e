package dev.clipspark.dataset.build;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.Settings;
import org.junit.jupiter.api.Test;

/** The build plan and round settings: defaults, accepted values and the messages for bad ones. */
class BuildOptionsTest {

  static BuildOptions options(String hocon) {
    return BuildOptions.from(new Settings(ConfigFactory.parseString(hocon)
        .withFallback(ConfigFactory.defaultReference()).resolve()));
  }

  @Test
  void defaultsAreALazyPlanWithLearnedOversampling() {
    BuildOptions o = options("");
    assertThat(o.plan()).isEqualTo(BuildOptions.Plan.LAZY);
    assertThat(o.autoOversample()).isTrue();
    assertThat(o.maxRounds()).isEqualTo(BuildOptions.MAX_ROUNDS_DEFAULT);
    assertThat(options("build.plan = all\nbalance.oversample = 1.5").plan()).isEqualTo(BuildOptions.Plan.ALL);
    assertThat(options("balance.oversample = 1.5").oversample()).isEqualTo(1.5);
  }

  @Test
  void oversamplingChangesTheCostNotTheFingerprint() {
    assertThat(options("balance.oversample = 3").describedSettings())
        .isEqualTo(options("").describedSettings());
    assertThat(options("balance.max-rounds = 3").describedSettings())
        .isNotEqualTo(options("").describedSettings());
  }

  @Test
  void badValuesNameTheKeyTheValueAndWhatIsAllowed() {
    assertThatThrownBy(() -> options("build.plan = eager"))
        .hasMessage("Cannot set build.plan to \"eager\": must be one of lazy, all");
    assertThatThrownBy(() -> options("balance.oversample = 0.5"))
        .hasMessage("Cannot set balance.oversample to 0.5: must be auto or a number between 1.0 and 1000.0");
    assertThatThrownBy(() -> options("balance.oversample = sometimes"))
        .hasMessage("Cannot set balance.oversample to \"sometimes\": must be auto or a number between 1.0 and 1000.0");
    assertThatThrownBy(() -> options("balance.max-rounds = 0"))
        .hasMessageStartingWith("Cannot set balance.max-rounds to 0");
  }

  @Test
  void autoTakesTheRoomFirstThenDividesBySuccessWithAMargin() {
    // Nothing fetched yet: s = 1, the room itself.
    assertThat(Admission.take(10, 0, 1.0)).isEqualTo(10);
    // s = 0.5, room 8: (8 + 2 sqrt(8 * 0.5)) / 0.5 = (8 + 4) / 0.5 = 24.
    assertThat(Admission.take(8, 0, 0.5)).isEqualTo(24);
    // A fixed factor: room x factor, rounded up.
    assertThat(Admission.take(3, 1.5, 0.1)).isEqualTo(5);
  }
}
