package dev.clipspark.training.score;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.build.Schemas;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.image.ImageOptions;
import dev.clipspark.dataset.image.ImageProcessor;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import dev.clipspark.dataset.source.SyntheticShapes;
import dev.clipspark.training.data.DataFixtures;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import dev.clipspark.training.weights.ExternalWeights;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The CLIP scorer of build-dataset's filter with a tiny CLIP made here: its scores equal the cosine computed
 * directly with the model, and a build with it admits only pairs above the threshold and refills the queries.
 */
class ClipScorerTest {

  /** A tiny ViT CLIP: 16-pixel images, a 600-row token embedding and a smaller, 519-token tokenizer. */
  static final ModelConfig MODEL = new ModelConfig("scorer-test", 16, VisionConfig.vit(16, 1, 64, 8, 64),
      new TextConfig(12, 600, 64, 1, 1));
  static final List<String> SHAPES = SyntheticShapes.shapes();

  @TempDir static Path dir;
  static SparkSession spark;
  static ParameterSet parameters;
  static Path weights;
  static Path merges;
  static String checkpointDir;
  static ClipTokenizer tokenizer;

  @BeforeAll
  static void start() throws IOException {
    spark = DataFixtures.spark("ClipScorerTest");
    parameters = ClipParameters.initialize(MODEL, 11, DataType.FLOAT);
    weights = dir.resolve("model.safetensors");
    ExternalWeights.write(MODEL, parameters, weights, ExternalWeights.SAFETENSORS);
    merges = dir.resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\nc i\nr e\ns t\nt r\nq u\n");
    tokenizer = ClipTokenizer.load(merges.toString(), 519);
    checkpointDir = dir.resolve("imported").toString();
    ExternalWeights.saveCheckpoint(ExternalWeights.read(weights, null), merges.toString(), checkpointDir,
        new Configuration());
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** The cosine of one pair computed directly: the model's features of the preprocessed image and the caption. */
  static double direct(byte[] image, String caption) {
    ClipModel clip = ClipModel.create(MODEL, parameters);
    clip.setTraining(false);
    float[] pixels = ImagePreprocessor.eval(16, ImagePreprocessor.Resample.BICUBIC).apply(image, null);
    INDArray x = clip.encodeImage(Nd4j.createFromArray(pixels).reshape('c', 1, 3, 16, 16)).castTo(DataType.DOUBLE);
    INDArray y = clip.encodeText(Nd4j.createFromArray(tokenizer.tokenize(List.of(caption), 12, true)))
        .castTo(DataType.DOUBLE);
    return x.mul(y).sumNumber().doubleValue() / (x.norm2Number().doubleValue() * y.norm2Number().doubleValue());
  }

  /** A PNG of {@code w x h} pixels whose colours and stripe depend on {@code n}. */
  static byte[] png(int n, int w, int h) {
    var img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
    var g = img.createGraphics();
    g.setColor(new java.awt.Color((n * 67) % 256, (n * 31) % 256, (n * 113) % 256));
    g.fillRect(0, 0, w, h);
    g.setColor(java.awt.Color.WHITE);
    g.fillRect((n * 3) % (w - 4), 0, 4, h);
    g.dispose();
    var out = new java.io.ByteArrayOutputStream();
    try {
      javax.imageio.ImageIO.write(img, "png", out);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  static BuildOptions.ClipFilter filter(String checkpoint, String tokenizerFile, double min) {
    return new BuildOptions.ClipFilter(checkpoint, tokenizerFile, min, 5);
  }

  @Test
  void scoresAreTheCosineOfTheDirectEmbeddingsForAWeightsFileAndACheckpoint() {
    var images = new ArrayList<byte[]>();
    var captions = new ArrayList<String>();
    for (int i = 0; i < 7; i++) {
      images.add(png(i, 20 + 5 * i, 24));
      captions.add("a " + (i % 2 == 0 ? "red " : "") + SHAPES.get(i % SHAPES.size()) + " number " + i);
    }
    ClipScorer fromFile = ClipScorer.open(filter(weights.toString(), merges.toString(), 0.28), new Configuration());
    ClipScorer fromCheckpoint = ClipScorer.open(filter(checkpointDir, "", 0.28), new Configuration());
    float[] a = fromFile.score(images, captions);
    float[] b = fromCheckpoint.score(images, captions);
    for (int i = 0; i < images.size(); i++) {
      assertThat((double) a[i]).as(captions.get(i)).isCloseTo(direct(images.get(i), captions.get(i)), within(1e-5));
      assertThat(b[i]).isEqualTo(a[i]);
    }
    // Not all alike: the scores carry information.
    var distinct = new java.util.HashSet<Float>();
    for (float v : a) {
      distinct.add(v);
    }
    assertThat(distinct).hasSizeGreaterThan(3);
    assertThat(fromFile.fingerprint()).contains(weights.toString()).isNotEqualTo(fromCheckpoint.fingerprint());
    assertThat(fromFile.model().text().vocabSize()).isEqualTo(600);
  }

  @Test
  @SuppressWarnings("unchecked")
  void aBuildWithTheFilterAdmitsOnlyPairsAboveTheThresholdAndRefillsTheQueries() throws IOException {
    // Every candidate of the pool with its direct score, computed here on the image the build stores.
    String settings = "source.synthetic.count = 30\nsource.synthetic.image-size = 32\nimage.size = 32"
        + "\nimage.min-side = 16\nsource.partitions = 2\nbalance.max-per-query = 2"
        + "\nfilter.clip.checkpoint = \"" + weights + "\"\nfilter.clip.tokenizer = \"" + merges + "\""
        + "\nfilter.clip.batch-size = 4";
    var direct = new HashMap<String, Double>();
    var query = new HashMap<String, String>();
    try (var images = new ImageProcessor(ImageOptions.from(new Settings(ConfigFactory.parseString(settings)
        .withFallback(ConfigFactory.defaultReference()).resolve())))) {
      for (int i = 0; i < 30; i++) {
        Candidate c = SyntheticShapes.pair(i, 7, 32);
        direct.put(c.key(), direct(images.process(c.imageBytes()).jpeg(), c.caption()));
        query.put(c.key(), SyntheticShapes.classOf(i).shape());
      }
    }
    double threshold = direct.values().stream().sorted().toList().get(15);
    String queries = dir.resolve("queries").toString();
    var queryRows = new ArrayList<Row>();
    for (int i = 0; i < SHAPES.size(); i++) {
      queryRows.add(RowFactory.create(SHAPES.get(i), "unigram", (double) (SHAPES.size() - i), (long) i));
    }
    spark.createDataFrame(queryRows, new StructType().add("query", DataTypes.StringType)
            .add("kind", DataTypes.StringType).add("score", DataTypes.DoubleType).add("rank", DataTypes.LongType))
        .coalesce(1).write().parquet(queries + "/queries.parquet");

    // The pool, filtered at the median score, at most 2 pairs per query.
    Settings s = new Settings(ConfigFactory.parseString(settings + "\nfilter.clip.min-similarity = " + threshold)
        .withFallback(ConfigFactory.defaultReference()).resolve());
    BuildOptions options = BuildOptions.from(s);
    ClipScorer scorer = ClipScorer.open(options.clipFilter(), new Configuration());
    CandidateSource source = Sources.parse("synthetic:pool", SourceOptions.from(s));
    String out = dir.resolve("filtered").toString();
    int loads = ClipScorer.LOADS.get();
    DatasetBuild.run(spark, new DatasetBuild.Request(queries, List.of(source), out, false, scorer), options);
    // The tasks (local mode: in this JVM) used the weights open() read, whatever the tasks and batches.
    assertThat(ClipScorer.LOADS.get()).isEqualTo(loads);

    List<Row> rows = spark.read().parquet(out + "/shards").collectAsList();
    var admittedPerQuery = new HashMap<String, Integer>();
    for (Row r : rows) {
      float similarity = r.getAs(Schemas.CLIP_SIMILARITY);
      String key = r.getAs("key");
      assertThat((double) similarity).as(key).isGreaterThanOrEqualTo(threshold)
          .isCloseTo(direct.get(key), within(1e-5));
      admittedPerQuery.merge(query.get(key), 1, Integer::sum);
    }
    // Each query admits as many passing pairs as it has, up to its cap: rejected ones gave their place away.
    for (String q : SHAPES) {
      long passing = direct.entrySet().stream()
          .filter(e -> query.get(e.getKey()).equals(q) && e.getValue() >= threshold).count();
      assertThat(admittedPerQuery.getOrDefault(q, 0)).as(q).isEqualTo((int) Math.min(2, passing));
    }
    Map<String, Object> stats = new ObjectMapper().readValue(new File(out, "stats.json"), Map.class);
    List<Row> scored = spark.read().option("recursiveFileLookup", "true")
        .parquet(out + "/_work/scored").collectAsList();
    long below = scored.stream().filter(r -> r.<Float>getAs("similarity") < threshold).count();
    assertThat(below).isPositive();
    assertThat(((Number) ((Map<String, Object>) stats.get("rejected")).get("clip_score")).longValue())
        .isEqualTo(below);
    assertThat(scored).hasSize(rows.size() + (int) below);
    for (Row r : scored) {
      assertThat((double) r.<Float>getAs("similarity")).isCloseTo(direct.get(r.<String>getAs("key")), within(1e-5));
    }
    // A query that lost candidates to the filter still filled its cap: the rounds refilled it.
    assertThat(scored.stream().filter(r -> r.<Float>getAs("similarity") < threshold)
        .map(r -> query.get(r.<String>getAs("key"))))
        .anyMatch(q -> admittedPerQuery.getOrDefault(q, 0) == 2);
  }

  @Test
  void badWeightsOrTokenizersStopTheJobWithTheKey() throws IOException {
    Configuration conf = new Configuration();
    Path missing = dir.resolve("no-such.pt");
    assertThatThrownBy(() -> ClipScorer.open(filter(missing.toString(), "", 0.3), conf))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set filter.clip.checkpoint to " + missing
            + ": must name a file or directory that exists; nothing is there");
    Path junk = dir.resolve("junk.pt");
    Files.writeString(junk, "not weights");
    assertThatThrownBy(() -> ClipScorer.open(filter(junk.toString(), merges.toString(), 0.3), conf))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageStartingWith("Cannot set filter.clip.checkpoint to " + junk + ": must be a ClipSpark checkpoint"
            + " or training output directory, or a weights file import-weights reads (.pt, .bin, .safetensors):"
            + " Cannot read weights " + junk);
    assertThatThrownBy(() -> ClipScorer.open(filter(weights.toString(), "", 0.3), conf))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageStartingWith("Cannot set filter.clip.tokenizer to \"\": must name the merges file the weights in "
            + weights + " were trained with");
    Path empty = dir.resolve("empty-merges.txt");
    Files.writeString(empty, "#version: 0.2\n");
    assertThatThrownBy(() -> ClipScorer.open(filter(weights.toString(), empty.toString(), 0.3), conf))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageContaining("Cannot set filter.clip.tokenizer to " + empty + ": must be a merges file that fits"
            + " model model: Cannot load merges file " + empty + ": it has no merges");
  }
}
