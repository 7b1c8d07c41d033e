package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.checkpoint.CommitMode;
import org.junit.jupiter.api.Test;

class TrainOptionsTest {

  static TrainOptions options(String hocon) {
    return TrainOptions.from(new Settings(
        ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference()).resolve()));
  }

  @Test
  void referenceConfMatchesTheDefaults() {
    assertThat(options("")).isEqualTo(TrainOptions.defaults());
    assertThat(TrainOptions.defaults().checkpointCommit()).isEqualTo(CommitMode.AUTO);
  }

  @Test
  void readsTheCheckpointCommitMode() {
    assertThat(options("train.checkpoint-commit = pointer").checkpointCommit()).isEqualTo(CommitMode.POINTER);
    assertThat(options("train.checkpoint-commit = rename").checkpointCommit()).isEqualTo(CommitMode.RENAME);
    assertThat(options("train.checkpoint-commit = \" Auto \"").checkpointCommit()).isEqualTo(CommitMode.AUTO);
    assertThat(options("train.checkpoint-commit = pointer").withoutTestHooks().checkpointCommit())
        .isEqualTo(CommitMode.POINTER);
  }

  @Test
  void aBadCheckpointCommitModeNamesTheKeyTheValueAndWhatIsAllowed() {
    assertThatThrownBy(() -> options("train.checkpoint-commit = atomic"))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set train.checkpoint-commit to \"atomic\": must be one of auto, rename, pointer")
        .extracting(e -> ((ConfigValueException) e).key()).isEqualTo("train.checkpoint-commit");
    var defaults = TrainOptions.defaults();
    assertThatThrownBy(() -> new TrainOptions(defaults.batchSize(), defaults.microBatchSize(), defaults.epochs(),
        defaults.maxSteps(), defaults.learningRate(), defaults.warmupSteps(), defaults.schedule(), defaults.beta1(),
        defaults.beta2(), defaults.eps(), defaults.weightDecay(), defaults.gradClipNorm(), defaults.seed(),
        defaults.checkpointEvery(), defaults.keepCheckpoints(), null, defaults.logEvery(), defaults.onNonFinite(),
        defaults.augment(), defaults.cropMinScale(), defaults.cropMaxScale(), defaults.decodeThreads(),
        defaults.shuffleBuffer(), defaults.threads(), defaults.verifyEvery(), defaults.failAtStep(),
        defaults.hangAtStep(), defaults.debugRank(), defaults.init(), defaults.lockImage()))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set train.checkpoint-commit to nothing: must be one of auto, rename, pointer");
  }
}
