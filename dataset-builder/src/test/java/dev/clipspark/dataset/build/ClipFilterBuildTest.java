package dev.clipspark.dataset.build;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * build-dataset's CLIP filter in Spark local mode, with a scorer whose scores the test chooses (the scorer that
 * embeds with a real CLIP model is tested in clipspark-training, ClipCandidateScorerTest): which candidates are
 * scored, how the rejected are counted, and that the rounds refill the queries.
 */
class ClipFilterBuildTest {

  static SparkSession spark;

  /** Every caption scored, with how often (local mode: the executors share this JVM). */
  static final Map<String, Integer> SCORED = new ConcurrentHashMap<>();
  static final AtomicInteger CALLS = new AtomicInteger();

  @TempDir
  Path dir;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("ClipFilterBuildTest")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @BeforeEach
  void clear() {
    SCORED.clear();
    CALLS.set(0);
  }

  /**
   * Scores a pair by its caption: 0.9 when it says "good", 0.1 when it says "bad"; checks that the image it gets
   * is the stored, decodable image.
   */
  record CaptionScorer(int batchSize) implements CandidateScorer {
    @Override
    public String fingerprint() {
      return "caption-scorer";
    }

    @Override
    public float[] score(List<byte[]> images, List<String> captions) {
      CALLS.incrementAndGet();
      assertThat(images).hasSameSizeAs(captions);
      assertThat(captions.size()).isBetween(1, batchSize);
      float[] out = new float[captions.size()];
      for (int i = 0; i < out.length; i++) {
        try {
          var img = ImageIO.read(new ByteArrayInputStream(images.get(i)));
          assertThat(img.getWidth()).isEqualTo(32);
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
        SCORED.merge(captions.get(i), 1, Integer::sum);
        out[i] = captions.get(i).contains("good") ? 0.9f : 0.1f;
      }
      return out;
    }
  }

  static Settings settings(String overrides) {
    return new Settings(ConfigFactory.parseString(overrides + "\nimage.size = 32\nimage.min-side = 16"
            + "\nsource.table.key-column = key\nsource.table.image-column = path")
        .withFallback(ConfigFactory.defaultReference()).resolve());
  }

  String queries(String... queries) {
    Path q = dir.resolve("queries");
    var rows = new ArrayList<Row>();
    for (int i = 0; i < queries.length; i++) {
      rows.add(RowFactory.create(queries[i], "unigram", (double) (queries.length - i), (long) i));
    }
    var schema = new StructType().add("query", DataTypes.StringType).add("kind", DataTypes.StringType)
        .add("score", DataTypes.DoubleType).add("rank", DataTypes.LongType);
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(q.resolve("queries.parquet").toString());
    return q.toString();
  }

  /** A CSV table of (key, path, caption) with one distinct PNG per row. */
  String table(List<String[]> keyAndCaption) throws IOException {
    Path images = dir.resolve("images");
    Files.createDirectories(images);
    var csv = new StringBuilder("key,path,caption\n");
    int n = 0;
    for (String[] kc : keyAndCaption) {
      Path img = images.resolve(kc[0] + ".png");
      Files.write(img, DatasetBuildTest.image(n++, 48, 40));
      csv.append(kc[0]).append(',').append(img).append(',').append(kc[1]).append('\n');
    }
    Path file = dir.resolve("pool.csv");
    Files.writeString(file, csv);
    return "table:" + file;
  }

  DatasetBuild.Result build(String queriesDir, String spec, String out, String overrides, CandidateScorer scorer,
      boolean overwrite) {
    Settings s = settings(overrides);
    List<CandidateSource> sources = List.of(Sources.parse(spec, SourceOptions.from(s)));
    return DatasetBuild.run(spark, new DatasetBuild.Request(queriesDir, sources, out, overwrite, scorer),
        BuildOptions.from(s));
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> stats(String out) throws IOException {
    return new ObjectMapper().readValue(new File(out, "stats.json"), Map.class);
  }

  @Test
  @SuppressWarnings("unchecked")
  void onlyCandidatesAboutToBeAdmittedAreScoredAndTheRejectedDoNotTakeAPlace() throws Exception {
    var pool = new ArrayList<String[]>();
    for (int i = 0; i < 24; i++) {
      // Two in three cat captions are bad: with a cap of 4 the first rounds fall short and must refill.
      pool.add(new String[] {"cat" + i, "a cat " + (i % 3 == 0 ? "good" : "bad") + " " + i});
    }
    for (int i = 0; i < 3; i++) {
      pool.add(new String[] {"dog" + i, "a dog " + (i == 1 ? "good" : "bad") + " " + i});
    }
    for (int i = 0; i < 10; i++) {
      pool.add(new String[] {"street" + i, "a street good " + i});
    }
    String spec = table(pool);
    String q = queries("cat", "dog");
    String out = dir.resolve("out").toString();
    long seed = 42;
    var result = build(q, spec, out, "balance.max-per-query = 4\nfilter.clip.checkpoint = test-model"
        + "\nfilter.clip.min-similarity = 0.5\nfilter.clip.batch-size = 3", new CaptionScorer(3), false);

    // What must happen, from the rank order: a query admits its good candidates in rank order up to the cap,
    // and exactly the bad ones ranked before its last admitted one (or all, when it never fills) are scored.
    var expectedScored = new HashSet<String>();
    var expectedAdmitted = new HashSet<String>();
    for (String animal : List.of("cat", "dog")) {
      List<String[]> ranked = pool.stream().filter(p -> p[0].startsWith(animal))
          .sorted(Comparator.comparing((String[] p) -> new Balancer.Rank(Hashes.keyHash(seed, p[0]), p[0])))
          .toList();
      int good = 0;
      for (String[] p : ranked) {
        if (good == 4) {
          break;
        }
        expectedScored.add(p[1]);
        if (p[1].contains("good")) {
          good++;
          expectedAdmitted.add(p[1]);
        }
      }
    }
    assertThat(expectedAdmitted.stream().filter(c -> c.contains("cat"))).hasSize(4);

    List<Row> rows = spark.read().parquet(out + "/shards").collectAsList();
    var captions = rows.stream().map(r -> r.<String>getAs("caption")).toList();
    assertThat(captions).containsExactlyInAnyOrderElementsOf(expectedAdmitted);
    assertThat(rows).allSatisfy(r -> assertThat(r.<Float>getAs(Schemas.CLIP_SIMILARITY)).isEqualTo(0.9f));
    assertThat(SCORED.keySet()).containsExactlyInAnyOrderElementsOf(expectedScored);
    assertThat(SCORED.values()).as("each candidate is scored once").containsOnly(1);
    assertThat(SCORED.keySet()).noneMatch(c -> c.contains("street"));
    assertThat(CALLS.get()).isGreaterThanOrEqualTo((expectedScored.size() + 2) / 3);

    Map<String, Object> stats = stats(out);
    long rejected = expectedScored.size() - expectedAdmitted.size();
    assertThat(((Number) ((Map<String, Object>) stats.get("rejected")).get("clip_score")).longValue())
        .isEqualTo(rejected);
    assertThat(((Number) ((Map<String, Object>) stats.get("rejected")).get("unmatched")).longValue()).isEqualTo(10);
    assertThat(((Number) stats.get("admitted")).longValue()).isEqualTo(5);
    var bySource = (Map<String, Map<String, Object>>) stats.get("by_source");
    assertThat(bySource.values().stream().mapToLong(m -> ((Number) m.get("clip_score")).longValue()).sum())
        .isEqualTo(rejected);
    var rounds = (List<Map<String, Object>>) stats.get("rounds");
    assertThat(rounds.stream().mapToLong(r -> ((Number) r.get("clip_score")).longValue()).sum()).isEqualTo(rejected);
    assertThat(rounds.stream().mapToLong(r -> ((Number) r.get("scored")).longValue()).sum())
        .isEqualTo(expectedScored.size());
    var clip = (Map<String, Object>) stats.get("clip_filter");
    assertThat(((Number) clip.get("scored")).longValue()).isEqualTo(expectedScored.size());
    assertThat(((Number) clip.get("rejected")).longValue()).isEqualTo(rejected);
    // The images of candidates the filter rejected were processed OK.
    assertThat(((Number) stats.get("processed_ok")).longValue())
        .isGreaterThanOrEqualTo(expectedScored.size());
    assertThat(result.manifest().settings()).containsKey("filter");

    // Fetching everything first (build.plan = all) admits the same pairs.
    String all = dir.resolve("all").toString();
    build(q, spec, all, "balance.max-per-query = 4\nfilter.clip.checkpoint = test-model\nbuild.plan = all"
        + "\nfilter.clip.min-similarity = 0.5\nfilter.clip.batch-size = 3", new CaptionScorer(3), false);
    assertThat(spark.read().parquet(all + "/shards").collectAsList().stream().map(r -> r.<String>getAs("caption")))
        .containsExactlyElementsOf(captions);

    // A smaller cap over the same _work (the cap is part of the fingerprint: --overwrite): every pair it admits
    // was scored before, and stored scores are reused, not computed again.
    SCORED.clear();
    build(q, spec, out, "balance.max-per-query = 2\nfilter.clip.checkpoint = test-model"
        + "\nfilter.clip.min-similarity = 0.5\nfilter.clip.batch-size = 3", new CaptionScorer(3), true);
    assertThat(SCORED).isEmpty();
    assertThat(((Number) stats(out).get("admitted")).longValue()).isEqualTo(3);
  }

  @Test
  void theSuccessRateCountsClipRejectionsAsFailures() {
    // 10 fetched: 8 OK and not duplicates, of which 4 scored (2 passed; the 2 below are FAILED, not counting, so
    // counting = 6 = 2 passed + 4 unscored) -> (2 + 4 * 0.5) / 10.
    var d = new Admission.Decision(null, null, 10, 6, 6, 0, 1, 4, 4, 2, 4);
    assertThat(d.successRate()).isCloseTo(0.4, within(1e-12));
    var noFilter = new Admission.Decision(null, null, 10, 6, 6, 0, 1, 6, 0, 0, 6);
    assertThat(noFilter.successRate()).isCloseTo(0.6, within(1e-12));
    // Oversampling follows: a lower rate takes more candidates for the same room.
    assertThat(Admission.take(4, 0, d.successRate())).isGreaterThan(Admission.take(4, 0, noFilter.successRate()));
  }

  @Test
  void badSettingsStopTheBuildWithTheKeyAndWhatIsAllowed() throws Exception {
    assertThatThrownBy(() -> BuildOptions.from(settings("filter.clip.min-similarity = 1.5")))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set filter.clip.min-similarity to 1.5: must be between -1.0 and 1.0");
    assertThatThrownBy(() -> BuildOptions.from(settings("filter.clip.batch-size = 0")))
        .hasMessage("Cannot set filter.clip.batch-size to 0: must be between 1 and 4096");
    assertThat(BuildOptions.from(settings("")).clipFilter().enabled()).isFalse();
    assertThat(BuildOptions.from(settings("")).describedSettings()).doesNotContainKey("filter");

    String spec = table(List.<String[]>of(new String[] {"cat0", "a cat good"}));
    String q = queries("cat");
    String out = dir.resolve("out").toString();
    assertThatThrownBy(() -> build(q, spec, out, "filter.clip.checkpoint = /models/ViT-B-32.pt", null, false))
        .hasMessage("Cannot build with filter.clip.checkpoint = /models/ViT-B-32.pt: no CLIP scorer was given for it");
    assertThatThrownBy(() -> build(q, spec, out, "", new CaptionScorer(4), false))
        .hasMessageContaining("Cannot build with a CLIP scorer while filter.clip.checkpoint is empty");
    assertThat(new File(out)).doesNotExist();
  }

  @Test
  void withoutTheFilterShardsKeepTheirSchemaAndNothingIsScored() throws Exception {
    String spec = table(List.<String[]>of(new String[] {"cat0", "a cat bad"}, new String[] {"cat1", "a cat good"}));
    String out = dir.resolve("plain").toString();
    build(queries("cat"), spec, out, "", null, false);
    assertThat(spark.read().parquet(out + "/shards").schema().fieldNames())
        .containsExactly(Schemas.SHARD.fieldNames());
    assertThat(SCORED).isEmpty();
    assertThat(stats(out)).doesNotContainKey("clip_filter");
  }
}
