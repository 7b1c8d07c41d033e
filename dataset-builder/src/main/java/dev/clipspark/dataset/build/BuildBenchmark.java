package dev.clipspark.dataset.build;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Measures what {@code build-dataset} costs with {@code build.plan = lazy} against {@code all}, on a
 * generated URL pool served by an HTTP server on loopback in this process.
 *
 * <p>The pool, fully determined by the seed: {@code candidates} rows of (URL, caption) in a Parquet table.
 * A share {@code matching} of the captions names one of {@code queries} query words ({@code kwN}), drawn
 * with a Zipf law (exponent 1), so the caps bind for the frequent queries and not for the rare ones; the
 * other captions name no query. 45% of the URLs fail, as on web-scale lists (30% answer 404, 15% send a
 * body that is not an image); 2% serve the same bytes as another URL. Images are 64x64 PNGs drawn by the
 * server on request. Both builds read the same pool with the same settings; the benchmark checks that they
 * wrote the same rows. An unmeasured lazy build runs first to warm up the JIT and Spark.
 */
public final class BuildBenchmark {

  private BuildBenchmark() {}

  /**
   * What to run.
   *
   * @param candidates rows in the pool
   * @param queries query words
   * @param matching share of captions that name a query
   * @param cap {@code balance.max-per-query}
   * @param threads {@code fetch.threads}
   * @param seed seed of the pool
   * @param workDir directory for the pool and the two builds (deleted first)
   */
  public record Params(int candidates, int queries, double matching, int cap, int threads, long seed,
      String workDir) {}

  /** The figures of one build. */
  public record Run(long fetched, long ok, double fetchedShare, double seconds, long workBytes, long planBytes,
      long shardBytes, long written, int rounds) {}

  /**
   * The result.
   *
   * @param matched candidates whose caption names a query
   * @param successRate share of the matched candidates whose image processed OK in the {@code all} build
   * @param lazy the lazy build
   * @param all the build that fetches everything
   * @param sameRows whether both wrote the same rows in the same shards
   * @param requests HTTP requests the server answered, both builds
   */
  public record Result(int candidates, long matched, double successRate, Run lazy, Run all, boolean sameRows,
      long requests) {}

  /** Runs both builds on the pool {@code p} describes. */
  public static Result run(SparkSession spark, Params p) throws IOException {
    var conf = spark.sparkContext().hadoopConfiguration();
    Path root = new Path(p.workDir());
    FileSystem fs = root.getFileSystem(conf);
    fs.delete(root, true);
    fs.mkdirs(root);
    AtomicLong requests = new AtomicLong();
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 256);
    ExecutorService pool = Executors.newFixedThreadPool(32, r -> {
      var t = new Thread(r, "bench-pool");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(pool);
    long seed = p.seed();
    server.createContext("/i/", ex -> {
      requests.incrementAndGet();
      serve(ex, seed);
    });
    server.start();
    try {
      String base = "http://127.0.0.1:" + server.getAddress().getPort() + "/i/";
      var rows = new ArrayList<Row>(p.candidates());
      var random = new SplittableRandom(seed);
      double harmonic = 0;
      for (int q = 1; q <= p.queries(); q++) {
        harmonic += 1.0 / q;
      }
      long matched = 0;
      for (int i = 0; i < p.candidates(); i++) {
        String caption;
        if (random.nextDouble() < p.matching()) {
          caption = "a photo of kw" + zipf(random.nextDouble() * harmonic, p.queries()) + " at " + (i % 97);
          matched++;
        } else {
          caption = "a street at night, picture number " + i;
        }
        rows.add(RowFactory.create(base + i + ".png", caption));
      }
      String table = new Path(root, "pool.parquet").toString();
      spark.createDataFrame(rows, new StructType().add("url", DataTypes.StringType).add("caption", DataTypes.StringType))
          .repartition(Math.max(2, spark.sparkContext().defaultParallelism()))
          .write().parquet(table);
      var queryRows = new ArrayList<Row>();
      for (int q = 0; q < p.queries(); q++) {
        queryRows.add(RowFactory.create("kw" + (q + 1), "unigram", (double) (p.queries() - q), (long) q));
      }
      String queriesDir = new Path(root, "queries").toString();
      spark.createDataFrame(queryRows, new StructType().add("query", DataTypes.StringType)
              .add("kind", DataTypes.StringType).add("score", DataTypes.DoubleType).add("rank", DataTypes.LongType))
          .coalesce(1).write().parquet(queriesDir + "/queries.parquet");

      // Unmeasured: warms up the JIT and Spark, so neither measured build pays for it.
      build(spark, p, table, queriesDir, new Path(root, "warm-up"), "lazy");
      Run lazy = build(spark, p, table, queriesDir, new Path(root, "lazy"), "lazy");
      Run all = build(spark, p, table, queriesDir, new Path(root, "all"), "all");
      boolean same = shardKeys(spark, new Path(root, "lazy")).equals(shardKeys(spark, new Path(root, "all")));
      double success = all.fetched() == 0 ? 0 : (double) all.ok() / all.fetched();
      return new Result(p.candidates(), matched, success, lazy, all, same, requests.get());
    } finally {
      server.stop(0);
      pool.shutdownNow();
    }
  }

  /** The 1-based rank r of a Zipf draw: the smallest r with H(r) >= u. */
  private static int zipf(double u, int n) {
    double h = 0;
    for (int r = 1; r <= n; r++) {
      h += 1.0 / r;
      if (h >= u) {
        return r;
      }
    }
    return n;
  }

  private static void serve(HttpExchange ex, long seed) throws IOException {
    try (ex) {
      String name = ex.getRequestURI().getPath().substring(3);
      int i = Integer.parseInt(name.substring(0, name.indexOf('.')));
      long h = Hashes.keyHash(seed, "url/" + i);
      int bucket = (int) Math.floorMod(h, 100L);
      if (bucket < 30) {
        ex.sendResponseHeaders(404, -1);
        return;
      }
      byte[] body = bucket < 45 ? "GIF89a not an image".getBytes(StandardCharsets.UTF_8)
          : image(bucket < 47 ? (int) Math.floorMod(h >>> 8, 1000L) : i);
      ex.getResponseHeaders().add("Content-Type", "image/png");
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream o = ex.getResponseBody()) {
        o.write(body);
      }
    }
  }

  /** A distinct 64x64 PNG for each n. */
  static byte[] image(int n) {
    var img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
    var g = img.createGraphics();
    g.setColor(new Color((n * 47) % 256, (n * 91) % 256, (n * 13) % 256));
    g.fillRect(0, 0, 64, 64);
    g.setColor(Color.WHITE);
    g.fillRect(n % 60, 0, 3, 64);
    g.fillRect(0, (n / 60) % 60, 64, 3);
    g.dispose();
    var out = new ByteArrayOutputStream();
    try {
      ImageIO.write(img, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static Run build(SparkSession spark, Params p, String table, String queriesDir, Path out, String plan)
      throws IOException {
    Settings s = new Settings(ConfigFactory.parseString(String.join("\n",
            "fetch.allow-private = true", "fetch.retries = 0", "fetch.threads = " + p.threads(),
            "image.size = 64", "image.min-side = 16", "balance.max-per-query = " + p.cap(), "shard.rows = 1000",
            "build.plan = " + plan))
        .withFallback(ConfigFactory.defaultReference()).resolve());
    List<CandidateSource> sources = List.of(Sources.parse("table:" + table, SourceOptions.from(s)));
    long start = System.nanoTime();
    var result = DatasetBuild.run(spark, new DatasetBuild.Request(queriesDir, sources, out.toString(), false),
        BuildOptions.from(s));
    double seconds = (System.nanoTime() - start) / 1e9;
    FileSystem fs = out.getFileSystem(spark.sparkContext().hadoopConfiguration());
    long work = fs.getContentSummary(new Path(out, "_work")).getLength();
    long planBytes = fs.getContentSummary(new Path(out, "_work/plan")).getLength();
    Map<String, Object> stats = result.stats();
    long fetched = ((Number) stats.get("fetched")).longValue();
    long shardBytes = result.manifest().shards().stream().mapToLong(Manifest.Shard::bytes).sum();
    return new Run(fetched, ((Number) stats.get("processed_ok")).longValue(), (double) fetched / p.candidates(), seconds, work, planBytes, shardBytes,
        result.manifest().totalRows(), ((List<?>) stats.get("rounds")).size());
  }

  private static List<String> shardKeys(SparkSession spark, Path out) {
    Manifest m = Manifest.read(out.toString(), spark.sparkContext().hadoopConfiguration());
    var keys = new ArrayList<String>();
    for (Manifest.Shard shard : m.shards()) {
      spark.read().parquet(new Path(out, shard.path()).toString()).select("key").collectAsList()
          .forEach(r -> keys.add(r.getString(0)));
    }
    return keys;
  }

  /** The figures as a flat map, for the bench command's table and JSON. */
  public static Map<String, Object> figures(Result r) {
    var f = new LinkedHashMap<String, Object>();
    f.put("candidates", r.candidates());
    f.put("matched", r.matched());
    f.put("success_rate", round(r.successRate()));
    for (var e : Map.of("lazy", r.lazy(), "all", r.all()).entrySet().stream()
        .sorted(Map.Entry.<String, Run>comparingByKey().reversed()).toList()) {
      Run run = e.getValue();
      f.put(e.getKey() + "_fetched", run.fetched());
      f.put(e.getKey() + "_fetched_share", round(run.fetchedShare()));
      f.put(e.getKey() + "_seconds", round(run.seconds()));
      f.put(e.getKey() + "_work_bytes", run.workBytes());
      f.put(e.getKey() + "_work_over_shards", round((double) run.workBytes() / Math.max(1, run.shardBytes())));
      f.put(e.getKey() + "_work_plan_bytes", run.planBytes());
      f.put(e.getKey() + "_work_images_over_shards",
          round((double) (run.workBytes() - run.planBytes()) / Math.max(1, run.shardBytes())));
      f.put(e.getKey() + "_rounds", run.rounds());
    }
    f.put("written", r.lazy().written());
    f.put("shard_bytes", r.lazy().shardBytes());
    f.put("lazy_fetches_over_kept_per_success",
        round(r.lazy().fetched() / Math.max(1.0, r.lazy().written() / Math.max(1e-9, r.successRate()))));
    f.put("same_rows", r.sameRows());
    f.put("http_requests", r.requests());
    return f;
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }
}
