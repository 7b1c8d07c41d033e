package dev.clipspark.dataset.build;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.size;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.fetch.UrlFetcher;
import dev.clipspark.dataset.match.QueryMatcher;
import dev.clipspark.dataset.queries.QueryList;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.HadoopConf;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The {@code build-dataset} job. Its cost follows the dataset it writes, not the pool it reads:
 * <ol>
 *   <li><b>plan</b> ({@code OUT/_work/plan}): every source's metadata (key, caption, URL or path; no image
 *       is fetched or decoded) is read, captions are cleaned and checked, matched against the query list,
 *       and each candidate gets its seeded rank {@code (keyHash(balance.seed, key), key)}. Candidates whose
 *       caption matches no query are never fetched. Candidates with the same normalised URL share one
 *       download.</li>
 *   <li><b>rounds</b> ({@code OUT/_work/fetched/round-NNNNN}): each round fetches and processes, for every
 *       query still open, its next candidates in rank order (its remaining room times
 *       {@code balance.oversample}), commits them atomically, and decides admission again
 *       ({@link Admission}); a query closes when its cap is filled by pairs that processed OK and are not
 *       duplicates, or when its candidates run out. With {@code build.plan = all} one round fetches every
 *       candidate instead; the rows written are the same.</li>
 *   <li><b>CLIP filter</b> ({@code OUT/_work/scored/score-NNNNN}, with {@code filter.clip.checkpoint} set):
 *       when no query needs a candidate that is not fetched yet (or {@code balance.max-rounds} is reached), the
 *       pairs that would now be admitted and have no score yet are scored in the executors by the
 *       {@link CandidateScorer} (their stored image and caption); those below {@code filter.clip.min-similarity}
 *       are rejected as {@code clip_score}, take no place, and admission is decided again, which may reach further
 *       candidates (scored next) or need another fetch round. So only candidates about to be admitted are scored.
 *       Scores are kept by candidate key and reused on a re-run with the same model, sources and
 *       fetch / image / caption settings, whatever the threshold.</li>
 *   <li><b>write</b>: admitted pairs, in rank order, are written as {@code OUT/shards/part-NNNNN.parquet} of
 *       {@code shard.rows} rows each, then {@code stats.json}, then {@code manifest.json} (atomically, last):
 *       a directory with a manifest is complete.</li>
 * </ol>
 * The same inputs, settings and seed always produce the same rows in the same shards. A build stopped in
 * any round resumes from the rounds it committed without fetching them again.
 */
public final class DatasetBuild {

  private static final Logger LOG = LoggerFactory.getLogger(DatasetBuild.class);

  /** Name of the statistics file in a dataset directory. */
  public static final String STATS_FILE = "stats.json";

  /** Name of a round's statistics inside its directory. */
  static final String ROUND_FILE = "_round.json";

  private static final Pattern ROUND_DIR = Pattern.compile("round-(\\d{5})");

  /** Name of a score batch's statistics inside its directory. */
  static final String SCORE_FILE = "_score.json";

  private static final Pattern SCORE_DIR = Pattern.compile("score-(\\d{5})");

  private DatasetBuild() {}

  /**
   * What to build.
   *
   * @param queriesDir output directory of {@code build-queries} (holds {@code queries.parquet})
   * @param sources candidate sources, in order
   * @param outDir dataset directory to write
   * @param overwrite whether a finished build of other inputs in {@code outDir} may be replaced
   * @param scorer the CLIP filter's scorer, required when {@code filter.clip.checkpoint} is set, else null
   */
  public record Request(String queriesDir, List<CandidateSource> sources, String outDir, boolean overwrite,
      CandidateScorer scorer) {
    public Request {
      Objects.requireNonNull(queriesDir, "queriesDir");
      Objects.requireNonNull(outDir, "outDir");
      sources = List.copyOf(sources);
      if (sources.isEmpty()) {
        throw new IllegalArgumentException("Cannot build a dataset: no --source given");
      }
    }

    /** A request without a CLIP filter. */
    public Request(String queriesDir, List<CandidateSource> sources, String outDir, boolean overwrite) {
      this(queriesDir, sources, outDir, overwrite, null);
    }
  }

  /**
   * What was built.
   *
   * @param manifest the manifest written (or found, when the build was already complete)
   * @param stats the statistics written, as in {@code stats.json}
   * @param reused whether the output was already complete and nothing was rebuilt
   */
  public record Result(Manifest manifest, Map<String, Object> stats, boolean reused) {}

  /**
   * Runs the build.
   *
   * @throws IllegalArgumentException when {@code filter.clip.checkpoint} is set and the request has no scorer, or
   *     the other way round
   */
  public static Result run(SparkSession spark, Request request, BuildOptions options) {
    if (options.clipFilter().enabled() && request.scorer() == null) {
      throw new IllegalArgumentException("Cannot build with " + BuildOptions.CLIP_CHECKPOINT + " = "
          + options.clipFilter().checkpoint() + ": no CLIP scorer was given for it");
    }
    if (!options.clipFilter().enabled() && request.scorer() != null) {
      throw new IllegalArgumentException("Cannot build with a CLIP scorer while " + BuildOptions.CLIP_CHECKPOINT
          + " is empty: set it to the scorer's checkpoint");
    }
    try {
      return new Run(spark, request, options).run();
    } catch (IOException e) {
      throw new IllegalStateException("Cannot build dataset " + request.outDir() + ": " + e.getMessage(), e);
    }
  }

  private static final class Run {
    private final SparkSession spark;
    private final JavaSparkContext jsc;
    private final Request request;
    private final BuildOptions options;
    private final Configuration hadoop;
    private final FileSystem fs;
    private final Path out;
    private final Path work;
    private final Path fetchedDir;
    private final Path scoredDir;
    private final CandidateScorer scorer;

    Run(SparkSession spark, Request request, BuildOptions options) throws IOException {
      this.spark = spark;
      this.jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      this.request = request;
      this.options = options;
      this.hadoop = spark.sparkContext().hadoopConfiguration();
      this.out = new Path(request.outDir());
      this.fs = out.getFileSystem(hadoop);
      this.work = new Path(out, "_work");
      this.fetchedDir = new Path(work, "fetched");
      this.scoredDir = new Path(work, "scored");
      this.scorer = request.scorer();
    }

    Result run() throws IOException {
      List<String> queries = QueryList.read(spark, request.queriesDir());
      List<String> specs = request.sources().stream().map(CandidateSource::spec).toList();
      String fingerprint = fingerprint(queries, specs, options.describedSettings());
      Path manifestPath = new Path(out, Manifest.FILE);
      if (fs.exists(manifestPath)) {
        Manifest existing = Manifest.read(request.outDir(), hadoop);
        if (existing.fingerprint().equals(fingerprint)) {
          LOG.info("{} already holds this build ({} rows in {} shards); nothing to do", out,
              existing.totalRows(), existing.shards().size());
          return new Result(existing, readStats(), true);
        }
        if (!request.overwrite()) {
          throw new IllegalArgumentException("Cannot build into " + out + ": it holds a finished build of other"
              + " inputs or settings (fingerprint " + existing.fingerprint().substring(0, 12) + ", this run "
              + fingerprint.substring(0, 12) + "); choose another --out or pass --overwrite");
        }
        // The manifest goes first: from here on the directory no longer claims to be complete.
        fs.delete(manifestPath, false);
      }
      fs.mkdirs(out);

      Dataset<Row> plan = spark.read().schema(Schemas.PLAN).parquet(plan(queries, specs).toString());
      requireUniqueKeys(plan);
      prepareFetched(specs);
      if (scorer != null) {
        prepareScored(specs);
      }
      int cap = options.maxPerQuery();

      var rounds = new ArrayList<Map<String, Object>>(readRounds());
      if (!rounds.isEmpty()) {
        LOG.info("Resuming after {} committed round(s) in {}", rounds.size(), fetchedDir);
      }
      boolean limitReached = false;
      Admission.Decision decision;
      while (true) {
        boolean allPending = options.plan() == BuildOptions.Plan.ALL && unfetched(plan).count() > 0;
        decision = allPending ? null : Admission.decide(jsc, entries(plan), cap);
        if (decision != null) {
          LOG.info("After {} round(s): {} candidates fetched, {} OK and not duplicates, {} admitted, {} still"
              + " needed ({} pass(es))", rounds.size(), decision.fetched(), decision.counting(), decision.admitted(),
              decision.reachedUnfetched(), decision.passes());
          boolean fetchMore = decision.reachedUnfetched() > 0 && rounds.size() < options.maxRounds();
          if (!fetchMore && scorer != null && decision.pendingScore() > 0) {
            // Final but for the scores: everything pending is admitted if, and only if, it passes.
            runScoring(rounds.size(), Admission.toScore(jsc, decision), decision.pendingScore());
            decision.labelled().unpersist();
            continue;
          }
          if (decision.reachedUnfetched() == 0) {
            break;
          }
          if (rounds.size() >= options.maxRounds()) {
            limitReached = true;
            LOG.warn("{} = {} reached with {} candidates still needed: they are counted as {}; raise it to"
                + " build the full dataset", BuildOptions.MAX_ROUNDS, options.maxRounds(),
                decision.reachedUnfetched(), RejectReason.ROUND_LIMIT.key());
            break;
          }
        }
        JavaRDD<Tuple2<String, String>> requested = decision == null
            ? unfetched(plan).javaRDD().map(r -> new Tuple2<>(r.getString(0), r.getString(1)))
            : Admission.requests(jsc, decision, cap, options.oversample())
                .map(e -> new Tuple2<>(e.fetchKey(), e.key()));
        rounds.add(runRound(rounds.size() + 1, requested, decision == null ? 0 : decision.admitted()));
        if (decision != null) {
          decision.labelled().unpersist();
        }
      }

      var stats = new LinkedHashMap<String, Object>();
      Broadcast<Balancer.Thresholds> thresholds = jsc.broadcast(decision.thresholds());
      JavaRDD<Admission.Labelled> admitted = decision.labelled()
          .filter(l -> Admission.ADMITTED.equals(Admission.label(l, thresholds.value())))
          .persist(StorageLevel.MEMORY_AND_DISK_SER());
      long admittedCount = decision.admitted();
      stats.put("plan", Settings.spell(options.plan()));
      countCandidates(plan, decision, thresholds, stats);
      stats.put("admitted", admittedCount);
      Map<Integer, long[]> scoredByRound = scorer == null ? Map.of() : scoredByRound();
      if (scorer != null) {
        stats.put("clip_filter", clipStats(scoredByRound));
      }
      stats.put("rounds", roundStats(rounds, admittedCount, scoredByRound));
      stats.put("max_rounds_reached", limitReached);
      Broadcast<QueryMatcher> matcher = jsc.broadcast(QueryMatcher.build(queries));
      stats.put("queries", queryStats(queries, plan, decision.thresholds(), admitted));

      List<Manifest.Shard> shards = writeShards(plan, admitted, matcher, admittedCount);
      admitted.unpersist();
      decision.labelled().unpersist();
      stats.put("written", shards.stream().mapToLong(Manifest.Shard::rows).sum());
      stats.put("shards", shards.size());
      Manifest.writeAtomically(fs, new Path(out, STATS_FILE), stats);
      var manifest = new Manifest(Schemas.SHARD_SCHEMA_VERSION, admittedCount, options.shardRows(), shards,
          request.queriesDir(), specs, fingerprint, options.describedSettings(), Instant.now().toString());
      Manifest.writeAtomically(fs, manifestPath, manifest);
      if (!options.keepWork()) {
        fs.delete(work, true);
      }
      LOG.debug("Wrote {} rows in {} shards to {} after {} round(s); {} of {} candidates never fetched", admittedCount,
          shards.size(), out, rounds.size(), stats.get("never_fetched"), stats.get("candidates"));
      return new Result(manifest, stats, false);
    }

    /** Makes or reuses the plan and returns its path. */
    private Path plan(List<String> queries, List<String> specs) throws IOException {
      Path plan = new Path(work, "plan");
      Path marker = new Path(work, "plan.json");
      var settings = new LinkedHashMap<String, Object>();
      for (String section : List.of("source", "caption")) {
        settings.put(section, options.describedSettings().get(section));
      }
      settings.put("seed", options.balanceSeed());
      settings.put("queries", Hashes.sha256Hex(String.join("\n", queries)));
      String stageFingerprint = stageFingerprint(specs, settings);
      if (fs.exists(new Path(plan, "_SUCCESS")) && stageFingerprint.equals(readFingerprint(marker))) {
        LOG.info("Reusing the plan in {} (same sources, captions, queries and seed)", plan);
        return plan;
      }
      fs.delete(marker, false);
      fs.delete(plan, true);
      Path tmp = new Path(work, "plan.tmp");
      fs.delete(tmp, true);
      JavaRDD<Candidate> candidates = null;
      for (CandidateSource source : request.sources()) {
        JavaRDD<Candidate> one = source.candidates(spark);
        candidates = candidates == null ? one : candidates.union(one);
      }
      LOG.info("Planning: reading the metadata of {} source(s) in {} partitions and matching captions against {}"
          + " queries", specs.size(), candidates.getNumPartitions(), queries.size());
      Broadcast<QueryMatcher> matcher = jsc.broadcast(QueryMatcher.build(queries));
      long seed = options.balanceSeed();
      int maxLength = options.captionMaxLength();
      JavaRDD<Row> rows = candidates.map(c -> planRow(c, matcher.value(), seed, maxLength));
      spark.createDataFrame(rows, Schemas.PLAN).write().mode(SaveMode.Overwrite).parquet(tmp.toString());
      if (!fs.rename(tmp, plan)) {
        throw new IOException("Cannot move " + tmp + " to " + plan);
      }
      Manifest.writeAtomically(fs, marker, Map.of("fingerprint", stageFingerprint, "sources", specs));
      return plan;
    }

    /**
     * Keeps the stored CLIP scores when the model, the sources and the fetch / image / caption settings are
     * unchanged (the threshold may differ), else drops them.
     */
    private void prepareScored(List<String> specs) throws IOException {
      Path marker = new Path(work, "scored.json");
      var settings = new LinkedHashMap<String, Object>();
      for (String section : List.of("source", "fetch", "image", "caption")) {
        settings.put(section, options.describedSettings().get(section));
      }
      settings.put("scorer", scorer.fingerprint());
      String stageFingerprint = stageFingerprint(specs, settings);
      if (fs.exists(scoredDir) && stageFingerprint.equals(readFingerprint(marker))) {
        return;
      }
      if (fs.exists(scoredDir)) {
        LOG.info("The CLIP model, sources or fetch / image / caption settings changed: scoring candidates again");
      }
      fs.delete(scoredDir, true);
      fs.mkdirs(scoredDir);
      Manifest.writeAtomically(fs, marker, Map.of("fingerprint", stageFingerprint, "sources", specs));
    }

    /** Keeps the fetched rounds when sources and fetch / image settings are unchanged, else drops them. */
    private void prepareFetched(List<String> specs) throws IOException {
      Path marker = new Path(work, "fetched.json");
      var settings = new LinkedHashMap<String, Object>();
      for (String section : List.of("source", "fetch", "image")) {
        settings.put(section, options.describedSettings().get(section));
      }
      String stageFingerprint = stageFingerprint(specs, settings);
      if (fs.exists(fetchedDir) && stageFingerprint.equals(readFingerprint(marker))) {
        return;
      }
      if (fs.exists(fetchedDir)) {
        LOG.info("Sources or fetch / image settings changed: fetching candidates again");
      }
      fs.delete(fetchedDir, true);
      fs.mkdirs(fetchedDir);
      Manifest.writeAtomically(fs, marker, Map.of("fingerprint", stageFingerprint, "sources", specs));
    }

    private String stageFingerprint(List<String> specs, Map<String, Object> settings) throws IOException {
      return Hashes.sha256Hex(Manifest.JSON.writeValueAsString(Map.of("sources", specs, "settings", settings)));
    }

    private String readFingerprint(Path marker) throws IOException {
      if (!fs.exists(marker)) {
        return null;
      }
      try (InputStream in = fs.open(marker)) {
        return String.valueOf(Manifest.JSON.readValue(in, Map.class).get("fingerprint"));
      }
    }

    /** The committed rounds, in order. */
    private List<Path> roundDirs() throws IOException {
      var dirs = new ArrayList<Path>();
      for (FileStatus f : fs.listStatus(fetchedDir)) {
        if (f.isDirectory() && ROUND_DIR.matcher(f.getPath().getName()).matches()
            && fs.exists(new Path(f.getPath(), ROUND_FILE))) {
          dirs.add(f.getPath());
        }
      }
      dirs.sort(Comparator.comparing(Path::getName));
      for (int i = 0; i < dirs.size(); i++) {
        if (!dirs.get(i).getName().equals(roundName(i + 1))) {
          throw new IllegalStateException("Cannot resume from " + fetchedDir + ": expected " + roundName(i + 1)
              + " but found " + dirs.get(i).getName() + "; delete " + work + " to start over");
        }
      }
      return dirs;
    }

    private static String roundName(int round) {
      return String.format("round-%05d", round);
    }

    private List<Map<String, Object>> readRounds() throws IOException {
      var rounds = new ArrayList<Map<String, Object>>();
      for (Path dir : roundDirs()) {
        try (InputStream in = fs.open(new Path(dir, ROUND_FILE))) {
          @SuppressWarnings("unchecked")
          Map<String, Object> r = Manifest.JSON.readValue(in, Map.class);
          rounds.add(new LinkedHashMap<>(r));
        }
      }
      return rounds;
    }

    /** Every row fetched so far (all committed rounds). */
    private Dataset<Row> fetched() throws IOException {
      List<Path> dirs = roundDirs();
      if (dirs.isEmpty()) {
        return spark.createDataFrame(List.of(), Schemas.FETCHED);
      }
      return spark.read().schema(Schemas.FETCHED).parquet(dirs.stream().map(Path::toString).toArray(String[]::new));
    }

    /** The committed score batches. */
    private List<Path> scoreDirs() throws IOException {
      var dirs = new ArrayList<Path>();
      if (!fs.exists(scoredDir)) {
        return dirs;
      }
      for (FileStatus f : fs.listStatus(scoredDir)) {
        if (f.isDirectory() && SCORE_DIR.matcher(f.getPath().getName()).matches()
            && fs.exists(new Path(f.getPath(), SCORE_FILE))) {
          dirs.add(f.getPath());
        }
      }
      dirs.sort(Comparator.comparing(Path::getName));
      return dirs;
    }

    /** Every CLIP score so far (all committed batches). */
    private Dataset<Row> scored() throws IOException {
      List<Path> dirs = scoreDirs();
      if (dirs.isEmpty()) {
        return spark.createDataFrame(List.of(), Schemas.SCORED);
      }
      return spark.read().schema(Schemas.SCORED).parquet(dirs.stream().map(Path::toString).toArray(String[]::new));
    }

    /**
     * Scores {@code pending} ({@code expected} entries) with the CLIP scorer in the executors, in batches, and
     * commits the scores as the next batch: written to a temporary directory, its {@code _score.json} added, then
     * renamed.
     */
    private void runScoring(int round, JavaRDD<Admission.Entry> pending, long expected) throws IOException {
      long started = System.nanoTime();
      List<Path> done = scoreDirs();
      int batch = done.isEmpty() ? 1 : Integer.parseInt(done.get(done.size() - 1).getName().substring(6)) + 1;
      String name = String.format("score-%05d", batch);
      Path dir = new Path(scoredDir, name);
      Path tmp = new Path(scoredDir, name + ".tmp");
      fs.delete(tmp, true);
      StructType wanted = new StructType()
          .add("key", DataTypes.StringType, false)
          .add("fetch_key", DataTypes.StringType, false);
      Dataset<Row> input = spark.createDataFrame(pending.map(e -> RowFactory.create(e.key(), e.fetchKey())), wanted)
          .join(spark.read().schema(Schemas.PLAN).parquet(new Path(work, "plan").toString()).select("key", "caption"),
              "key")
          .join(fetched().filter(col("status").equalTo(Schemas.OK)).select("fetch_key", "image"), "fetch_key")
          .select("key", "caption", "image");
      int partitions = (int) Math.max(1, Math.min(expected, Math.max(jsc.defaultParallelism(), expected / 1000)));
      LOG.info("Scoring {} candidates about to be admitted with the CLIP filter ({} partitions)", expected,
          partitions);
      JavaRDD<Row> rows = input.javaRDD().repartition(partitions).mapPartitions(new Scoring(scorer, round));
      spark.createDataFrame(rows, Schemas.SCORED).write().mode(SaveMode.Overwrite).parquet(tmp.toString());
      long written = spark.read().schema(Schemas.SCORED).parquet(tmp.toString()).count();
      if (written != expected) {
        throw new IllegalStateException("Scoring batch " + batch + " scored " + written + " candidates but "
            + expected + " were pending: their images or captions are missing from " + work + "; delete it to"
            + " plan again");
      }
      var stats = new LinkedHashMap<String, Object>();
      stats.put("batch", batch);
      stats.put("round", round);
      stats.put("scored", written);
      stats.put("seconds", Math.round((System.nanoTime() - started) / 1e7) / 100.0);
      Manifest.writeAtomically(fs, new Path(tmp, SCORE_FILE), stats);
      if (!fs.rename(tmp, dir)) {
        throw new IOException("Cannot commit scoring batch " + batch + ": rename of " + tmp + " to " + dir
            + " failed");
      }
      LOG.info("Scoring batch {} committed: {} candidates in {} s", batch, written, stats.get("seconds"));
    }

    /** Per fetch round: candidates scored after it, and how many of them fell below the threshold. */
    private Map<Integer, long[]> scoredByRound() throws IOException {
      double min = options.clipFilter().minSimilarity();
      var result = new TreeMap<Integer, long[]>();
      for (Row r : scored().groupBy("round")
          .agg(count(lit(1)), org.apache.spark.sql.functions.sum(
              org.apache.spark.sql.functions.when(col("similarity").lt(min), 1L).otherwise(0L)))
          .collectAsList()) {
        result.put(r.getInt(0), new long[] {r.getLong(1), r.isNullAt(2) ? 0 : r.getLong(2)});
      }
      return result;
    }

    private Map<String, Object> clipStats(Map<Integer, long[]> byRound) {
      long scoredCount = byRound.values().stream().mapToLong(v -> v[0]).sum();
      long below = byRound.values().stream().mapToLong(v -> v[1]).sum();
      var result = new LinkedHashMap<String, Object>();
      result.put("checkpoint", options.clipFilter().checkpoint());
      result.put("min_similarity", options.clipFilter().minSimilarity());
      result.put("scored", scoredCount);
      result.put("passed", scoredCount - below);
      result.put("rejected", below);
      result.put("pass_rate", scoredCount == 0 ? 1.0 : Math.round((scoredCount - below) * 1e6 / scoredCount) / 1e6);
      return result;
    }

    /** (fetch key, key) of the plan's candidates whose image has not been fetched, unmatched ones included. */
    private Dataset<Row> unfetched(Dataset<Row> plan) throws IOException {
      return plan.filter(col("fetch_key").isNotNull()).select("fetch_key", "key")
          .join(fetched().select("fetch_key"), scala.collection.JavaConverters.asScalaBuffer(List.of("fetch_key"))
              .toSeq(), "left_anti");
    }

    /** The planned candidates (caption valid, at least one query) with what is known of their images. */
    private JavaRDD<Admission.Entry> entries(Dataset<Row> plan) throws IOException {
      Dataset<Row> planned = plan.filter(col("fetch_key").isNotNull().and(size(col("queries")).gt(0)))
          .select("key", "source", "hash", "queries", "fetch_key");
      Dataset<Row> states = fetched().select("fetch_key", "status", "sha256");
      Dataset<Row> joined = planned
          .join(states, scala.collection.JavaConverters.asScalaBuffer(List.of("fetch_key")).toSeq(), "left");
      if (scorer != null) {
        joined = joined.join(scored().select("key", "similarity"),
            scala.collection.JavaConverters.asScalaBuffer(List.of("key")).toSeq(), "left");
      } else {
        joined = joined.withColumn("similarity", lit(null).cast(DataTypes.FloatType));
      }
      BuildOptions.ClipFilter clip = options.clipFilter();
      return joined
          .select("key", "source", "hash", "queries", "fetch_key", "status", "sha256", "similarity")
          .javaRDD()
          .map(r -> {
            List<Integer> q = r.getList(3);
            int[] ids = q.stream().mapToInt(Integer::intValue).toArray();
            String status = r.isNullAt(5) ? null : r.getString(5);
            byte state = status == null ? Admission.UNFETCHED
                : Schemas.OK.equals(status) ? Admission.OK : Admission.FAILED;
            float similarity = r.isNullAt(7) ? Float.NaN : r.getFloat(7);
            if (state == Admission.OK && !Float.isNaN(similarity) && !clip.passes(similarity)) {
              state = Admission.FAILED;
              status = RejectReason.CLIP_SCORE.key();
            }
            return new Admission.Entry(r.getString(0), r.getString(1), r.getLong(2), ids, r.getString(4), state,
                status, r.isNullAt(6) ? null : r.getString(6), similarity);
          });
    }

    /**
     * Fetches and processes one round's candidates, given as (fetch key, candidate key), and commits the
     * round: written to a temporary directory, its {@code _round.json} added, then renamed.
     */
    private Map<String, Object> runRound(int round, JavaRDD<Tuple2<String, String>> requested, long admittedBefore)
        throws IOException {
      long started = System.nanoTime();
      requested.persist(StorageLevel.MEMORY_AND_DISK_SER());
      long candidates = requested.count();
      JavaRDD<String> keys = requested.map(Tuple2::_1);
      // Bytes held by a source: read the source again and keep the requested candidates.
      List<String> inSource = keys.filter(k -> k.startsWith(CandidateProcessor.FetchKeys.IN_SOURCE)).distinct()
          .map(k -> k.substring(CandidateProcessor.FetchKeys.IN_SOURCE.length())).collect();
      long fetchedKeys = keys.distinct().count();
      int partitions = (int) Math.max(1, Math.min(fetchedKeys,
          Math.max(jsc.defaultParallelism(), fetchedKeys / 2000)));
      JavaRDD<CandidateProcessor.Unit> units = keys
          .filter(k -> !k.startsWith(CandidateProcessor.FetchKeys.IN_SOURCE))
          .distinct(partitions)
          .map(CandidateProcessor.Unit::of);
      if (!inSource.isEmpty()) {
        Broadcast<Set<String>> wanted = jsc.broadcast(new HashSet<>(inSource));
        for (CandidateSource source : request.sources()) {
          units = units.union(source.candidates(spark)
              .filter(c -> c.imageBytes() != null && c.reject() == null && wanted.value().contains(c.key()))
              .map(c -> new CandidateProcessor.Unit(CandidateProcessor.FetchKeys.IN_SOURCE + c.key(), c.imageBytes())));
        }
      }
      LOG.info("Round {}: fetching {} images for {} candidates ({} held by their sources)", round, fetchedKeys,
          candidates, inSource.size());
      Path dir = new Path(fetchedDir, roundName(round));
      Path tmp = new Path(fetchedDir, roundName(round) + ".tmp");
      fs.delete(tmp, true);
      JavaRDD<Row> rows = units.mapPartitions(new CandidateProcessor(options, HadoopConf.of(hadoop)));
      spark.createDataFrame(rows, Schemas.FETCHED).write().mode(SaveMode.Overwrite).parquet(tmp.toString());
      requested.unpersist();
      long written = 0;
      long ok = 0;
      for (Row r : spark.read().schema(Schemas.FETCHED).parquet(tmp.toString())
          .groupBy(col("status").equalTo(Schemas.OK)).count().collectAsList()) {
        written += r.getLong(1);
        ok += r.getBoolean(0) ? r.getLong(1) : 0;
      }
      if (written != fetchedKeys) {
        throw new IllegalStateException("Round " + round + " fetched " + written + " images but " + fetchedKeys
            + " were requested: a source yields other candidates than when the plan was made; delete " + work
            + " to plan again");
      }
      var stats = new LinkedHashMap<String, Object>();
      stats.put("round", round);
      stats.put("requested", candidates);
      stats.put("fetched", written);
      stats.put("ok", ok);
      stats.put("admitted_before", admittedBefore);
      stats.put("seconds", Math.round((System.nanoTime() - started) / 1e7) / 100.0);
      Manifest.writeAtomically(fs, new Path(tmp, ROUND_FILE), stats);
      if (!fs.rename(tmp, dir)) {
        throw new IOException("Cannot commit round " + round + ": rename of " + tmp + " to " + dir + " failed");
      }
      LOG.info("Round {} committed: {} images fetched, {} OK, in {} s", round, written, ok, stats.get("seconds"));
      return stats;
    }

    /** Each round's numbers, with the pairs admitted after it (and with the CLIP filter, scored after it). */
    private List<Map<String, Object>> roundStats(List<Map<String, Object>> rounds, long admittedAtEnd,
        Map<Integer, long[]> scoredByRound) {
      var result = new ArrayList<Map<String, Object>>();
      for (int i = 0; i < rounds.size(); i++) {
        var r = new LinkedHashMap<String, Object>();
        r.put("round", rounds.get(i).get("round"));
        r.put("requested", rounds.get(i).get("requested"));
        r.put("fetched", rounds.get(i).get("fetched"));
        r.put("ok", rounds.get(i).get("ok"));
        r.put("admitted", i + 1 < rounds.size() ? rounds.get(i + 1).get("admitted_before") : admittedAtEnd);
        if (scorer != null) {
          long[] sc = scoredByRound.getOrDefault(((Number) rounds.get(i).get("round")).intValue(), new long[2]);
          r.put("scored", sc[0]);
          r.put(RejectReason.CLIP_SCORE.key(), sc[1]);
        }
        r.put("seconds", rounds.get(i).get("seconds"));
        result.add(r);
      }
      return result;
    }

    private void requireUniqueKeys(Dataset<Row> plan) {
      List<Row> clash = plan.groupBy("key").agg(count(lit(1)).as("n"), min("source"), max("source"))
          .filter(col("n").gt(1)).limit(1).collectAsList();
      if (!clash.isEmpty()) {
        Row r = clash.get(0);
        throw new IllegalArgumentException("Cannot build: key '" + r.getString(0) + "' names " + r.getLong(1)
            + " candidates (sources " + r.getString(2) + " and " + r.getString(3) + "); keys must be unique"
            + " across sources: give tar files and folders distinct names, or set source.table.key-column");
      }
    }

    /**
     * Counts every candidate once: by source, whether its image was fetched and processed OK, and what
     * became of it ({@code admitted} or a reject reason).
     */
    private void countCandidates(Dataset<Row> plan, Admission.Decision decision,
        Broadcast<Balancer.Thresholds> thresholds, Map<String, Object> stats) throws IOException {
      // A candidate the CLIP filter rejected was processed OK.
      JavaRDD<List<Object>> plannedRows = decision.labelled().map(l -> List.<Object>of(l.entry().source(),
          Admission.label(l, thresholds.value()), l.entry().state() != Admission.UNFETCHED,
          l.entry().state() == Admission.OK || l.entry().clipRejected()));
      JavaRDD<List<Object>> others = plan
          .filter(col("fetch_key").isNull().or(size(col("queries")).equalTo(0)))
          .select("source", "reject", "fetch_key")
          .join(fetched().select("fetch_key", "status"),
              scala.collection.JavaConverters.asScalaBuffer(List.of("fetch_key")).toSeq(), "left")
          .select("source", "reject", "status")
          .javaRDD()
          .map(r -> List.<Object>of(r.getString(0), r.isNullAt(1) ? RejectReason.UNMATCHED.key() : r.getString(1),
              !r.isNullAt(2), !r.isNullAt(2) && Schemas.OK.equals(r.getString(2))));
      Map<List<Object>, Long> counts = plannedRows.union(others).countByValue();
      var rejected = new LinkedHashMap<String, Long>();
      for (RejectReason reason : RejectReason.values()) {
        rejected.put(reason.key(), 0L);
      }
      var bySource = new TreeMap<String, Map<String, Long>>();
      long total = 0;
      long fetched = 0;
      long ok = 0;
      for (var e : counts.entrySet()) {
        String source = (String) e.getKey().get(0);
        String label = (String) e.getKey().get(1);
        boolean wasFetched = (Boolean) e.getKey().get(2);
        boolean wasOk = (Boolean) e.getKey().get(3);
        long n = e.getValue();
        total += n;
        fetched += wasFetched ? n : 0;
        ok += wasOk ? n : 0;
        if (!label.equals(Admission.ADMITTED)) {
          rejected.merge(label, n, Long::sum);
        }
        var s = bySource.computeIfAbsent(source, k -> {
          var m = new LinkedHashMap<String, Long>();
          m.put("candidates", 0L);
          m.put("fetched", 0L);
          m.put("ok", 0L);
          m.put("admitted", 0L);
          if (scorer != null) {
            m.put(RejectReason.CLIP_SCORE.key(), 0L);
          }
          return m;
        });
        s.merge("candidates", n, Long::sum);
        s.merge("fetched", wasFetched ? n : 0, Long::sum);
        s.merge("ok", wasOk ? n : 0, Long::sum);
        s.merge("admitted", label.equals(Admission.ADMITTED) ? n : 0, Long::sum);
        if (scorer != null) {
          s.merge(RejectReason.CLIP_SCORE.key(), label.equals(RejectReason.CLIP_SCORE.key()) ? n : 0, Long::sum);
        }
      }
      long unmatched = rejected.get(RejectReason.UNMATCHED.key());
      long planned = decision.labelled().count();
      stats.put("candidates", total);
      stats.put("planned", planned);
      stats.put("fetched", fetched);
      stats.put("processed_ok", ok);
      stats.put("never_fetched", total - fetched);
      stats.put("never_fetched_share", total == 0 ? 0.0 : Math.round((total - fetched) * 1e6 / total) / 1e6);
      stats.put("rejected", rejected);
      stats.put("by_source", bySource);
      stats.put("duplicates", rejected.get(RejectReason.DUPLICATE.key()));
      stats.put("unique", decision.counting());
      stats.put("matched", planned);
      LOG.debug("{} candidates: {} matched no query, {} planned, {} fetched or decoded ({} OK)", total, unmatched,
          planned, fetched, ok);
    }

    private Map<String, Object> queryStats(List<String> queries, Dataset<Row> plan, Balancer.Thresholds t,
        JavaRDD<Admission.Labelled> admitted) {
      Map<Integer, Long> matched = plan.filter(col("fetch_key").isNotNull()).select("queries").javaRDD()
          .flatMap(r -> r.<Integer>getList(0).iterator())
          .countByValue();
      Map<Integer, Long> inOutput = admitted
          .flatMap(l -> Arrays.stream(l.entry().queries()).boxed().iterator())
          .countByValue();
      var top = new ArrayList<Map<String, Object>>();
      matched.entrySet().stream()
          .sorted((a, b) -> a.getValue().equals(b.getValue())
              ? Integer.compare(a.getKey(), b.getKey()) : Long.compare(b.getValue(), a.getValue()))
          .limit(50)
          .forEach(e -> {
            var row = new LinkedHashMap<String, Object>();
            row.put("query", queries.get(e.getKey()));
            row.put("matched", e.getValue());
            row.put("admitted", t.admittedBy(e.getKey()));
            row.put("in_output", inOutput.getOrDefault(e.getKey(), 0L));
            top.add(row);
          });
      // How many queries admitted how many pairs, in decades: "0", "1-9", "10-99", ...
      var distribution = new LinkedHashMap<String, Long>();
      long withPairs = t.matched().keySet().stream().filter(q -> t.admittedBy(q) > 0).count();
      distribution.put("0", queries.size() - withPairs);
      for (long lo = 1; lo <= options.maxPerQuery(); lo *= 10) {
        long hi = Math.min(lo * 10 - 1, options.maxPerQuery());
        final long l = lo;
        final long h = hi;
        distribution.put(lo == hi ? String.valueOf(lo) : lo + "-" + hi,
            t.matched().keySet().stream().filter(q -> t.admittedBy(q) >= l && t.admittedBy(q) <= h).count());
        if (hi == options.maxPerQuery()) {
          break;
        }
      }
      var result = new LinkedHashMap<String, Object>();
      result.put("total", (long) queries.size());
      result.put("with_pairs", withPairs);
      result.put("at_cap", (long) t.lastAdmitted().size());
      result.put("max_per_query", options.maxPerQuery());
      result.put("admitted_distribution", distribution);
      result.put("top", top);
      return result;
    }

    /** Orders the admitted pairs, joins them with their captions and images and writes the shards. */
    private List<Manifest.Shard> writeShards(Dataset<Row> plan, JavaRDD<Admission.Labelled> admitted,
        Broadcast<QueryMatcher> matcher, long total) throws IOException {
      Path shardsDir = new Path(out, "shards");
      Path tmp = new Path(work, "shards.tmp");
      fs.delete(shardsDir, true);
      fs.delete(tmp, true);
      if (total == 0) {
        fs.mkdirs(shardsDir);
        return List.of();
      }
      int rows = options.shardRows();
      int numShards = (int) ((total + rows - 1) / rows);
      JavaRDD<Row> order = admitted
          .map(Admission.Labelled::entry)
          .sortBy(Admission.Entry::rank, true, Math.max(1, Math.min(numShards, 1000)))
          .zipWithIndex()
          .map(t -> {
            QueryMatcher qm = matcher.value();
            String[] names = Arrays.stream(t._1().queries()).mapToObj(qm::query).toArray(String[]::new);
            float similarity = t._1().similarity();
            return RowFactory.create(t._1().key(), t._1().fetchKey(), t._2(), names,
                Float.isNaN(similarity) ? null : similarity);
          });
      StructType orderSchema = new StructType()
          .add("key", DataTypes.StringType, false)
          .add("fetch_key", DataTypes.StringType, false)
          .add("position", DataTypes.LongType, false)
          .add("queries", DataTypes.createArrayType(DataTypes.StringType, false), false)
          .add(Schemas.CLIP_SIMILARITY, DataTypes.FloatType, true);
      boolean withClip = scorer != null;
      Dataset<Row> joined = spark.createDataFrame(order, orderSchema)
          .join(plan.select("key", "caption", "source", "url"), "key")
          .join(fetched().filter(col("status").equalTo(Schemas.OK)).drop("status", "detail"), "fetch_key");
      JavaPairRDD<Long, Row> byPosition = joined.javaRDD().mapToPair(r -> {
        Object[] values = {r.getAs("key"), r.getAs("caption"), r.getAs("image"), r.getAs("width"),
            r.getAs("height"), r.getAs("original_width"), r.getAs("original_height"), r.getAs("sha256"),
            r.getAs("source"), r.getAs("url"), r.getList(r.fieldIndex("queries")).toArray(new String[0])};
        if (withClip) {
          values = Arrays.copyOf(values, values.length + 1);
          values[values.length - 1] = r.getAs(Schemas.CLIP_SIMILARITY);
        }
        return new Tuple2<>(r.<Long>getAs("position"), RowFactory.create(values));
      });
      JavaRDD<Row> shardRows = byPosition
          .repartitionAndSortWithinPartitions(new ShardPartitioner(numShards, rows))
          .values();
      LOG.info("Writing {} rows in {} shards of {} rows", total, numShards, rows);
      spark.createDataFrame(shardRows, Schemas.shard(withClip)).write().mode(SaveMode.Overwrite).parquet(tmp.toString());

      fs.mkdirs(shardsDir);
      var shards = new ArrayList<Manifest.Shard>();
      FileStatus[] files = fs.listStatus(tmp, p -> p.getName().startsWith("part-") && p.getName().endsWith(".parquet"));
      Arrays.sort(files, (a, b) -> a.getPath().getName().compareTo(b.getPath().getName()));
      if (files.length != numShards) {
        throw new IllegalStateException("Expected " + numShards + " shard files in " + tmp + " but found " + files.length);
      }
      for (FileStatus file : files) {
        int index = Integer.parseInt(file.getPath().getName().substring(5, 10));
        String name = String.format("part-%05d.parquet", index);
        Path target = new Path(shardsDir, name);
        if (!fs.rename(file.getPath(), target)) {
          throw new IOException("Cannot move " + file.getPath() + " to " + target);
        }
        long counted = rowCount(target);
        long expected = index < numShards - 1 ? rows : total - (long) rows * (numShards - 1);
        if (counted != expected) {
          throw new IllegalStateException("Shard " + target + " holds " + counted + " rows, expected " + expected);
        }
        shards.add(new Manifest.Shard("shards/" + name, counted, fs.getFileStatus(target).getLen()));
      }
      fs.delete(tmp, true);
      return shards;
    }

    private long rowCount(Path parquet) throws IOException {
      try (var reader = ParquetFileReader.open(HadoopInputFile.fromPath(parquet, hadoop))) {
        return reader.getRecordCount();
      }
    }

    private Map<String, Object> readStats() throws IOException {
      Path path = new Path(out, STATS_FILE);
      if (!fs.exists(path)) {
        return Map.of();
      }
      try (InputStream in = fs.open(path)) {
        @SuppressWarnings("unchecked")
        Map<String, Object> stats = Manifest.JSON.readValue(in, Map.class);
        return stats;
      }
    }
  }

  /**
   * Scores one partition of (key, caption, image) rows with the CLIP scorer, {@link CandidateScorer#batchSize()}
   * pairs at a time, into rows of {@link Schemas#SCORED}.
   */
  static final class Scoring implements org.apache.spark.api.java.function.FlatMapFunction<java.util.Iterator<Row>, Row> {
    private static final long serialVersionUID = 1L;
    private final CandidateScorer scorer;
    private final int round;

    Scoring(CandidateScorer scorer, int round) {
      this.scorer = scorer;
      this.round = round;
    }

    @Override
    public java.util.Iterator<Row> call(java.util.Iterator<Row> rows) {
      int batchSize = Math.max(1, scorer.batchSize());
      var out = new ArrayList<Row>();
      var keys = new ArrayList<String>(batchSize);
      var captions = new ArrayList<String>(batchSize);
      var images = new ArrayList<byte[]>(batchSize);
      while (rows.hasNext()) {
        Row r = rows.next();
        keys.add(r.getString(0));
        captions.add(r.getString(1));
        images.add((byte[]) r.get(2));
        if (keys.size() == batchSize || !rows.hasNext()) {
          float[] scores = scorer.score(images, captions);
          if (scores.length != keys.size()) {
            throw new IllegalStateException("The CLIP scorer returned " + scores.length + " scores for "
                + keys.size() + " pairs");
          }
          for (int i = 0; i < scores.length; i++) {
            if (!(scores[i] >= -1.0001f && scores[i] <= 1.0001f)) {
              throw new IllegalStateException("The CLIP scorer returned " + scores[i] + " for candidate "
                  + keys.get(i) + ": a cosine similarity must be between -1 and 1");
            }
            out.add(RowFactory.create(keys.get(i), scores[i], round));
          }
          keys.clear();
          captions.clear();
          images.clear();
        }
      }
      return out.iterator();
    }
  }

  /** Sends position p to shard p / rows. */
  static final class ShardPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final int shards;
    private final int rows;

    ShardPartitioner(int shards, int rows) {
      this.shards = shards;
      this.rows = rows;
    }

    @Override
    public int numPartitions() {
      return shards;
    }

    @Override
    public int getPartition(Object key) {
      return (int) ((Long) key / rows);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof ShardPartitioner p && p.shards == shards && p.rows == rows;
    }

    @Override
    public int hashCode() {
      return 31 * shards + rows;
    }
  }

  /** A candidate's row of {@link Schemas#PLAN}, from its metadata; its image bytes, if any, are dropped. */
  static Row planRow(Candidate c, QueryMatcher matcher, long seed, int captionMaxLength) {
    String caption;
    RejectReason reject;
    if (c.reject() != null) {
      caption = c.caption();
      reject = c.reject();
    } else {
      caption = Captions.clean(c.caption());
      // Checked before anything is loaded: a caption that cannot be used is not worth a download.
      reject = Captions.check(caption, captionMaxLength);
      if (reject == null && c.imageBytes() == null && c.url() == null && c.path() == null) {
        reject = RejectReason.MISSING_IMAGE;
      }
    }
    String fetchKey = null;
    int[] queries = new int[0];
    if (reject == null) {
      fetchKey = c.imageBytes() != null ? CandidateProcessor.FetchKeys.IN_SOURCE + c.key()
          : c.url() != null ? CandidateProcessor.FetchKeys.URL + UrlFetcher.normalise(c.url())
          : CandidateProcessor.FetchKeys.PATH + c.path();
      queries = matcher.matchIds(caption);
    }
    return RowFactory.create(c.key(), c.source(), c.url(), caption, reject == null ? null : reject.key(),
        Hashes.keyHash(seed, c.key()), queries, fetchKey);
  }

  static String fingerprint(List<String> queries, List<String> sources, Map<String, Object> settings)
      throws IOException {
    var input = new LinkedHashMap<String, Object>();
    input.put("queries", Hashes.sha256Hex(String.join("\n", queries)));
    input.put("sources", sources);
    input.put("settings", settings);
    return Hashes.sha256Hex(Manifest.JSON.writeValueAsString(input));
  }

}
