package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobConfigTest {

  @TempDir
  Path dir;

  @Test
  void defaultsComeFromReferenceConf() {
    var s = JobConfig.load(null, List.of());
    assertThat(s.intIn("balance.max-per-query", 1, Integer.MAX_VALUE)).isEqualTo(20000);
    assertThat(s.intIn("queries.min-count", 1, Integer.MAX_VALUE)).isEqualTo(100);
    assertThat(s.intIn("queries.max", 1, Integer.MAX_VALUE)).isEqualTo(500000);
  }

  @Test
  void setBeatsConfFileBeatsCommandDefaultsBeatsReference() throws Exception {
    File conf = write("balance.max-per-query = 7\nshard.rows = 11\n");
    var s = JobConfig.load(conf, List.of("shard.rows=13"),
        ConfigFactory.parseString("balance.max-per-query = 3\nshard.rows = 5\nimage.size = 64"));
    assertThat(s.intIn("shard.rows", 1, 100)).isEqualTo(13);
    assertThat(s.intIn("balance.max-per-query", 1, 100)).isEqualTo(7);
    assertThat(s.intIn("image.size", 1, 1000)).isEqualTo(64);
    assertThat(s.intIn("queries.min-count", 1, 1000)).isEqualTo(100);
  }

  @Test
  void laterSetWins() {
    var s = JobConfig.load(null, List.of("shard.rows=5", "shard.rows=9"));
    assertThat(s.intIn("shard.rows", 1, 100)).isEqualTo(9);
  }

  @Test
  void setAcceptsListsAndStringsWithColons() {
    var s = JobConfig.load(null, List.of("queries.wordnet.pos=[noun, verb]", "fetch.user-agent=Bot/1.0 (+http://x.test/a)"));
    assertThat(s.stringList("queries.wordnet.pos")).containsExactly("noun", "verb");
    assertThat(s.string("fetch.user-agent")).isEqualTo("Bot/1.0 (+http://x.test/a)");
  }

  @Test
  void unknownKeyInSetNamesTheKeyAndTheKnownOnes() {
    assertThatThrownBy(() -> JobConfig.load(null, List.of("balance.max-per-qurey=5")))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageContaining("balance.max-per-qurey")
        .hasMessageContaining("unknown key")
        .hasMessageContaining("balance.max-per-query");
  }

  @Test
  void unknownKeyInConfFileNamesTheFile() throws Exception {
    File conf = write("fetch { retrys = 3 }\n");
    assertThatThrownBy(() -> JobConfig.load(conf, List.of()))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageContaining("fetch.retrys")
        .hasMessageContaining(conf.toString())
        .hasMessageContaining("fetch.retries");
  }

  @Test
  void unknownSectionListsTheSections() {
    assertThatThrownBy(() -> JobConfig.load(null, List.of("nosuch=1")))
        .hasMessageContaining("nosuch")
        .hasMessageContaining("known sections")
        .hasMessageContaining("balance");
  }

  @Test
  void setWithoutEqualsIsRefused() {
    assertThatThrownBy(() -> JobConfig.load(null, List.of("shard.rows")))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageContaining("--set")
        .hasMessageContaining("key=value");
  }

  @Test
  void missingConfFileIsRefused() {
    assertThatThrownBy(() -> JobConfig.load(new File(dir.toFile(), "nope.conf"), List.of()))
        .hasMessageContaining("nope.conf")
        .hasMessageContaining("does not exist");
  }

  @Test
  void wrongTypeFailsWhenReadWithKeyValueAndAllowed() {
    var s = JobConfig.load(null, List.of("shard.rows=lots"));
    assertThatThrownBy(() -> s.intIn("shard.rows", 1, 100))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set shard.rows to \"lots\": must be a whole number between 1 and 100");
  }

  private File write(String text) throws Exception {
    Path p = Files.createTempFile(dir, "job", ".conf");
    Files.writeString(p, text);
    return p.toFile();
  }
}
