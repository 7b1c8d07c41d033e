package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.File;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which command-line paths are checked locally before Spark starts, depending on Hadoop's default file system. */
class InputsTest {

  static final URI LOCAL = URI.create("file:///");
  static final URI HDFS = URI.create("hdfs://namenode:8020");

  @TempDir
  Path dir;

  @Test
  void schemelessPathIsLocalWhenTheDefaultFileSystemIsLocal() {
    assertThatThrownBy(() -> Inputs.requireLocalExists("--data", "no/such/dataset", LOCAL))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read --data no/such/dataset: no such file or directory");
    assertThatCode(() -> Inputs.requireLocalExists("--data", dir.toString(), LOCAL)).doesNotThrowAnyException();
    assertThat(Inputs.localFile("/data/wit", LOCAL)).isEqualTo(new File("/data/wit"));
  }

  @Test
  void schemelessPathIsLeftToHadoopWhenTheDefaultFileSystemIsHdfs() {
    assertThatCode(() -> Inputs.requireLocalExists("--data", "no/such/dataset", HDFS)).doesNotThrowAnyException();
    assertThatCode(() -> Inputs.requireLocalExists("--data", "/wit/dataset", HDFS)).doesNotThrowAnyException();
    assertThat(Inputs.localFile("/wit/dataset", HDFS)).isNull();
  }

  @Test
  void fileUrisAreCheckedWhateverTheDefaultFileSystem() throws Exception {
    String missing = dir.resolve("missing").toUri().toString();
    assertThatThrownBy(() -> Inputs.requireLocalExists("--tokenizer", missing, HDFS))
        .hasMessage("Cannot read --tokenizer " + missing + ": no such file or directory");
    Path present = Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n");
    assertThatCode(() -> Inputs.requireLocalExists("--tokenizer", present.toUri().toString(), HDFS))
        .doesNotThrowAnyException();
  }

  @Test
  void pathsOnOtherFileSystemsAreNeverCheckedLocally() {
    for (URI fs : new URI[] {LOCAL, HDFS}) {
      assertThat(Inputs.localFile("hdfs:///wit/dataset", fs)).isNull();
      assertThat(Inputs.localFile("s3a://bucket/wit", fs)).isNull();
      assertThatCode(() -> Inputs.requireLocalExists("--data", "s3a://bucket/no/such", fs)).doesNotThrowAnyException();
    }
  }

  @Test
  void theDefaultFileSystemComesFromSparkHadoopSettings() {
    var spark = new SparkConf(false).set("spark.hadoop.fs.defaultFS", "hdfs://namenode:8020");
    assertThat(org.apache.hadoop.fs.FileSystem.getDefaultUri(Inputs.hadoopConfiguration(spark))).isEqualTo(HDFS);
    assertThat(org.apache.hadoop.fs.FileSystem.getDefaultUri(Inputs.hadoopConfiguration(new SparkConf(false))))
        .isEqualTo(LOCAL);
  }

  @Test
  void sparkSubmitSettingsReachTheCheck() {
    // spark-submit hands --conf and --properties-file settings to the driver as system properties.
    String key = "spark.hadoop.fs.defaultFS";
    String before = System.getProperty(key);
    System.setProperty(key, "hdfs://namenode:8020");
    try {
      assertThat(Inputs.defaultFileSystem()).isEqualTo(HDFS);
      assertThatCode(() -> Inputs.requireLocalExists("--data", "no/such/dataset")).doesNotThrowAnyException();
    } finally {
      if (before == null) {
        System.clearProperty(key);
      } else {
        System.setProperty(key, before);
      }
    }
    assertThat(Inputs.defaultFileSystem()).isEqualTo(LOCAL);
    assertThatThrownBy(() -> Inputs.requireLocalExists("--data", "no/such/dataset"))
        .hasMessage("Cannot read --data no/such/dataset: no such file or directory");
  }
}
