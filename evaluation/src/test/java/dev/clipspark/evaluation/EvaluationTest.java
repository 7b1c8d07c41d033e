package dev.clipspark.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.data.IdxFilesTestSupport;
import dev.clipspark.evaluation.metrics.ClassificationMetrics;
import dev.clipspark.evaluation.metrics.RetrievalMetrics;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evaluation jobs on a real local Spark session, checked against the same numbers computed directly. */
class EvaluationTest {

  @TempDir static Path dir;
  static SparkSession spark;
  static String checkpoint;
  static Path folders;

  @BeforeAll
  static void setUp() throws Exception {
    spark = SparkSession.builder().master("local[2]").appName("EvaluationTest")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    checkpoint = EvalFixtures.checkpoint(dir.resolve("run"), 7);
    folders = dir.resolve("colours");
    EvalFixtures.colourFolders(folders, 14, 6, 11);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static EvalOptions options(String... sets) {
    return EvalFixtures.options(sets);
  }

  static Evaluation.Request request(Evaluation.Task task, String spec, Path out) {
    return new Evaluation.Request(task, checkpoint, EvalData.Spec.parse(spec), null, out.toString(), "both");
  }

  static List<Path> testImages() throws Exception {
    try (Stream<Path> s = Files.walk(folders.resolve("test"))) {
      return s.filter(p -> p.toString().endsWith(".png")).sorted().toList();
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void zeroShotOnSparkEqualsTheDirectComputationForAnyPartitioning() throws Exception {
    Map<String, Object> one = Evaluation.run(spark, request(Evaluation.Task.ZEROSHOT, "folder:" + folders,
        dir.resolve("zs1")), options("eval.partitions = 1", "eval.templates = imagenet",
        "eval.compare-single-template = true", "eval.top-k = 2"));
    Map<String, Object> three = Evaluation.run(spark, request(Evaluation.Task.ZEROSHOT, "folder:" + folders,
        dir.resolve("zs3")), options("eval.partitions = 3", "eval.templates = imagenet",
        "eval.compare-single-template = true", "eval.top-k = 2", "eval.batch-size = 4"));
    var a = (Map<String, Object>) one.get("zeroshot");
    var b = (Map<String, Object>) three.get("zeroshot");
    var json = new ObjectMapper();
    assertThat(json.writeValueAsString(b)).isEqualTo(json.writeValueAsString(a));

    // The same numbers, computed here without Spark.
    var clip = ClipEvaluator.load(checkpoint);
    var images = new ArrayList<byte[]>();
    var labels = new ArrayList<Integer>();
    for (Path p : testImages()) {
      images.add(Files.readAllBytes(p));
      labels.add(EvalFixtures.COLOURS.indexOf(p.getParent().getFileName().toString()));
    }
    float[][] embeddings = clip.encodeImages(images);
    for (var pair : List.of(List.of(Prompts.templates("imagenet").entries(), a),
        List.of(List.of("a photo of a {}."), (Map<String, Object>) a.get("single_template")))) {
      var classifier = clip.classifier(EvalFixtures.COLOURS, (List<String>) pair.get(0));
      float[][] logits = new float[embeddings.length][];
      for (int i = 0; i < embeddings.length; i++) {
        logits[i] = classifier.logits(embeddings[i]);
      }
      var expected = ClassificationMetrics.of(labels.stream().mapToInt(Integer::intValue).toArray(), logits, 2);
      var got = (Map<String, Object>) pair.get(1);
      assertThat((Double) got.get("top1")).isEqualTo(expected.top1());
      assertThat((Double) got.get("top2")).isEqualTo(expected.topK());
      assertThat((Double) got.get("mean_per_class_recall")).isEqualTo(expected.meanPerClassRecall());
    }
    assertThat((long[][]) a.get("confusion_matrix")).isEqualTo(
        ClassificationMetrics.of(labels.stream().mapToInt(Integer::intValue).toArray(),
            logitsOf(clip, embeddings, Prompts.templates("imagenet").entries()), 2).confusion());
    assertThat(a.get("templates")).isEqualTo(80);
    assertThat(one.get("classes")).isEqualTo(EvalFixtures.COLOURS);

    var tree = json.readTree(dir.resolve("zs1/report.json").toFile());
    assertThat(tree.get("checkpoint").get("step").asLong()).isEqualTo(3);
    assertThat(tree.get("learning_curve")).hasSize(3);
    assertThat(tree.get("templates").get("templates")).hasSize(80);
    assertThat(Files.readString(dir.resolve("zs1/report.html"))).contains("<img");
  }

  static float[][] logitsOf(ClipEvaluator clip, float[][] embeddings, List<String> templates) {
    var classifier = clip.classifier(EvalFixtures.COLOURS, templates);
    float[][] out = new float[embeddings.length][];
    for (int i = 0; i < embeddings.length; i++) {
      out[i] = classifier.logits(embeddings[i]);
    }
    return out;
  }

  @Test
  void ensemblingAveragesNormalisedPromptEmbeddingsAndRenormalises() {
    var clip = ClipEvaluator.load(checkpoint);
    List<String> templates = List.of("a photo of a {}.", "a drawing of the {}.", "{}");
    var classifier = clip.classifier(List.of("red"), templates);
    float[][] prompts = clip.encodeTexts(List.of("a photo of a red.", "a drawing of the red.", "red"));
    float[] mean = new float[prompts[0].length];
    for (float[] p : prompts) {
      assertThat(Vectors.dot(p, p)).isCloseTo(1.0, within(1e-5));
      for (int j = 0; j < mean.length; j++) {
        mean[j] += p[j] / 3;
      }
    }
    double norm = Math.sqrt(Vectors.dot(mean, mean));
    for (int j = 0; j < mean.length; j++) {
      assertThat((double) classifier.weights()[0][j]).isCloseTo(mean[j] / norm, within(1e-6));
    }
    // Logits are 100 x cosine.
    assertThat((double) classifier.logits(prompts[2])[0]).isCloseTo(100 * Vectors.dot(prompts[2], mean) / norm,
        within(1e-3));
  }

  @Test
  @SuppressWarnings("unchecked")
  void aLinearProbeOnRawPixelsSeparatesColoursAndChoosesOnValidation() {
    var req = new Evaluation.Request(Evaluation.Task.LINEAR_PROBE, null, EvalData.Spec.parse("folder:" + folders),
        null, dir.resolve("probe").toString(), "both");
    Map<String, Object> report = Evaluation.run(spark, req, options("eval.probe.features = pixels",
        "eval.probe.max-iterations = 100", "eval.probe.reg-params = [1e-4, 1e-2, 10.0]",
        "eval.probe.validation-fraction = 0.3"));
    var probe = (Map<String, Object>) report.get("linear_probe");
    assertThat(probe.get("features")).isEqualTo("pixels");
    assertThat(probe.get("dimensions")).isEqualTo(3 * 20 * 20);
    assertThat((long) probe.get("train_rows") + (long) probe.get("validation_rows")).isEqualTo(42);
    assertThat(probe.get("test_rows")).isEqualTo(18L);
    assertThat((List<Object>) probe.get("sweep")).hasSize(3);
    assertThat((Double) probe.get("test_accuracy")).as("colours are linearly separable in pixel space")
        .isGreaterThanOrEqualTo(0.95);
    assertThat(List.of(1e-4, 1e-2, 10.0)).contains((Double) probe.get("chosen_reg_param"));
  }

  @Test
  @SuppressWarnings("unchecked")
  void retrievalRanksEveryCaptionAndImageAsTheDirectComputationDoes() throws Exception {
    // A CSV of image paths and captions; image 0 has two captions.
    List<Path> images = testImages().subList(0, 6);
    var csv = new StringBuilder("key,image,caption\n");
    var captions = new ArrayList<String>();
    for (int i = 0; i < images.size(); i++) {
      String colour = images.get(i).getParent().getFileName().toString();
      String caption = "a " + colour + " square number " + i;
      csv.append("img").append(i).append(',').append(images.get(i)).append(',').append(caption).append('\n');
      captions.add(caption);
    }
    csv.append("img0,").append(images.get(0)).append(",a second caption of zero\n");
    Path table = dir.resolve("captions.csv");
    Files.writeString(table, csv);
    Map<String, Object> report = Evaluation.run(spark, request(Evaluation.Task.RETRIEVAL, "table:" + table,
        dir.resolve("retrieval")), options("eval.retrieval.examples = 2"));
    var r = (Map<String, Object>) report.get("retrieval");
    assertThat(r.get("images")).isEqualTo(6);
    assertThat(r.get("texts")).isEqualTo(7);
    assertThat(r).containsEntry("rows", 7L).containsEntry("distinct_images", 6L)
        .containsEntry("distinct_captions", 7L).containsEntry("dedupe_captions", true);

    var clip = ClipEvaluator.load(checkpoint);
    var bytes = new ArrayList<byte[]>();
    for (Path p : images) {
      bytes.add(Files.readAllBytes(p));
    }
    float[][] u = clip.encodeImages(bytes);
    // Captions in (key, caption) order, as the job sorts them.
    List<String> texts = new ArrayList<>(captions);
    texts.add(1, "a second caption of zero");
    List<String> sortedFirst = List.of(texts.get(0), texts.get(1));
    texts.set(0, sortedFirst.stream().sorted().toList().get(0));
    texts.set(1, sortedFirst.stream().sorted().toList().get(1));
    int[] owner = {0, 0, 1, 2, 3, 4, 5};
    float[][] v = clip.encodeTexts(texts);
    int[] i2t = new int[6];
    for (int i = 0; i < 6; i++) {
      float[] s = new float[7];
      for (int j = 0; j < 7; j++) {
        s[j] = (float) Vectors.dot(u[i], v[j]);
      }
      i2t[i] = RetrievalMetrics.rank(s, i == 0 ? new int[] {0, 1} : new int[] {i + 1});
    }
    int[] t2i = new int[7];
    for (int j = 0; j < 7; j++) {
      float[] s = new float[6];
      for (int i = 0; i < 6; i++) {
        s[i] = (float) Vectors.dot(v[j], u[i]);
      }
      t2i[j] = RetrievalMetrics.rank(s, new int[] {owner[j]});
    }
    var expectedI2t = RetrievalMetrics.ofRanks(i2t, 7);
    var expectedT2i = RetrievalMetrics.ofRanks(t2i, 6);
    var gotI2t = (Map<String, Object>) r.get("image_to_text");
    var gotT2i = (Map<String, Object>) r.get("text_to_image");
    assertThat((Double) gotI2t.get("recall@1")).isCloseTo(expectedI2t.recallAt1(), within(1e-12));
    assertThat((Double) gotI2t.get("median_rank")).isEqualTo(expectedI2t.medianRank());
    assertThat((Double) gotT2i.get("recall@5")).isCloseTo(expectedT2i.recallAt5(), within(1e-12));
    assertThat((Double) gotT2i.get("median_rank")).isEqualTo(expectedT2i.medianRank());
    var examples = (List<Map<String, Object>>) r.get("examples");
    assertThat(examples).hasSize(2);
    assertThat(examples.get(0).get("key")).isEqualTo("img0");
    assertThat((String) examples.get(0).get("image_jpeg_base64")).isNotEmpty();
    assertThat((List<Object>) examples.get(0).get("top")).hasSize(5);
    assertThat(Files.readString(dir.resolve("retrieval/report.html")))
        .contains((String) ((List<Map<String, Object>>) examples.get(1).get("top")).get(0).get("caption"));
  }

  @Test
  void embedWritesImageAndTextEmbeddingsWithTheirKeys() {
    List<Row> rows;
    var req = new Evaluation.Request(Evaluation.Task.EMBED, checkpoint, EvalData.Spec.parse("folder:" + folders), null,
        dir.resolve("embed").toString(), "image");
    Evaluation.run(spark, req, options());
    rows = spark.read().parquet(dir.resolve("embed/embeddings").toString()).collectAsList();
    assertThat(rows).hasSize(18);
    assertThat(rows.get(0).schema().fieldNames()).contains("key", "label", "image_embedding");
    assertThat(rows.get(0).getList(rows.get(0).fieldIndex("image_embedding"))).hasSize(64);
  }

  @Test
  void aCorruptImageIsCountedAndSkipped() throws Exception {
    Path broken = dir.resolve("broken");
    EvalFixtures.colourFolders(broken, 1, 3, 5);
    Files.write(broken.resolve("test/red/zz-corrupt.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
    @SuppressWarnings("unchecked")
    var z = (Map<String, Object>) Evaluation.run(spark, request(Evaluation.Task.ZEROSHOT, "folder:" + broken,
        dir.resolve("broken-out")), options("eval.templates = default")).get("zeroshot");
    assertThat(z.get("skipped_images")).isEqualTo(1L);
    assertThat(z.get("samples")).isEqualTo(9L);
  }

  @Test
  void badInputIsRefusedWithTheValueAndWhatIsAllowed() throws Exception {
    assertThatThrownBy(() -> EvalData.Spec.parse("jpeg:/x")).hasMessageContaining("unknown kind \"jpeg\"")
        .hasMessageContaining("idx:, folder:, table:, shards:");
    assertThatThrownBy(() -> Evaluation.run(spark, request(Evaluation.Task.ZEROSHOT, "folder:" + folders,
        dir.resolve("x")), options("eval.classes = \"" + writeClasses("only-one") + "\"")))
        .hasMessageContaining("lists 1 names but the dataset has 3 class directories");
    Path idx = Files.createDirectories(dir.resolve("plain-idx"));
    IdxFilesTestSupport.write(idx, "t10k", new byte[][] {new byte[4]}, new int[] {0}, 2, 2);
    assertThatThrownBy(() -> Evaluation.run(spark, request(Evaluation.Task.ZEROSHOT, "idx:" + idx, dir.resolve("y")),
        options())).hasMessageContaining("IDX files carry none; pass --classes FILE");
    assertThatThrownBy(() -> Prompts.templates("imagenet-1k")).hasMessageContaining(
        "shipped lists are default, imagenet, fashion-mnist, shapes");
    assertThatThrownBy(() -> options("eval.single-template = \"a photo\"")).hasMessage(
        "Cannot set eval.single-template to \"a photo\": must contain {} where the class name goes");
    assertThatThrownBy(() -> options("eval.probe.features = text")).hasMessageContaining(
        "must be one of image, pixels");
  }

  static String writeClasses(String... names) throws Exception {
    File f = Files.createTempFile(dir, "classes", ".txt").toFile();
    Files.writeString(f.toPath(), String.join("\n", names));
    return f.getPath();
  }

  @Test
  void checkpointsResolveFromARunDirectoryOrAStepDirectory() {
    var fromRun = ClipEvaluator.load(checkpoint);
    var fromStep = ClipEvaluator.load(fromRun.checkpointDirectory());
    assertThat(fromStep.checkpointDirectory()).isEqualTo(fromRun.checkpointDirectory());
    assertThat(fromRun.checkpointDirectory()).endsWith("checkpoints/step-0000000003");
    assertThatThrownBy(() -> ClipEvaluator.load(dir.resolve("nothing").toString()))
        .hasMessageContaining("Cannot find a checkpoint in");
  }

  @Test
  void theSameRowsAreEvaluatedWhateverThePartitioningWhenLimited() {
    var a = EvalData.read(spark, EvalData.Spec.parse("folder:" + folders), EvalData.Split.TRAIN,
        options("eval.partitions = 1").dataOptions());
    var b = EvalData.read(spark, EvalData.Spec.parse("folder:" + folders), EvalData.Split.TRAIN,
        options("eval.partitions = 4").dataOptions());
    var keysA = Evaluation.limit(a.rows(), 10).select("key").as(org.apache.spark.sql.Encoders.STRING())
        .collectAsList().stream().sorted().toList();
    var keysB = Evaluation.limit(b.rows(), 10).select("key").as(org.apache.spark.sql.Encoders.STRING())
        .collectAsList().stream().sorted().toList();
    assertThat(keysA).hasSize(10).isEqualTo(keysB);
    assertThat(a.classes()).isEqualTo(EvalFixtures.COLOURS);
  }
}
