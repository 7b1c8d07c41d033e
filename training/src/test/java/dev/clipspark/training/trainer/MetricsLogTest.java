package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.checkpoint.CommitMode;
import dev.clipspark.training.checkpoint.ObjectStoreFileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** metrics.jsonl on a file system with atomic rename and on an object store, where nothing may be renamed. */
class MetricsLogTest {

  @TempDir Path dir;

  static Map<String, Object> record(long step, double loss) {
    var r = new LinkedHashMap<String, Object>();
    r.put("step", step);
    r.put("loss", loss);
    return r;
  }

  @Test
  void onAnObjectStoreTheLogIsRewrittenInPlaceWithoutAnyRename() throws Exception {
    Configuration conf = ObjectStoreFileSystem.configure();
    ObjectStoreFileSystem.forbidRename();
    String out = ObjectStoreFileSystem.uri(dir.resolve("run"));
    var log = new MetricsLog(out, "metrics.jsonl", CommitMode.POINTER, conf);
    for (int step = 1; step <= 3; step++) {
      log.append(record(step, 4.0 - step));
    }
    log.truncateAfter(2);
    log.append(record(3, 0.5));
    assertThat(ObjectStoreFileSystem.RENAMES.get()).isZero();
    List<Map<String, Object>> records = MetricsLog.records(out, "metrics.jsonl", conf);
    assertThat(records).extracting(r -> ((Number) r.get("step")).longValue()).containsExactly(1L, 2L, 3L);
    assertThat(records.get(2).get("loss")).isEqualTo(0.5);
    try (var files = Files.list(dir.resolve("run"))) {
      assertThat(files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".metrics.jsonl.crc")))
          .containsExactly("metrics.jsonl");
    }
  }

  @Test
  void withRenameCommitsTheLogIsReplacedByRenameWhichAnObjectStoreWouldRefuse() {
    Configuration conf = ObjectStoreFileSystem.configure();
    String out = ObjectStoreFileSystem.uri(dir.resolve("renamed"));
    var log = new MetricsLog(out, "metrics.jsonl", CommitMode.RENAME, conf);
    log.append(record(1, 3.0));
    assertThat(ObjectStoreFileSystem.RENAMES.get()).isEqualTo(1);
    ObjectStoreFileSystem.forbidRename();
    assertThatThrownBy(() -> log.append(record(2, 2.0))).hasMessageContaining("Cannot write " + out);
  }

  @Test
  void autoRewritesInPlaceOnS3aPathsOnly() {
    var conf = new Configuration();
    assertThat(CommitMode.AUTO.resolve(new org.apache.hadoop.fs.Path("s3a://bucket/run/metrics.jsonl"), conf))
        .isEqualTo(CommitMode.POINTER);
    assertThat(CommitMode.AUTO.resolve(new org.apache.hadoop.fs.Path(dir.resolve("m").toString()), conf))
        .isEqualTo(CommitMode.RENAME);
  }
}
