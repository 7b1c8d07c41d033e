package dev.clipspark.dataset.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SourcesTest {

  private final SourceOptions options = SourceOptions.defaults();

  @TempDir
  Path dir;

  @Test
  void parsesEveryKindAndKeepsTheSpec() {
    assertThat(Sources.parse("webdataset:/data/shards", options)).isInstanceOf(WebDatasetSource.class)
        .extracting(CandidateSource::spec).isEqualTo("webdataset:/data/shards");
    assertThat(Sources.parse("table:s3a://bucket/pairs.parquet", options)).isInstanceOf(TableSource.class);
    assertThat(Sources.parse("folder:hdfs://nn:8020/photos", options)).isInstanceOf(FolderSource.class);
    assertThat(Sources.parse("synthetic:demo", options)).isInstanceOf(SyntheticSource.class)
        .extracting(CandidateSource::spec).isEqualTo("synthetic:demo");
    assertThat(Sources.parse("synthetic:", options)).isInstanceOf(SyntheticSource.class);
    assertThat(Sources.webdataset("/x", options).spec()).isEqualTo("webdataset:/x");
    assertThat(Sources.table("/t.csv", options).spec()).isEqualTo("table:/t.csv");
    assertThat(Sources.folder("file:/f", options).spec()).isEqualTo("folder:file:/f");
    assertThat(Sources.synthetic(options).spec()).isEqualTo("synthetic:");
  }

  @Test
  void parseErrorsSayWhatIsAllowed() {
    assertThatThrownBy(() -> Sources.parse("foo:/x", options))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read source 'foo:/x': unknown kind 'foo'; allowed: webdataset, table, folder, synthetic");
    assertThatThrownBy(() -> Sources.parse("/data/shards", options))
        .hasMessage("Cannot read source '/data/shards': expected KIND:PATH with KIND one of "
            + "webdataset, table, folder, synthetic");
    assertThatThrownBy(() -> Sources.parse("webdataset:", options))
        .hasMessage("Cannot read source 'webdataset:': missing path after 'webdataset:'");
    assertThatThrownBy(() -> Sources.parse("table:  ", options))
        .hasMessage("Cannot read source 'table:  ': missing path after 'table:'");
    assertThatThrownBy(() -> Sources.parse("file:/x", options))
        .hasMessageContaining("unknown kind 'file'");
  }

  @Test
  void readFileReadsWholeFilesWithinTheLimit() throws IOException {
    Path f = Files.write(dir.resolve("a b.bin"), new byte[] {1, 2, 3, 4, 5});
    Path empty = Files.write(dir.resolve("empty.jpg"), new byte[0]);
    var conf = new Configuration();
    assertThat(Sources.readFile(f.toString(), conf, 5)).containsExactly(1, 2, 3, 4, 5);
    assertThat(Sources.readFile(f.toUri().toString().replace("%20", " "), conf, 100)).hasSize(5);
    assertThat(Sources.readFile(empty.toString(), conf, 10)).isEmpty();
    assertThatThrownBy(() -> Sources.readFile(f.toString(), conf, 4))
        .isInstanceOf(IOException.class)
        .hasMessage("Cannot read " + f + ": larger than the limit of 4 bytes");
    assertThatThrownBy(() -> Sources.readFile(dir.resolve("missing.jpg").toString(), conf, 10))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("missing.jpg");
  }

  @Test
  void hadoopConfSurvivesJavaSerialisation() throws Exception {
    var conf = new Configuration(false);
    conf.set("clipspark.test.key", "value 1");
    conf.setInt("clipspark.test.n", 42);
    HadoopConf wrapped = HadoopConf.of(conf);
    conf.set("clipspark.test.key", "changed later");

    var bytes = new ByteArrayOutputStream();
    try (var out = new ObjectOutputStream(bytes)) {
      out.writeObject(wrapped);
    }
    HadoopConf copy;
    try (var in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      copy = (HadoopConf) in.readObject();
    }
    assertThat(copy.get().get("clipspark.test.key")).isEqualTo("value 1");
    assertThat(copy.get().getInt("clipspark.test.n", 0)).isEqualTo(42);
    assertThat(copy.get()).isSameAs(copy.get());
    assertThat(wrapped.get().get("clipspark.test.key")).isEqualTo("value 1");
  }
}
