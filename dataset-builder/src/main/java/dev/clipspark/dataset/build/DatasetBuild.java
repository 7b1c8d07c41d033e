package dev.clipspark.dataset.build;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.struct;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.match.QueryMatcher;
import dev.clipspark.dataset.queries.QueryList;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.HadoopConf;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
 * The {@code build-dataset} job. Stages, each restartable:
 * <ol>
 *   <li><b>process</b>: every source's candidates are loaded, validated and re-encoded into
 *       {@code OUT/_work/processed} (one row per candidate, rejects included). A re-run whose sources
 *       and processing settings are unchanged reuses it instead of fetching again.</li>
 *   <li><b>select</b>: exact duplicates (same SHA-256 of the source bytes) keep the pair with the
 *       smallest key; captions are matched against the query list; each query admits at most
 *       {@code balance.max-per-query} pairs ({@link Balancer}); pairs matching no query are dropped.</li>
 *   <li><b>write</b>: admitted pairs, in seeded pseudo-random order, are written as
 *       {@code OUT/shards/part-NNNNN.parquet} of {@code shard.rows} rows each, then {@code stats.json},
 *       then {@code manifest.json} (atomically, last): a directory with a manifest is complete.</li>
 * </ol>
 * The same inputs, settings and seed always produce the same rows in the same shards.
 */
public final class DatasetBuild {

  private static final Logger LOG = LoggerFactory.getLogger(DatasetBuild.class);

  /** Name of the statistics file in a dataset directory. */
  public static final String STATS_FILE = "stats.json";

  private DatasetBuild() {}

  /**
   * What to build.
   *
   * @param queriesDir output directory of {@code build-queries} (holds {@code queries.parquet})
   * @param sources candidate sources, in order
   * @param outDir dataset directory to write
   * @param overwrite whether a finished build of other inputs in {@code outDir} may be replaced
   */
  public record Request(String queriesDir, List<CandidateSource> sources, String outDir, boolean overwrite) {
    public Request {
      Objects.requireNonNull(queriesDir, "queriesDir");
      Objects.requireNonNull(outDir, "outDir");
      sources = List.copyOf(sources);
      if (sources.isEmpty()) {
        throw new IllegalArgumentException("Cannot build a dataset: no --source given");
      }
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

  /** Runs the build. */
  public static Result run(SparkSession spark, Request request, BuildOptions options) {
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

    Run(SparkSession spark, Request request, BuildOptions options) throws IOException {
      this.spark = spark;
      this.jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      this.request = request;
      this.options = options;
      this.hadoop = spark.sparkContext().hadoopConfiguration();
      this.out = new Path(request.outDir());
      this.fs = out.getFileSystem(hadoop);
      this.work = new Path(out, "_work");
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

      Path processedPath = processed(specs);
      Dataset<Row> processed = spark.read().schema(Schemas.PROCESSED).parquet(processedPath.toString());
      var stats = new LinkedHashMap<String, Object>();
      Counts counts = countCandidates(processed, stats);

      LOG.info("Matching captions against {} queries", queries.size());
      Broadcast<QueryMatcher> matcher = jsc.broadcast(QueryMatcher.build(queries));
      long seed = options.balanceSeed();
      Dataset<Row> firsts = processed.filter(col("status").equalTo(Schemas.OK))
          .select("key", "sha256", "caption")
          .groupBy("sha256")
          .agg(min(struct(col("key"), col("caption"))).as("first"))
          .select(col("first.key").as("key"), col("first.caption").as("caption"));
      JavaRDD<Balancer.Matched> matched = firsts.javaRDD()
          .map(r -> new Balancer.Matched(r.getString(0), Hashes.keyHash(seed, r.getString(0)),
              matcher.value().matchIds(r.getString(1))))
          .persist(StorageLevel.MEMORY_AND_DISK_SER());
      long unique = matched.count();
      long ok = counts.ok();
      long unmatched = matched.filter(m -> m.queries().length == 0).count();
      JavaRDD<Balancer.Matched> withQueries = matched.filter(m -> m.queries().length > 0);
      Balancer.Thresholds thresholds = Balancer.thresholds(withQueries, options.maxPerQuery());
      Broadcast<Balancer.Thresholds> limits = jsc.broadcast(thresholds);
      JavaRDD<Balancer.Matched> admitted = withQueries.filter(m -> limits.value().admitsAny(m))
          .persist(StorageLevel.MEMORY_AND_DISK_SER());
      long admittedCount = admitted.count();
      long overCap = (unique - unmatched) - admittedCount;
      LOG.debug("{} unique images, {} matched no query, {} over their queries' caps, {} admitted",
          unique, unmatched, overCap, admittedCount);

      Map<String, Long> rejected = counts.rejected();
      rejected.put(RejectReason.DUPLICATE.key(), ok - unique);
      rejected.put(RejectReason.UNMATCHED.key(), unmatched);
      rejected.put(RejectReason.OVER_QUERY_CAP.key(), overCap);
      stats.put("duplicates", ok - unique);
      stats.put("unique", unique);
      stats.put("matched", unique - unmatched);
      stats.put("admitted", admittedCount);
      stats.put("queries", queryStats(queries, thresholds, admitted));

      List<Manifest.Shard> shards = writeShards(processed, admitted, matcher, admittedCount);
      matched.unpersist();
      admitted.unpersist();
      stats.put("written", shards.stream().mapToLong(Manifest.Shard::rows).sum());
      stats.put("shards", shards.size());
      Manifest.writeAtomically(fs, new Path(out, STATS_FILE), stats);
      var manifest = new Manifest(Schemas.SHARD_SCHEMA_VERSION, admittedCount, options.shardRows(), shards,
          request.queriesDir(), specs, fingerprint, options.describedSettings(), Instant.now().toString());
      Manifest.writeAtomically(fs, manifestPath, manifest);
      if (!options.keepWork()) {
        fs.delete(work, true);
      }
      LOG.debug("Wrote {} rows in {} shards to {}", admittedCount, shards.size(), out);
      return new Result(manifest, stats, false);
    }

    /** Runs or reuses the process stage and returns the path of its output. */
    private Path processed(List<String> specs) throws IOException {
      Path processed = new Path(work, "processed");
      Path marker = new Path(work, "processed.json");
      var settings = new LinkedHashMap<String, Object>();
      for (String section : List.of("source", "fetch", "image", "caption")) {
        settings.put(section, options.describedSettings().get(section));
      }
      String stageFingerprint = Hashes.sha256Hex(Manifest.JSON.writeValueAsString(Map.of("sources", specs, "settings", settings)));
      if (fs.exists(new Path(processed, "_SUCCESS")) && fs.exists(marker)) {
        Map<?, ?> previous;
        try (InputStream in = fs.open(marker)) {
          previous = Manifest.JSON.readValue(in, Map.class);
        }
        if (stageFingerprint.equals(previous.get("fingerprint"))) {
          LOG.info("Reusing processed candidates in {} (same sources and settings)", processed);
          return processed;
        }
        LOG.info("Sources or processing settings changed: processing candidates again");
      }
      fs.delete(marker, false);
      fs.delete(processed, true);
      Path tmp = new Path(work, "processed.tmp");
      fs.delete(tmp, true);

      JavaRDD<Candidate> candidates = null;
      for (CandidateSource source : request.sources()) {
        JavaRDD<Candidate> one = source.candidates(spark);
        candidates = candidates == null ? one : candidates.union(one);
      }
      LOG.info("Processing candidates from {} source(s) in {} partitions", specs.size(), candidates.getNumPartitions());
      JavaRDD<Row> rows = candidates.mapPartitions(new CandidateProcessor(options, HadoopConf.of(hadoop)));
      spark.createDataFrame(rows, Schemas.PROCESSED).write().mode(SaveMode.Overwrite).parquet(tmp.toString());
      if (!fs.rename(tmp, processed)) {
        throw new IOException("Cannot move " + tmp + " to " + processed);
      }
      Manifest.writeAtomically(fs, marker, Map.of("fingerprint", stageFingerprint, "sources", specs));
      return processed;
    }

    /** Candidates processed OK, and the rejects by reason (every reason, zero or not; filled in as stages run). */
    private record Counts(long ok, Map<String, Long> rejected) {}

    private Counts countCandidates(Dataset<Row> processed, Map<String, Object> stats) {
      List<Row> clash = processed.groupBy("key").agg(count(lit(1)).as("n"), min("source"), max("source"))
          .filter(col("n").gt(1)).limit(1).collectAsList();
      if (!clash.isEmpty()) {
        Row r = clash.get(0);
        throw new IllegalArgumentException("Cannot build: key '" + r.getString(0) + "' names " + r.getLong(1)
            + " candidates (sources " + r.getString(2) + " and " + r.getString(3) + "); keys must be unique"
            + " across sources: give tar files and folders distinct names, or set source.table.key-column");
      }
      // One pass gives both the per-status totals and each source's ok / rejected split.
      var byStatus = new LinkedHashMap<String, Long>();
      var bySource = new LinkedHashMap<String, Map<String, Long>>();
      for (Row r : processed.groupBy("source", "status").count().orderBy("source", "status").collectAsList()) {
        String status = r.getString(1);
        long n = r.getLong(2);
        byStatus.merge(status, n, Long::sum);
        bySource.computeIfAbsent(r.getString(0), k -> new LinkedHashMap<>())
            .merge(Schemas.OK.equals(status) ? "ok" : "rejected", n, Long::sum);
      }
      long total = byStatus.values().stream().mapToLong(Long::longValue).sum();
      var rejected = new LinkedHashMap<String, Long>();
      for (RejectReason reason : RejectReason.values()) {
        rejected.put(reason.key(), byStatus.getOrDefault(reason.key(), 0L));
      }
      long ok = byStatus.getOrDefault(Schemas.OK, 0L);
      stats.put("candidates", total);
      stats.put("processed_ok", ok);
      stats.put("rejected", rejected);
      stats.put("by_source", bySource);
      LOG.info("{} candidates, {} processed OK", total, ok);
      return new Counts(ok, rejected);
    }

    private Map<String, Object> queryStats(List<String> queries, Balancer.Thresholds t,
        JavaRDD<Balancer.Matched> admitted) {
      Map<Integer, Long> inOutput = admitted
          .flatMap(m -> Arrays.stream(m.queries()).boxed().iterator())
          .countByValue();
      var top = new ArrayList<Map<String, Object>>();
      t.matched().entrySet().stream()
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
      long zero = queries.size() - t.matched().size();
      distribution.put("0", zero);
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
      result.put("with_pairs", (long) t.matched().size());
      result.put("at_cap", (long) t.lastAdmitted().size());
      result.put("max_per_query", options.maxPerQuery());
      result.put("admitted_distribution", distribution);
      result.put("top", top);
      return result;
    }

    /** Orders the admitted pairs, joins them with their images and writes the shards. */
    private List<Manifest.Shard> writeShards(Dataset<Row> processed, JavaRDD<Balancer.Matched> admitted,
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
          .sortBy(m -> new Balancer.Rank(m.hash(), m.key()), true, Math.max(1, Math.min(numShards, 1000)))
          .zipWithIndex()
          .map(t -> {
            QueryMatcher qm = matcher.value();
            String[] names = Arrays.stream(t._1().queries()).mapToObj(qm::query).toArray(String[]::new);
            return RowFactory.create(t._1().key(), t._2(), names);
          });
      StructType orderSchema = new StructType()
          .add("key", DataTypes.StringType, false)
          .add("position", DataTypes.LongType, false)
          .add("queries", DataTypes.createArrayType(DataTypes.StringType, false), false);
      Dataset<Row> joined = processed.filter(col("status").equalTo(Schemas.OK))
          .join(spark.createDataFrame(order, orderSchema), "key");
      JavaPairRDD<Long, Row> byPosition = joined.javaRDD().mapToPair(r -> new Tuple2<>(
          r.<Long>getAs("position"),
          RowFactory.create(r.getAs("key"), r.getAs("caption"), r.getAs("image"), r.getAs("width"),
              r.getAs("height"), r.getAs("original_width"), r.getAs("original_height"), r.getAs("sha256"),
              r.getAs("source"), r.getAs("url"), r.getList(r.fieldIndex("queries")).toArray(new String[0]))));
      JavaRDD<Row> shardRows = byPosition
          .repartitionAndSortWithinPartitions(new ShardPartitioner(numShards, rows))
          .values();
      LOG.info("Writing {} rows in {} shards of {} rows", total, numShards, rows);
      spark.createDataFrame(shardRows, Schemas.SHARD).write().mode(SaveMode.Overwrite).parquet(tmp.toString());

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

  static String fingerprint(List<String> queries, List<String> sources, Map<String, Object> settings)
      throws IOException {
    var input = new LinkedHashMap<String, Object>();
    input.put("queries", Hashes.sha256Hex(String.join("\n", queries)));
    input.put("sources", sources);
    input.put("settings", settings);
    return Hashes.sha256Hex(Manifest.JSON.writeValueAsString(input));
  }

}
