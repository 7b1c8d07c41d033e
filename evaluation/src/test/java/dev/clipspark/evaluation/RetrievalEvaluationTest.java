package dev.clipspark.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.dataset.build.Hashes;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.RetrievalMetrics;
import dev.clipspark.training.tokenizer.TextCleaner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Retrieval's two protocols: the ranking core on vectors written by hand, and whole runs on a dataset in
 * build-dataset's shard format where three images share one caption (written three ways) and one image, stored
 * under two keys, has two captions.
 */
class RetrievalEvaluationTest {

  @TempDir static Path dir;
  static SparkSession spark;
  static String checkpoint;
  static Path wit;
  /** Six distinct images. */
  static byte[][] pictures = new byte[6][];

  /**
   * The shard rows: key, caption, picture. Pictures 0-2 share "icon" (three spellings that clean alike); picture 3
   * is stored twice (keys k3 and k6) with two different captions; picture 4 carries picture 3's first caption
   * written with an HTML entity and capitals; picture 5 is stored twice with the same caption.
   */
  static final Object[][] ROWS = {
      {"k0", "Icon", 0}, {"k1", "icon", 1}, {"k2", "ICON  ", 2}, {"k3", "a red square", 3},
      {"k4", "A red&nbsp;square", 4}, {"k5", "a green square", 5}, {"k6", "a photo of a red thing", 3},
      {"k7", "a green square", 5}};
  /** The distinct cleaned captions, sorted (the job's text order). */
  static final List<String> CAPTIONS = List.of("a green square", "a photo of a red thing", "a red square", "icon");
  /** Each distinct picture's captions (indices into CAPTIONS), written out by hand. */
  static final int[][] CAPTIONS_OF = {{3}, {3}, {3}, {1, 2}, {2}, {0}};
  /** Each caption's pictures. */
  static final int[][] IMAGES_OF = {{5}, {3}, {3, 4}, {0, 1, 2}};

  @BeforeAll
  static void setUp() throws Exception {
    spark = SparkSession.builder().master("local[2]").appName("RetrievalEvaluationTest")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    checkpoint = EvalFixtures.checkpoint(dir.resolve("run"), 7);
    var rnd = new SplittableRandom(21);
    for (int i = 0; i < pictures.length; i++) {
      pictures[i] = EvalFixtures.colourImage(i % 3, rnd, 20);
    }
    assertThat(Arrays.stream(pictures).map(Hashes::sha256Hex).distinct().count()).isEqualTo(6);
    var rows = new ArrayList<EvalFixtures.ShardRow>();
    for (Object[] r : ROWS) {
      rows.add(new EvalFixtures.ShardRow((String) r[0], (String) r[1], pictures[(Integer) r[2]]));
    }
    wit = dir.resolve("wit");
    EvalFixtures.shards(spark, wit, rows, 3);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static EvalOptions options(String... sets) {
    return EvalFixtures.options(sets);
  }

  static RetrievalEvaluation.Result run(EvalOptions options) {
    var data = EvalData.read(spark, EvalData.Spec.parse("shards:" + wit), EvalData.Split.TEST, options.dataOptions());
    var clip = ClipEvaluator.cached(checkpoint, options.imageResample(), new org.apache.hadoop.conf.Configuration());
    return RetrievalEvaluation.run(spark, clip, data, options);
  }

  // ---- the ranking core, on vectors written by hand

  @Test
  void sharedCaptionsAndAnImageWithTwoCaptionsRankAsComputedByHand() {
    // Images A, B, C carry "icon" (text 0); image D carries "dog" (text 1) and "puppy" (text 2).
    float[][] images = {{1, 0}, {0.8f, 0.6f}, {0, 1}, {-0.6f, 0.8f}};
    float[][] texts = {{1, 0}, {0, 1}, {-0.6f, 0.8f}};
    int[][] captionsOf = {{0}, {0}, {0}, {1, 2}};
    int[][] imagesOf = {{0, 1, 2}, {3}, {3}};
    var r = RetrievalEvaluation.rank(Nd4j.create(images), Nd4j.create(texts), captionsOf, imagesOf, 4);
    // Image to text. A: icon 1 tops dog 0, puppy -0.6: 1. B: icon 0.8 tops dog 0.6: 1. C: icon 0 under dog 1 and
    // puppy 0.8: 3. D: its best caption, puppy, scores 1, above icon -0.6: 1.
    assertThat(r.imageToText()).containsExactly(1, 1, 3, 1);
    // Text to image. icon: its best image A scores 1: 1. dog: D 0.8 under C 1: 2. puppy: D 1: 1.
    assertThat(r.textToImage()).containsExactly(1, 2, 1);
    var i2t = RetrievalMetrics.ofRanks(r.imageToText(), 3);
    assertThat(i2t.recallAt1()).isEqualTo(0.75);
    assertThat(i2t.medianRank()).isEqualTo(1.0);
    var t2i = RetrievalMetrics.ofRanks(r.textToImage(), 4);
    assertThat(t2i.recallAt1()).isEqualTo(2 / 3.0);
    assertThat(t2i.recallAt5()).isEqualTo(1.0);
    // Image C's texts, best first: dog 1, puppy 0.8, icon 0.
    assertThat(r.exampleTop()[2]).containsExactly(1, 2, 0);
    assertThat(r.exampleScores()[2][0]).isEqualTo(1f);
  }

  @Test
  void copiesOfOneCaptionAsSeparateCandidatesTieWithTheRightOne() {
    // Per row: three images each with its own row "icon" (identical vectors) and a fourth image "dog". Every
    // icon image scores its own row 1 and ties with the two other copies: rank 3, recall@1 0 for three of four.
    float[][] images = {{1, 0}, {1, 0}, {0.8f, 0.6f}, {0, 1}};
    float[][] rows = {{1, 0}, {1, 0}, {1, 0}, {0, 1}};
    var perRow = RetrievalEvaluation.rank(Nd4j.create(images), Nd4j.create(rows),
        new int[][] {{0}, {1}, {2}, {3}}, new int[][] {{0}, {1}, {2}, {3}}, 0);
    assertThat(perRow.imageToText()).containsExactly(3, 3, 3, 1);
    // Text to image, the first two images are identical too: rows 0 and 1 rank 2.
    assertThat(perRow.textToImage()).containsExactly(2, 2, 3, 1);
    // Distinct captions: "icon" is one text carried by images 0-2.
    var distinct = RetrievalEvaluation.rank(Nd4j.create(images), Nd4j.create(new float[][] {{1, 0}, {0, 1}}),
        new int[][] {{0}, {0}, {0}, {1}}, new int[][] {{0, 1, 2}, {3}}, 0);
    assertThat(distinct.imageToText()).containsExactly(1, 1, 1, 1);
    assertThat(distinct.textToImage()).containsExactly(1, 1);
  }

  @Test
  void tilesBoundTheScoresHeldAndDoNotChangeTheRanks() {
    assertThat(RetrievalEvaluation.blockSize(770)).isEqualTo(RetrievalEvaluation.BLOCK);
    assertThat(RetrievalEvaluation.blockSize(1 << 20)).isEqualTo(32);
    assertThat(RetrievalEvaluation.blockSize(1 << 26)).isEqualTo(1);
    // 1,100 images (three tiles of 512) against 300 texts, checked query by query with a plain loop.
    var rnd = new SplittableRandom(5);
    int n = 1100;
    int m = 300;
    float[][] u = randomUnit(rnd, n, 8);
    float[][] v = randomUnit(rnd, m, 8);
    int[][] captionsOf = new int[n][];
    int[][] imagesOf = new int[m][];
    var owners = new ArrayList<List<Integer>>();
    for (int j = 0; j < m; j++) {
      owners.add(new ArrayList<>());
    }
    for (int i = 0; i < n; i++) {
      captionsOf[i] = new int[] {i % m};
      owners.get(i % m).add(i);
    }
    for (int j = 0; j < m; j++) {
      imagesOf[j] = owners.get(j).stream().mapToInt(Integer::intValue).toArray();
    }
    var r = RetrievalEvaluation.rank(Nd4j.create(u), Nd4j.create(v), captionsOf, imagesOf, 0);
    for (int i = 0; i < n; i += 97) {
      assertThat(r.imageToText()[i]).as("image %d", i).isEqualTo(handRank(scores(u[i], v), captionsOf[i]));
    }
    for (int j = 0; j < m; j += 31) {
      assertThat(r.textToImage()[j]).as("text %d", j).isEqualTo(handRank(scores(v[j], u), imagesOf[j]));
    }
  }

  @Test
  void topKeepsTheHighestScoresTiesToTheLowerIndex() {
    assertThat(RetrievalEvaluation.top(new float[] {0.1f, 0.5f, 0.3f, 0.5f, 0.9f, 0.2f}, 3)).containsExactly(4, 1, 3);
    assertThat(RetrievalEvaluation.top(new float[] {0.2f, 0.1f}, 5)).containsExactly(0, 1);
  }

  // ---- whole runs on a built dataset

  @Test
  @SuppressWarnings("unchecked")
  void distinctCaptionsOnABuiltDatasetRankAsComputedByHandWhateverTheBatchSize() throws Exception {
    assertThat(TextCleaner.clean("A red&nbsp;square")).isEqualTo("a red square");
    assertThat(TextCleaner.clean("ICON  ")).isEqualTo("icon");
    // Texts and images embedded one at a time here; 64 at a time (the default) in the report's run below.
    var result = run(options("eval.partitions = 2", "eval.batch-size = 1", "eval.retrieval.examples = 6"));
    assertThat(result.dedupeCaptions()).isTrue();
    assertThat(result.rows()).isEqualTo(8);
    assertThat(result.distinctImages()).isEqualTo(6);
    assertThat(result.distinctCaptions()).isEqualTo(4);
    assertThat(result.images()).isEqualTo(6);
    assertThat(result.texts()).isEqualTo(4);
    assertThat(result.skipped()).isZero();

    // The same ranks, here: one embedding per distinct picture and per distinct caption, the correct pairs written
    // out by hand above, ties against the model.
    var clip = ClipEvaluator.load(checkpoint);
    float[][] u = new float[6][];
    for (int i = 0; i < 6; i++) {
      u[i] = clip.encodeImages(List.of(pictures[i]))[0];
    }
    float[][] v = new float[4][];
    for (int j = 0; j < 4; j++) {
      v[j] = clip.encodeTexts(List.of(CAPTIONS.get(j)))[0];
    }
    int[] i2t = new int[6];
    for (int i = 0; i < 6; i++) {
      double[] s = scores(u[i], v);
      assertClearOfTies(s, CAPTIONS_OF[i]);
      i2t[i] = handRank(s, CAPTIONS_OF[i]);
    }
    int[] t2i = new int[4];
    for (int j = 0; j < 4; j++) {
      double[] s = scores(v[j], u);
      assertClearOfTies(s, IMAGES_OF[j]);
      t2i[j] = handRank(s, IMAGES_OF[j]);
    }
    // Pictures are ordered by their smallest key (k0..k5: pictures 0..5), captions by their cleaned text.
    assertThat(result.imageToText().ranks()).containsExactly(i2t);
    assertThat(result.textToImage().ranks()).containsExactly(t2i);
    assertThat(result.imageToText().recallAt1()).isEqualTo(count(i2t, 1) / 6.0);
    assertThat(result.imageToText().recallAt5()).as("4 candidates").isEqualTo(1.0);
    assertThat(result.textToImage().recallAt1()).isEqualTo(count(t2i, 1) / 4.0);
    assertThat(result.textToImage().medianRank()).isEqualTo(median(t2i));
    assertThat(result.imageToText().medianRank()).isEqualTo(median(i2t));
    // "icon" is carried by pictures 0-2: with three correct images of six its rank is at most 4.
    assertThat(result.textToImage().ranks()[3]).isBetween(1, 4);

    // Examples: picture 3 shown under k3 with both of its captions marked among all four texts.
    var examples = result.examples();
    assertThat(examples).extracting(e -> e.get("key")).containsExactly("k0", "k1", "k2", "k3", "k4", "k5");
    var third = examples.get(3);
    assertThat(third.get("captions")).isEqualTo(2);
    var top = (List<Map<String, Object>>) third.get("top");
    assertThat(top).hasSize(4);
    assertThat(top.stream().filter(t -> (Boolean) t.get("correct")).map(t -> t.get("caption"))
        .collect(Collectors.toSet())).containsExactlyInAnyOrder("a red square", "a photo of a red thing");
    // Spellings seen once each: the last in code-point order is shown.
    assertThat(examples.get(0).get("caption")).isEqualTo("icon");
    assertThat((String) examples.get(0).get("image_jpeg_base64")).isNotEmpty();

    // The whole job with batches of 64: the same figures, and report.json, report.html state the counts and rule.
    var request = new Evaluation.Request(Evaluation.Task.RETRIEVAL, checkpoint, EvalData.Spec.parse("shards:" + wit),
        null, dir.resolve("report").toString(), "both");
    Map<String, Object> report = Evaluation.run(spark, request, options("eval.partitions = 2",
        "eval.retrieval.examples = 2"));
    var r = (Map<String, Object>) report.get("retrieval");
    assertThat(r.get("image_to_text")).isEqualTo(result.toReport().get("image_to_text"));
    assertThat(r.get("text_to_image")).isEqualTo(result.toReport().get("text_to_image"));
    assertThat(r).containsEntry("protocol", "distinct-captions").containsEntry("dedupe_captions", true)
        .containsEntry("rows", 8L).containsEntry("distinct_images", 6L).containsEntry("distinct_captions", 4L)
        .containsEntry("images", 6).containsEntry("texts", 4).containsEntry("rule", RetrievalEvaluation.RULE_DISTINCT);
    assertThat(((Map<String, Object>) report.get("dataset")).get("rows")).isEqualTo(8L);
    JsonNode json = new ObjectMapper().readTree(dir.resolve("report/report.json").toFile());
    assertThat(json.path("retrieval").path("distinct_captions").asLong()).isEqualTo(4);
    assertThat(json.path("retrieval").path("rule").asText()).startsWith("distinct captions:");
    String html = Files.readString(dir.resolve("report/report.html"));
    assertThat(html).contains("<caption>Retrieval (8 rows: 6 distinct images, 4 distinct captions)</caption>",
        "<p class=\"note\" id=\"retrieval-rule\">Protocol: distinct captions:",
        "<code>eval.retrieval.dedupe-captions = true</code>");
  }

  @Test
  void perRowProtocolRanksEveryRowAsCLIPBenchmarkDoes() throws Exception {
    var result = run(options("eval.partitions = 2", "eval.batch-size = 1", "eval.retrieval.dedupe-captions = false"));
    assertThat(result.dedupeCaptions()).isFalse();
    assertThat(result.rows()).isEqualTo(8);
    assertThat(result.images()).as("one image per key").isEqualTo(8);
    assertThat(result.texts()).as("one text per row").isEqualTo(8);
    assertThat(result.distinctImages()).isEqualTo(6);
    assertThat(result.distinctCaptions()).isEqualTo(4);
    // Keys k0..k7 (ROWS in order) are the images, each with its own row; k6 is picture 3 again, k7 picture 5.
    var clip = ClipEvaluator.load(checkpoint);
    float[][] u = new float[8][];
    float[][] v = new float[8][];
    for (int k = 0; k < 8; k++) {
      u[k] = clip.encodeImages(List.of(pictures[(Integer) ROWS[k][2]]))[0];
      v[k] = clip.encodeTexts(List.of((String) ROWS[k][1]))[0];
    }
    // Copies of one caption or one picture score alike up to float rounding, so each rank is checked against the
    // range that rounding allows: from "ties go to the model" to "ties go against it".
    for (int k = 0; k < 8; k++) {
      double[] s = scores(u[k], v);
      assertThat(result.imageToText().ranks()[k]).as("image k%d", k)
          .isBetween(bestCase(s, k), handRank(s, new int[] {k}));
      double[] t = scores(v[k], u);
      assertThat(result.textToImage().ranks()[k]).as("row k%d", k)
          .isBetween(bestCase(t, k), handRank(t, new int[] {k}));
    }
    // The wall of ties: k0's caption has two exact copies (k1, k2) that the per-row protocol ranks as wrong.
    double[] s0 = scores(u[0], v);
    assertThat(handRank(s0, new int[] {0}) - bestCase(s0, 0)).isEqualTo(2);
  }

  @Test
  void theSettingIsABooleanWithADocumentedDefault() {
    assertThat(options().dedupeCaptions()).isEqualTo(EvalOptions.DEDUPE_CAPTIONS_DEFAULT).isTrue();
    assertThatThrownBy(() -> options("eval.retrieval.dedupe-captions = sometimes"))
        .hasMessage("Cannot set eval.retrieval.dedupe-captions to \"sometimes\": must be true or false");
  }

  // ---- helpers: the rule written out again, plainly

  /** 1 + the wrong candidates scoring at least as high as the best correct one. */
  static int handRank(double[] s, int[] correct) {
    double best = Double.NEGATIVE_INFINITY;
    for (int c : correct) {
      best = Math.max(best, s[c]);
    }
    int rank = 1;
    for (int j = 0; j < s.length; j++) {
      final int jj = j;
      if (Arrays.stream(correct).noneMatch(c -> c == jj) && s[j] >= best) {
        rank++;
      }
    }
    return rank;
  }

  /** 1 + the wrong candidates scoring clearly higher (by more than float rounding) than the correct one. */
  static int bestCase(double[] s, int correct) {
    int rank = 1;
    for (int j = 0; j < s.length; j++) {
      if (j != correct && s[j] > s[correct] + 1e-5) {
        rank++;
      }
    }
    return rank;
  }

  /** The fixture is only a fair test when no wrong candidate is within float rounding of the best correct one. */
  static void assertClearOfTies(double[] s, int[] correct) {
    double best = Arrays.stream(correct).mapToDouble(c -> s[c]).max().orElseThrow();
    for (int j = 0; j < s.length; j++) {
      final int jj = j;
      if (Arrays.stream(correct).noneMatch(c -> c == jj)) {
        assertThat(Math.abs(s[j] - best)).as("gap of candidate %d", j).isGreaterThan(1e-5);
      }
    }
  }

  static double[] scores(float[] query, float[][] candidates) {
    double[] s = new double[candidates.length];
    for (int j = 0; j < s.length; j++) {
      s[j] = Vectors.dot(query, candidates[j]);
    }
    return s;
  }

  static float[][] randomUnit(SplittableRandom rnd, int n, int d) {
    float[][] out = new float[n][d];
    for (float[] row : out) {
      for (int k = 0; k < d; k++) {
        row[k] = (float) (rnd.nextDouble() * 2 - 1);
      }
      Vectors.normaliseInPlace(row);
    }
    return out;
  }

  static int count(int[] ranks, int k) {
    return (int) Arrays.stream(ranks).filter(r -> r <= k).count();
  }

  static double median(int[] ranks) {
    int[] s = ranks.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2.0;
  }
}
