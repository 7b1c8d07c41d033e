package dev.clipspark.evaluation;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfigs;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The notebooks' entry point: settings as {@code --set} takes them, the checks, and a zero-shot report and sample
 * images from a small IDX dataset and an untrained tiny ViT written by the test.
 */
class NotebookTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  /** Images in the test split of the generated dataset. */
  private static final int IMAGES = 40;

  @TempDir static Path dir;
  static SparkSession spark;
  static String checkpoint;
  static String dataset;

  @BeforeAll
  static void setUp() throws IOException {
    spark = Notebook.localSpark();
    checkpoint = writeCheckpoint(dir.resolve("run"), 7, 1);
    // "fashion" in the directory name: the classes are the shipped Fashion-MNIST list.
    Path data = Files.createDirectories(dir.resolve("fashion-mini"));
    writeIdx(data, IMAGES, 3);
    dataset = "idx:" + data;
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) {
      spark.stop();
    }
  }

  @Test
  void overridesTakeStringsNumbersBooleansAndListsOverReferenceConf() {
    var overrides = new LinkedHashMap<String, Object>();
    overrides.put("eval.max-rows", "500");
    overrides.put("eval.top-k", 3L);
    overrides.put("eval.compare-single-template", true);
    overrides.put("eval.single-template", "a photo of the {}, small");
    overrides.put("eval.templates", "/tmp/my templates.txt");
    overrides.put("eval.probe.reg-params", "[0.1, 1]");

    EvalOptions options = Notebook.options(overrides);

    assertThat(options.maxRows()).isEqualTo(500);
    assertThat(options.topK()).isEqualTo(3);
    assertThat(options.compareSingleTemplate()).isTrue();
    assertThat(options.singleTemplate()).isEqualTo("a photo of the {}, small");
    assertThat(options.templates()).isEqualTo("/tmp/my templates.txt");
    assertThat(options.regParams()).containsExactly(0.1, 1.0);
    assertThat(options.classes()).isEqualTo("auto");
    assertThat(Notebook.options(Map.of()).batchSize()).isEqualTo(64);
  }

  @Test
  void anUnknownKeyIsRefusedWithTheKnownKeysOfItsSection() {
    assertThatThrownBy(() -> Notebook.options(Map.of("eval.max-row", 5)))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageStartingWith("Cannot set eval.max-row to 5: unknown key; known keys in 'eval': eval.batch-size,")
        .hasMessageContaining("eval.max-rows");
    assertThatThrownBy(() -> Notebook.options(Map.of("eval.probe.seeds", 1)))
        .hasMessageContaining("known keys in 'eval.probe': eval.probe.features,");
    assertThatThrownBy(() -> Notebook.options(Map.of("eval.probe", 1)))
        .hasMessageStartingWith("Cannot set eval.probe to 1: unknown key");
  }

  @Test
  void aValueOutOfRangeIsRefusedNamingTheKey() {
    assertThatThrownBy(() -> Notebook.options(Map.of("eval.top-k", 0)))
        .hasMessage("Cannot set eval.top-k to 0: must be between 1 and 1000");
    assertThatThrownBy(() -> Notebook.options(Map.of("eval.max-rows", "many")))
        .hasMessageStartingWith("Cannot set eval.max-rows to \"many\": must be a whole number");
    assertThatThrownBy(() -> Notebook.options(Map.of("eval.probe.reg-params", "[0.1,")))
        .hasMessageStartingWith("Cannot set eval.probe.reg-params to [0.1,: not a valid list");
  }

  @Test
  void thisJvmHasSparksFlags() {
    // Surefire starts test JVMs with spark.java17.flags; without them localSpark fails with the fix.
    Notebook.requireSparkJvmFlags();
  }

  @Test
  void readsImageFilesAndNamesAMissingOne() throws IOException {
    Path png = dir.resolve("one.png");
    byte[] bytes = {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 1, 2};
    Files.write(png, bytes);
    assertThat(Notebook.imageBytes(png.toString())).isEqualTo(bytes);
    assertThat(Notebook.extension(bytes)).isEqualTo("png");
    assertThat(Notebook.extension(new byte[] {(byte) 0xff, (byte) 0xd8, (byte) 0xff})).isEqualTo("jpg");
    assertThat(Notebook.extension(new byte[] {1, 2, 3})).isEqualTo("img");
    String missing = dir.resolve("none.png").toString();
    assertThatThrownBy(() -> Notebook.imageBytes(missing))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessage("Cannot read the image " + missing + ": it does not exist");
  }

  @Test
  void samplesTheSameTestImagesEveryTimeWithTheirClassNames() throws IOException {
    String out = dir.resolve("samples").toString();
    JsonNode samples = JSON.readTree(Notebook.sampleImages(spark, dataset, 5, out, Map.of()));

    assertThat(samples).hasSize(5);
    var clip = ClipEvaluator.load(checkpoint);
    for (JsonNode s : samples) {
      Path file = Path.of(s.get("path").asText());
      assertThat(file.getFileName().toString()).isEqualTo(s.get("key").asText() + ".png");
      int index = Integer.parseInt(s.get("key").asText().substring("test-".length()));
      assertThat(s.get("label").asInt()).isEqualTo(index % 10);
      assertThat(s.get("class_name").asText())
          .isEqualTo(Prompts.classes("fashion-mnist").entries().get(index % 10));
      assertThat(clip.encodeImages(List.of(Notebook.imageBytes(file.toString())))[0]).hasSize(clip.embedDim());
    }
    JsonNode again = JSON.readTree(Notebook.sampleImages(spark, dataset, 5, dir.resolve("again").toString(), Map.of()));
    assertThat(again.findValuesAsText("key")).isEqualTo(samples.findValuesAsText("key"));
    assertThatThrownBy(() -> Notebook.sampleImages(spark, dataset, 0, out, Map.of()))
        .hasMessage("Cannot sample 0 images: must be at least 1");
  }

  @Test
  void zeroshotWritesTheReportAndReturnsItAsJson() throws IOException {
    String out = dir.resolve("zeroshot").toString();
    JsonNode report = JSON.readTree(Notebook.zeroshot(spark, checkpoint, dataset, out,
        Map.of("eval.max-rows", 25, "eval.compare-single-template", true, "eval.templates", "default")));

    assertThat(report.get("task").asText()).isEqualTo("zeroshot");
    assertThat(report.get("checkpoint").get("model").asText()).isEqualTo("tiny-vit");
    assertThat(report.get("checkpoint").get("step").asLong()).isEqualTo(7);
    assertThat(report.get("dataset").get("rows").asLong()).isEqualTo(25);
    JsonNode zs = report.get("zeroshot");
    assertThat(zs.get("samples").asLong()).isEqualTo(25);
    assertThat(zs.get("top1").asDouble()).isBetween(0.0, 1.0);
    assertThat(zs.get("per_class_accuracy")).hasSize(10);
    assertThat(zs.get("single_template").get("template").asText()).isEqualTo("a photo of a {}.");
    assertThat(report.get("templates").get("templates")).hasSize(1);
    assertThat(Path.of(report.get("report_json").asText())).isRegularFile();
    assertThat(Files.readString(Path.of(report.get("report_html").asText()), UTF_8)).contains("<img class=\"chart\"");
    assertThatThrownBy(() -> Notebook.zeroshot(spark, checkpoint, dataset, out, Map.of("eval.top-k", 0)))
        .hasMessage("Cannot set eval.top-k to 0: must be between 1 and 1000");
  }

  /** An untrained tiny ViT with a 7-merge tokenizer, saved as training saves checkpoints; returns the run dir. */
  static String writeCheckpoint(Path run, long step, long seed) throws IOException {
    Files.createDirectories(run);
    Path merges = run.resolve("merges.txt");
    List<String> rules = List.of("t h", "th e</w>", "o f</w>", "p h", "ph o", "pho t", "phot o</w>");
    Files.writeString(merges, "#version: 0.2\n" + String.join("\n", rules) + "\n", UTF_8);
    var model = ModelConfigs.load("tiny-vit");
    var state = Map.<String, Object>of("tokenizer_vocab_size", 514L + rules.size());
    Checkpoints.save(run.toString(), new Checkpoint(step, state, model, merges.toString(),
        ClipParameters.initialize(model, seed, DataType.FLOAT), null), new Configuration());
    return run.toString();
  }

  /** MNIST-format test files: {@code n} 28x28 noise images, image i labelled i mod 10. */
  static void writeIdx(Path data, int n, long seed) throws IOException {
    var random = new Random(seed);
    try (var images = new DataOutputStream(Files.newOutputStream(data.resolve("t10k-images-idx3-ubyte")));
        var labels = new DataOutputStream(Files.newOutputStream(data.resolve("t10k-labels-idx1-ubyte")))) {
      images.writeInt(0x00000803);
      images.writeInt(n);
      images.writeInt(28);
      images.writeInt(28);
      labels.writeInt(0x00000801);
      labels.writeInt(n);
      byte[] pixels = new byte[28 * 28];
      for (int i = 0; i < n; i++) {
        random.nextBytes(pixels);
        images.write(pixels);
        labels.writeByte(i % 10);
      }
    }
  }
}
