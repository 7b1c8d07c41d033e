package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import java.io.File;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The files in conf/ that users read must stay true to the code. */
class ConfFilesTest {

  static final File CONF = new File(System.getProperty("user.dir")).getParentFile().toPath().resolve("conf").toFile();

  @Test
  void datasetConfDocumentsExactlyTheDefaults() {
    var documented = ConfigFactory.parseFile(new File(CONF, "dataset.conf")).resolve();
    var reference = ConfigFactory.defaultReference();
    for (String section : List.of("queries", "source", "fetch", "image", "caption", "balance", "filter", "shard", "build")) {
      assertThat(documented.getConfig(section).root().unwrapped())
          .as("conf/dataset.conf section %s", section)
          .isEqualTo(reference.getConfig(section).root().unwrapped());
    }
    assertThat(documented.root().keySet())
        .containsExactlyInAnyOrder("queries", "source", "fetch", "image", "caption", "balance", "filter", "shard", "build");
  }

  @Test
  void trainingConfDocumentsExactlyTheDefaults() {
    var documented = ConfigFactory.parseFile(new File(CONF, "training.conf")).resolve();
    var reference = ConfigFactory.defaultReference();
    assertThat(documented.root().keySet()).containsExactlyInAnyOrder("tokenizer", "lm", "train", "limber");
    for (String section : List.of("tokenizer", "lm", "train", "limber")) {
      assertThat(documented.getConfig(section).root().unwrapped())
          .as("conf/training.conf section %s", section)
          .isEqualTo(reference.getConfig(section).root().unwrapped());
    }
  }

  @Test
  void evaluationConfDocumentsExactlyTheDefaults() {
    var documented = ConfigFactory.parseFile(new File(CONF, "evaluation.conf")).resolve();
    var reference = ConfigFactory.defaultReference();
    assertThat(documented.root().keySet()).containsExactly("eval");
    assertThat(documented.getConfig("eval").root().unwrapped()).as("conf/evaluation.conf")
        .isEqualTo(reference.getConfig("eval").root().unwrapped());
  }

  @Test
  void demoConfOnlySetsKnownKeysAndLoads() {
    var settings = JobConfig.load(null, List.of(), ConfigFactory.parseFile(new File(CONF, "demo.conf")));
    assertThat(settings.intIn("source.synthetic.count", 1, Integer.MAX_VALUE)).isEqualTo(2000);
  }
}
