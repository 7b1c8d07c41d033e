package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.lm.LmCheckpoints;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.weights.ExternalWeights;
import dev.clipspark.training.weights.ImportedWeights;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@code clip import-weights}, {@code clip export-weights} and {@code clip evaluate --checkpoint FILE} on a weights
 * file written as PyTorch would (the readers themselves are checked against PyTorch in the training module).
 */
class WeightsCommandsTest {

  /** A tiny ViT CLIP with a 519-token vocabulary (5 merges) and OpenAI's 64-wide heads, so shapes infer it. */
  static final ModelConfig MODEL = new ModelConfig("weights-test", 16, VisionConfig.vit(16, 1, 64, 8, 64),
      new TextConfig(12, 519, 64, 1, 1));

  @TempDir static Path dir;
  static Path weights;
  static Path merges;
  static ParameterSet parameters;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  @BeforeAll
  static void writeWeights() throws IOException {
    parameters = ClipParameters.initialize(MODEL, 7, DataType.FLOAT);
    weights = dir.resolve("open_clip_pytorch_model.bin");
    ExternalWeights.write(MODEL, parameters, weights, ExternalWeights.PYTORCH);
    merges = dir.resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\nc a\nd o\nca t</w>\ndo g</w>\ne r\n");
  }

  private int run(String... args) {
    var cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  @Test
  void importWritesAnOrdinaryCheckpointAndExportGivesTheWeightsBack() {
    Path run = dir.resolve("imported");
    assertThat(run("import-weights", "--from", weights.toString(), "--out", run.toString(), "--tokenizer",
        merges.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).contains("Imported " + weights + " (pytorch) as model open_clip_pytorch_model: "
        + ClipParameters.specs(MODEL).size() + " parameter tensors");

    var conf = new Configuration();
    LoadedCheckpoint c = Checkpoints.loadModel(Checkpoints.resolve(run.toString(), conf), null, conf);
    assertThat(c.step()).isZero();
    assertThat(c.model().text()).isEqualTo(MODEL.text());
    assertThat(c.model().vision()).isEqualTo(MODEL.vision());
    assertSameValues(parameters, c.parameters());

    for (String format : ExternalWeights.EXPORT_FORMATS) {
      Path exported = dir.resolve("exported-" + format);
      assertThat(run("export-weights", "--checkpoint", run.toString(), "--format", format, "--out",
          exported.toString())).as(err.toString()).isZero();
      ImportedWeights back = ExternalWeights.read(exported, MODEL);
      assertThat(back.format()).isEqualTo(format);
      assertSameValues(parameters, back.parameters());
    }
    assertThat(out.toString()).contains("open_clip: register the architecture of model open_clip_pytorch_model");
  }

  /** The GPT-2 fixtures of the training module (tools/reference/make_gpt2_fixtures.py): 4 heads of width 8. */
  static final Path GPT2 = Path.of("../training/src/test/resources/gpt2-weights").toAbsolutePath().normalize();
  static final Path GPT2_TOKENIZER = GPT2.resolveSibling("gpt2-bpe");

  @Test
  void importRecognisesGpt2WeightsAndWritesALanguageModelCheckpoint() throws IOException {
    Path run = dir.resolve("gpt2-imported");
    Path weightsFile = GPT2.resolve("model.safetensors");
    assertThat(run("import-weights", "--from", weightsFile.toString(), "--out", run.toString(), "--tokenizer",
        GPT2_TOKENIZER.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).contains("Imported " + weightsFile + " (safetensors) as language model gpt2-weights"
        + " (vocab_size 512, n_ctx 32, n_embd 32, n_layer 2, n_head 4 from " + GPT2.resolve("config.json") + "): 28"
        + " parameter tensors (42,880 values); ignored h.0.attn.bias, h.1.attn.bias");
    var conf = new Configuration();
    LmCheckpoints.Loaded lm = LmCheckpoints.load(run.toString(), DataType.FLOAT, conf);
    assertThat(lm.model().nHead()).isEqualTo(4);
    assertThat(lm.tokenizer().vocabSize()).isEqualTo(512);
    assertThat(lm.trainerState()).containsEntry("imported_format", "safetensors");

    // Without config.json the heads must be given: refused, then imported with --model FILE (and --kind lm).
    Path alone = Files.createDirectories(dir.resolve("alone"));
    Path bin = Files.copy(GPT2.resolve("pytorch_model.bin"), alone.resolve("pytorch_model.bin"));
    Path refused = dir.resolve("gpt2-refused");
    assertThat(run("import-weights", "--from", bin.toString(), "--out", refused.toString(), "--tokenizer",
        GPT2_TOKENIZER.toString())).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("clip import-weights: Cannot tell the architecture of " + bin)
        .contains("there is no config.json beside it").contains("--model NAME|FILE");
    assertThat(refused).doesNotExist();
    Path conf4 = Files.writeString(alone.resolve("tiny4.conf"), "vocab_size = 512\nn_ctx = 32\nn_embd = 32\n"
        + "n_layer = 2\nn_head = 4\n");
    Path run2 = dir.resolve("gpt2-given");
    assertThat(run("import-weights", "--kind", "lm", "--from", bin.toString(), "--out", run2.toString(),
        "--tokenizer", GPT2_TOKENIZER.toString(), "--model", conf4.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).contains("as language model tiny4 (vocab_size 512, n_ctx 32, n_embd 32, n_layer 2,"
        + " n_head 4 from model tiny4)").contains("lm_head.weight");
    LmCheckpoints.Loaded given = LmCheckpoints.load(run2.toString(), DataType.FLOAT, conf);
    for (String p : lm.parameters().names()) {
      assertThat(given.parameters().value(p)).as(p).isEqualTo(lm.parameters().value(p));
    }
  }

  @Test
  void aDamagedFileOrAWrongModelIsRefusedAndLeavesNoCheckpoint() throws IOException {
    byte[] whole = Files.readAllBytes(weights);
    Path truncated = dir.resolve("truncated.bin");
    Files.write(truncated, Arrays.copyOf(whole, whole.length / 2));
    Path run = dir.resolve("refused");
    assertThat(run("import-weights", "--from", truncated.toString(), "--out", run.toString(), "--tokenizer",
        merges.toString())).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("clip import-weights: Cannot read " + truncated
        + ": it starts like a PyTorch zip archive but is not a complete one");
    assertThat(run).doesNotExist();

    assertThat(run("import-weights", "--from", weights.toString(), "--out", run.toString(), "--tokenizer",
        merges.toString(), "--model", "tiny-vit")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("as model tiny-vit (given)")
        .contains("visual.positional_embedding is [5, 64] in the file, [17, 64] in the model");
    assertThat(run).doesNotExist();

    assertThat(run("export-weights", "--checkpoint", run.toString(), "--format", "onnx", "--out", "x"))
        .isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot export to --format onnx: allowed are safetensors, pytorch");
  }

  @Test
  void evaluateTakesAWeightsFileDirectly() throws IOException {
    Path data = dir.resolve("pets");
    for (String cls : new String[] {"cat", "dog"}) {
      Files.createDirectories(data.resolve(cls));
      for (int i = 0; i < 3; i++) {
        var img = new BufferedImage(20, 24, BufferedImage.TYPE_INT_RGB);
        img.setRGB(i, i, cls.equals("cat") ? 0xff8800 : 0x0088ff);
        ImageIO.write(img, "png", data.resolve(cls).resolve(i + ".png").toFile());
      }
    }
    Path report = dir.resolve("eval");
    assertThat(run("evaluate", "--checkpoint", weights.toString(), "--tokenizer", merges.toString(), "--dataset",
        "folder:" + data, "--task", "zeroshot", "--templates", "default", "--out", report.toString(), "--master",
        "local[1]")).as(err.toString()).isZero();
    assertThat(out.toString()).contains("Imported " + weights)
        .contains("Evaluated open_clip_pytorch_model (step 0) on folder:" + data + ": zeroshot, 6 rows");
    var json = new ObjectMapper().readTree(report.resolve("report.json").toFile());
    assertThat(json.path("zeroshot").path("samples").asLong()).isEqualTo(6);
    assertThat(report.resolve(EvaluateCommand.IMPORTED).resolve(Checkpoints.CHECKPOINTS_DIR)).isDirectory();
  }

  @Test
  void importTakesATokenizerSmallerThanTheEmbeddingAndRefusesALargerOne() throws IOException {
    Path small = dir.resolve("small-merges.txt");
    Files.writeString(small, "#version: 0.2\nc a\nd o\n");
    Path run = dir.resolve("imported-small");
    assertThat(run("import-weights", "--from", weights.toString(), "--out", run.toString(), "--tokenizer",
        small.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).contains("tokenizer: 516 tokens (the model's token embedding has 519 rows; ids from"
        + " 516 on are never produced)");
    var conf = new Configuration();
    assertThat(Checkpoints.loadModel(Checkpoints.resolve(run.toString(), conf), null, conf).trainerState())
        .containsEntry("tokenizer_vocab_size", 516L);

    Path refused = dir.resolve("imported-large");
    assertThat(run("import-weights", "--from", weights.toString(), "--out", refused.toString(), "--tokenizer",
        merges.toString(), "--tokenizer-vocab-size", "520")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot use a tokenizer of 520 tokens (" + merges + ") with a model whose"
        + " token embedding has 519 rows (text.vocab_size): ids 519 to 519 would have no embedding; use at most 519"
        + " tokens");
    assertThat(refused).doesNotExist();
  }

  @Test
  @SuppressWarnings("unchecked")
  void buildDatasetFiltersByClipScoreWithAWeightsFile() throws IOException {
    // The query list as build-queries writes it (a Parquet file), written here without a Spark session.
    Path queries = dir.resolve("queries");
    var schema = org.apache.parquet.schema.MessageTypeParser.parseMessageType("message queries { required binary"
        + " query (UTF8); required binary kind (UTF8); required double score; required int64 rank; }");
    var writeConf = new Configuration();
    org.apache.parquet.hadoop.example.GroupWriteSupport.setSchema(schema, writeConf);
    try (var writer = org.apache.parquet.hadoop.example.ExampleParquetWriter
        .builder(new org.apache.hadoop.fs.Path(queries.resolve("queries.parquet").toUri()))
        .withConf(writeConf).withType(schema).build()) {
      var factory = new org.apache.parquet.example.data.simple.SimpleGroupFactory(schema);
      String[] shapes = {"circle", "square", "triangle", "star", "cross", "ring"};
      for (int i = 0; i < shapes.length; i++) {
        writer.write(factory.newGroup().append("query", shapes[i]).append("kind", "unigram")
            .append("score", (double) (shapes.length - i)).append("rank", (long) i));
      }
    }
    Path dataset = dir.resolve("filtered");
    assertThat(run("build-dataset", "--queries", queries.toString(), "--source", "synthetic:pool", "--out",
        dataset.toString(), "--set", "source.synthetic.count=24", "--set", "image.size=32", "--set",
        "balance.max-per-query=3", "--clip-filter", weights.toString(), "--clip-tokenizer", merges.toString(),
        "--min-similarity", "0.0", "--master", "local[2]")).as(err.toString()).isZero();
    assertThat(out.toString()).contains("CLIP filter " + weights + " at min-similarity 0.0: scored");

    Map<String, Object> stats = new ObjectMapper().readValue(dataset.resolve("stats.json").toFile(), Map.class);
    var clip = (Map<String, Object>) stats.get("clip_filter");
    long admitted = ((Number) stats.get("admitted")).longValue();
    long rejected = ((Number) ((Map<String, Object>) stats.get("rejected")).get("clip_score")).longValue();
    assertThat(admitted).isPositive();
    assertThat(((Number) clip.get("scored")).longValue()).isEqualTo(admitted + rejected);
    assertThat(((Number) clip.get("rejected")).longValue()).isEqualTo(rejected);
    var manifest = new ObjectMapper().readValue(dataset.resolve("manifest.json").toFile(), Map.class);
    assertThat(((Map<String, Object>) manifest.get("settings")).get("filter").toString())
        .contains("min-similarity=0.0");
  }

  @Test
  void evaluateOfAWeightsFileNeedsItsTokenizer() {
    assertThat(run("evaluate", "--checkpoint", weights.toString(), "--dataset", "folder:" + dir, "--out",
        dir.resolve("x").toString())).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot evaluate the weights file " + weights + " without its tokenizer");
    // The tokenizer.merges setting is the default of --tokenizer.
    assertThat(run("evaluate", "--checkpoint", weights.toString(), "--dataset", "folder:" + dir, "--out",
        dir.resolve("x").toString(), "--set", "tokenizer.merges=" + dir.resolve("no-such-merges.txt")))
        .isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot read --tokenizer " + dir.resolve("no-such-merges.txt")
        + ": no such file or directory");
    assertThat(dir.resolve("x")).doesNotExist();
  }

  private static void assertSameValues(ParameterSet expected, ParameterSet actual) {
    assertThat(actual.names()).containsExactlyElementsOf(expected.names());
    for (String n : expected.names()) {
      INDArray a = expected.value(n);
      INDArray b = actual.value(n);
      assertThat(b.shape()).as(n).isEqualTo(a.shape());
      assertThat(b.dup('c').data().asFloat()).as(n).isEqualTo(a.dup('c').data().asFloat());
    }
  }
}
