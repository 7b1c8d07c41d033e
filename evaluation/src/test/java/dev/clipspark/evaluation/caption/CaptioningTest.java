package dev.clipspark.evaluation.caption;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.evaluation.EvalOptions;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.CaptionMetrics;
import dev.clipspark.evaluation.metrics.CaptionTokenizer;
import dev.clipspark.training.lm.Decoding;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

class CaptioningTest {

  private static final String MODEL = "tiny:5";
  private static final StructType SHARD = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("caption", DataTypes.StringType, false),
      DataTypes.createStructField("image", DataTypes.BinaryType, false)});

  @TempDir
  static Path dir;
  static SparkSession spark;
  /** Eight distinct images. */
  static byte[][] pictures = new byte[8][];

  @BeforeAll
  static void setUp() {
    spark = SparkSession.builder().master("local[2]").appName("CaptioningTest")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    var rnd = new SplittableRandom(3);
    for (int i = 0; i < pictures.length; i++) {
      pictures[i] = image(new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256)), rnd);
    }
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static byte[] image(Color colour, SplittableRandom rnd) {
    var image = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setColor(colour);
    g.fillRect(0, 0, 16, 16);
    g.dispose();
    for (int i = 0; i < 20; i++) {
      image.setRGB(rnd.nextInt(16), rnd.nextInt(16), rnd.nextInt(1 << 24));
    }
    var out = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", out);
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  /** A build-dataset-like output: {@code root/shards/*.parquet} with key, caption, image. */
  static String shards(String name, List<Row> rows) {
    Path root = dir.resolve(name);
    spark.createDataFrame(rows, SHARD).repartition(3).write().parquet(root.resolve("shards").toString());
    return root.toString();
  }

  static CaptionOptions options(String... sets) {
    var config = ConfigFactory.parseString(String.join("\n", sets)).withFallback(ConfigFactory.defaultReference())
        .resolve();
    return CaptionOptions.from(new Settings(config));
  }

  static EvalData.Options dataOptions(int partitions) {
    var config = ConfigFactory.parseString("eval.partitions = " + partitions)
        .withFallback(ConfigFactory.defaultReference()).resolve();
    return EvalOptions.from(new Settings(config)).dataOptions();
  }

  /** What the model writes for one image, computed on the driver through the same per-batch code. */
  static String expectedCaption(byte[] image, String id, Decoding decoding) {
    TinyCaptionModel m = TinyCaptionModel.cached(MODEL);
    INDArray prompts = m.prompts(m.features(List.of(m.preprocess(image))));
    return Captioning.caption(m, prompts, new String[] {id}, decoding).get(0).getString(1);
  }

  @Test
  void captionWritesEveryImageWithItsCaptionReferenceAndAPage() throws Exception {
    var rows = new ArrayList<Row>();
    for (int i = 0; i < 6; i++) {
      rows.add(RowFactory.create("k" + i, "reference <" + i + "> & more", pictures[i]));
    }
    rows.add(RowFactory.create("broken", "not an image", "no image here".getBytes(StandardCharsets.UTF_8)));
    String data = shards("caption-run", rows);
    CaptionOptions options = options("lm.decode.strategy = greedy", "lm.decode.max-tokens = 6",
        "eval.captioning.batch-size = 4", "eval.captioning.html-images = 4");
    String out = dir.resolve("caption-out").toString();
    var result = CaptionRun.run(spark, EvalData.Spec.parse("shards:" + data), dataOptions(0), 0, MODEL,
        TinyCaptionModel.LOADER, options, out);
    assertThat(result.captions()).isEqualTo(6);
    assertThat(result.skipped()).isEqualTo(1);
    assertThat(result.shown()).isEqualTo(4);
    List<Row> written = CaptionRun.read(spark, out);
    assertThat(spark.read().parquet(result.parquet()).columns())
        .containsExactly("key", "caption", "reference", "decode", "tokens", "finished");
    for (Row r : written) {
      int i = Integer.parseInt(r.getString(0).substring(1));
      assertThat(r.getString(1)).isEqualTo(expectedCaption(pictures[i], "k" + i, options.decoding()));
      assertThat(r.getString(2)).isEqualTo("reference <" + i + "> & more");
      assertThat(r.getString(3)).isEqualTo("greedy max-tokens=6");
      assertThat(r.getInt(4)).isBetween(0, 6);
    }
    String html = Files.readString(Path.of(result.page()));
    assertThat(html).contains("Content-Security-Policy").contains("greedy max-tokens=6");
    assertThat(html.split("src=\"data:image/jpeg;base64,", -1)).hasSize(5);
    assertThat(html).contains("Reference: reference &lt;0&gt; &amp; more").doesNotContain("reference <0>");
    assertThat(html).contains("Showing 4 of 6 images");
  }

  @Test
  void sampledCaptionsDoNotDependOnPartitionsOrBatches() {
    var rows = new ArrayList<Row>();
    for (int i = 0; i < 8; i++) {
      rows.add(RowFactory.create("k" + i, "c", pictures[i]));
    }
    String data = shards("sampling", rows);
    // Three partitions and batches of 3 in Spark against each image decoded alone on the driver.
    CaptionOptions options = options("lm.decode.strategy = nucleus", "lm.decode.temperature = 2",
        "lm.decode.top-p = 0.95", "lm.decode.seed = 9", "lm.decode.max-tokens = 5", "eval.captioning.batch-size = 3");
    String out = dir.resolve("sampling-out").toString();
    CaptionRun.run(spark, EvalData.Spec.parse("shards:" + data), dataOptions(3), 0, MODEL, TinyCaptionModel.LOADER,
        options, out);
    var captions = new HashSet<String>();
    for (Row r : CaptionRun.read(spark, out)) {
      int i = Integer.parseInt(r.getString(0).substring(1));
      assertThat(r.getString(1)).isEqualTo(expectedCaption(pictures[i], r.getString(0), options.decoding()));
      captions.add(r.getString(1));
    }
    assertThat(captions).hasSizeGreaterThan(1);
    // Another seed gives other captions.
    var other = options.decoding().withSeed(10);
    long differ = java.util.stream.IntStream.range(0, 8).filter(i -> !expectedCaption(pictures[i], "k" + i, other)
        .equals(expectedCaption(pictures[i], "k" + i, options.decoding()))).count();
    assertThat(differ).isPositive();
  }

  @Test
  @SuppressWarnings("unchecked")
  void evaluationScoresTheModelAndBothBaselinesAgainstAllCaptionsOfEachImage() throws Exception {
    Decoding greedy = Decoding.greedy(6);
    var ids = new ArrayList<String>();
    for (byte[] p : pictures) {
      ids.add(dev.clipspark.dataset.build.Hashes.sha256Hex(p));
    }
    // Images 0-3 carry the model's own caption among their references (the model should score well on them);
    // every image has a second, unrelated reference; image 0 appears twice, under two keys with two captions.
    var rows = new ArrayList<Row>();
    for (int i = 0; i < 8; i++) {
      String own = expectedCaption(pictures[i], ids.get(i), greedy);
      rows.add(RowFactory.create("a" + i, i < 4 ? own : "a plain square number " + i, pictures[i]));
    }
    rows.add(RowFactory.create("b0", "another caption of image zero", pictures[0]));
    String data = shards("evaluate", rows);
    CaptionOptions options = options("lm.decode.strategy = greedy", "lm.decode.max-tokens = 6",
        "eval.captioning.batch-size = 3", "eval.captioning.examples = 8", "eval.captioning.shuffle-seed = 4");
    String out = dir.resolve("evaluate-out").toString();
    var request = new dev.clipspark.evaluation.Evaluation.Request(dev.clipspark.evaluation.Evaluation.Task.CAPTIONING,
        MODEL, EvalData.Spec.parse("shards:" + data), null, out, null);
    var evalOptions = EvalOptions.from(new Settings(ConfigFactory.defaultReference().resolve()));
    dev.clipspark.evaluation.Evaluation.captioning(spark, request, evalOptions, options, TinyCaptionModel.LOADER);
    var report = new com.fasterxml.jackson.databind.ObjectMapper().readValue(Path.of(out, "report.json").toFile(),
        Map.class);
    assertThat((Map<String, Object>) report.get("checkpoint")).containsEntry("directory", MODEL)
        .containsEntry("step", 7);
    assertThat((Map<String, Object>) report.get("dataset")).containsEntry("rows", 9);
    var c = (Map<String, Object>) report.get("captioning");
    assertThat(c).containsEntry("rows", 9).containsEntry("images", 8).containsEntry("references", 9)
        .containsEntry("skipped", 0);
    var captions = new HashMap<String, Map<String, String>>();
    var examples = (List<Map<String, Object>>) c.get("examples");
    assertThat(examples).hasSize(8);
    assertThat(examples.get(0)).containsEntry("key", "a0").containsKeys("image_jpeg_base64", "references");
    for (var e : examples) {
      for (String v : CaptioningEvaluation.VARIANTS) {
        captions.computeIfAbsent(v, x -> new HashMap<>()).put((String) e.get("image_sha256"), (String) e.get(v));
      }
    }
    var sorted = new ArrayList<>(ids);
    sorted.sort(null);
    int[] perm = CaptioningEvaluation.derangement(8, 4);
    var refs = new ArrayList<List<List<String>>>();
    var tokens = new HashMap<String, List<List<String>>>();
    for (int j = 0; j < 8; j++) {
      String id = sorted.get(j);
      int i = ids.indexOf(id);
      // The model captions each image from its own features; the shuffled baseline gives it the features of the
      // image perm[j] positions on, so its caption is that image's; the no-image caption is one for all.
      assertThat(captions.get("model").get(id)).isEqualTo(expectedCaption(pictures[i], id, greedy));
      assertThat(perm[j]).isNotEqualTo(j);
      assertThat(captions.get("shuffled").get(id)).isEqualTo(captions.get("model").get(sorted.get(perm[j])));
      assertThat(captions.get("no_image").get(id)).isEqualTo(captions.get("no_image").get(sorted.get(0)));
      for (String v : CaptioningEvaluation.VARIANTS) {
        tokens.computeIfAbsent(v, x -> new ArrayList<>()).add(CaptionTokenizer.tokenize(captions.get(v).get(id)));
      }
      var mine = new ArrayList<List<String>>();
      rows.stream().filter(row -> java.util.Arrays.equals((byte[]) row.get(2), pictures[i])).map(row -> row.getString(1))
          .sorted().distinct().forEach(x -> mine.add(CaptionTokenizer.tokenize(x)));
      refs.add(mine);
    }
    assertThat(refs.get(sorted.indexOf(ids.get(0)))).hasSize(2);
    var scores = new HashMap<String, Double>();
    for (String v : CaptioningEvaluation.VARIANTS) {
      var m = (Map<String, Object>) c.get(v);
      assertThat((Double) m.get("cider_d")).as(v)
          .isCloseTo(CaptionMetrics.ciderD(tokens.get(v), refs).score(), within(1e-12));
      assertThat((Double) m.get("bleu4")).as(v).isCloseTo(CaptionMetrics.bleu(tokens.get(v), refs).bleu4(),
          within(1e-12));
      scores.put(v, (Double) m.get("cider_d"));
    }
    // Half of the images carry the model's own caption: the model beats both baselines.
    assertThat(scores.get("model")).isGreaterThan(scores.get("shuffled")).isGreaterThan(scores.get("no_image"));
    String html = Files.readString(Path.of(out, "report.html"));
    assertThat(html).contains("id=\"metrics-captioning\"").contains("shuffled images (baseline)")
        .contains("no image (baseline)").contains("id=\"caption-example-7\"").contains("Captioning: tiny-caption")
        .contains("another caption of image zero");
  }

  @Test
  @SuppressWarnings("unchecked")
  void labelWordsCountTheCaptionsThatNameEachWordOfTheImagesClass() {
    var ids = List.of("i1", "i2", "i3", "i4");
    var labels = Map.of("i1", 0, "i2", 1, "i3", 0);   // i4 has no label and is not counted
    var classes = List.of("red_circle", "light-blue square");
    var captions = Map.of(
        "model", Map.of("i1", "A red circle.", "i2", "a light blue circle", "i3", "Red, round", "i4", "x"),
        "shuffled", Map.of("i1", "a square", "i2", "red", "i3", "a circle", "i4", "x"),
        "no_image", Map.of("i1", "", "i2", "", "i3", "redcircle", "i4", "x"));
    Map<String, Object> w = CaptioningEvaluation.labelWords(ids, labels, classes, captions);
    assertThat(w.get("images")).isEqualTo(3);
    // model: i1 names red and circle; i2 names light and blue but not square; i3 names red only.
    assertThat((Map<String, Object>) w.get("model")).containsEntry("all", 1.0 / 3)
        .containsEntry("by_position", List.of(3.0 / 3, 2.0 / 3, 0.0));
    assertThat((Map<String, Object>) w.get("shuffled")).containsEntry("all", 0.0)
        .containsEntry("by_position", List.of(0.0, 1.0 / 3, 0.0));
    // A word must be a whole token: "redcircle" names neither.
    assertThat((Map<String, Object>) w.get("no_image")).containsEntry("all", 0.0)
        .containsEntry("by_position", List.of(0.0, 0.0, 0.0));
  }

  @Test
  void aSingleCycleLeavesNoImageWithItsOwnFeatures() {
    for (int n = 2; n < 30; n++) {
      int[] p = CaptioningEvaluation.derangement(n, n);
      var seen = new HashSet<Integer>();
      for (int i = 0; i < n; i++) {
        assertThat(p[i]).isNotEqualTo(i);
        seen.add(p[i]);
      }
      assertThat(seen).hasSize(n);
    }
    assertThat(CaptioningEvaluation.derangement(10, 1)).isEqualTo(CaptioningEvaluation.derangement(10, 1))
        .isNotEqualTo(CaptioningEvaluation.derangement(10, 2));
  }

  @Test
  void gridFeaturesKeepTheirShapeThroughTheFeatureRows() {
    // A grid model's features are [n, k, c]: each row stores them flat with their shape, and stack() rebuilds them.
    var rows = List.of(
        RowFactory.create("a", new Float[] {1f, 2f, 3f, 4f, 5f, 6f}, new Integer[] {2, 3}),
        RowFactory.create("b", new Float[] {7f, 8f, 9f, 10f, 11f, 12f}, new Integer[] {2, 3}));
    INDArray stacked = Captioning.stack(spark.createDataFrame(rows, Captioning.FEATURES).orderBy("id")
        .collectAsList());
    assertThat(stacked.shape()).containsExactly(2, 2, 3);
    assertThat(stacked.getFloat(1, 0, 2)).isEqualTo(9f);
    assertThat(stacked.getFloat(0, 1, 0)).isEqualTo(4f);
  }

  @Test
  void badSettingsAreNamed() {
    assertThatThrownBy(() -> options("lm.decode.strategy = topk"))
        .hasMessage("Cannot set lm.decode.strategy to topk: must be greedy, beam or nucleus");
    assertThatThrownBy(() -> options("eval.captioning.batch-size = 0"))
        .hasMessageContaining("eval.captioning.batch-size");
    assertThatThrownBy(() -> options("lm.decode.top-p = 0"))
        .hasMessage("Cannot set lm.decode.top-p to 0.0: must be above 0 and at most 1");
  }
}
