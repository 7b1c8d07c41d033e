package dev.clipspark.dataset.build;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.Words;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole build-dataset job in Spark local mode, on fixtures written by the test. */
class DatasetBuildTest {

  static SparkSession spark;
  static HttpServer server;
  static String base;

  @TempDir
  Path dir;

  @BeforeAll
  static void start() throws IOException {
    spark = SparkSession.builder().master("local[2]").appName("DatasetBuildTest")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate();
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/img/", ex -> {
      String name = ex.getRequestURI().getPath().substring("/img/".length());
      byte[] body = image(Integer.parseInt(name.replaceAll("\\D", "")), 80, 60);
      if (name.startsWith("noai")) {
        ex.getResponseHeaders().add("X-Robots-Tag", "noai");
      }
      ex.getResponseHeaders().add("Content-Type", "image/png");
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream o = ex.getResponseBody()) {
        o.write(body);
      }
    });
    server.createContext("/redirect/", ex -> {
      ex.getResponseHeaders().add("Location", "/img/" + ex.getRequestURI().getPath().substring("/redirect/".length()));
      ex.sendResponseHeaders(302, -1);
      ex.close();
    });
    server.createContext("/slow", ex -> {
      try {
        Thread.sleep(2500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      ex.sendResponseHeaders(404, -1);
      ex.close();
    });
    server.createContext("/big", ex -> {
      byte[] chunk = new byte[16 * 1024];
      ex.sendResponseHeaders(200, 0);
      try (OutputStream o = ex.getResponseBody()) {
        for (int i = 0; i < 16; i++) {
          o.write(chunk);
        }
      } catch (IOException e) {
        // The client hangs up once the body is over its limit.
      }
    });
    server.createContext("/missing", ex -> {
      ex.sendResponseHeaders(404, -1);
      ex.close();
    });
    // Many handlers at once: the pipeline fetches concurrently and /slow holds its thread.
    server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(8));
    server.start();
    base = "http://127.0.0.1:" + server.getAddress().getPort();
  }

  @AfterAll
  static void stop() {
    server.stop(0);
    spark.stop();
  }

  /** A distinct PNG for each n: the colour and a stripe depend on n. */
  static byte[] image(int n, int w, int h) {
    var img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    var g = img.createGraphics();
    g.setColor(new Color((n * 47) % 256, (n * 91) % 256, (n * 13) % 256));
    g.fillRect(0, 0, w, h);
    g.setColor(Color.WHITE);
    g.fillRect(n % (w - 4), 0, 3, h);
    g.dispose();
    var out = new ByteArrayOutputStream();
    try {
      ImageIO.write(img, "png", out);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  static Settings settings(String overrides) {
    return new Settings(ConfigFactory.parseString(overrides + "\nfetch.allow-private = true\nfetch.retries = 0"
            + "\nfetch.read-timeout = 1s\nfetch.max-body-bytes = 64KiB\nimage.size = 32\nimage.min-side = 16")
        .withFallback(ConfigFactory.defaultReference()).resolve());
  }

  String queries(String... queries) {
    Path q = dir.resolve("queries-" + queries.length + "-" + String.join("_", queries).hashCode());
    var rows = new ArrayList<Row>();
    for (int i = 0; i < queries.length; i++) {
      rows.add(RowFactory.create(queries[i], "unigram", (double) (queries.length - i), (long) i));
    }
    var schema = new StructType().add("query", DataTypes.StringType).add("kind", DataTypes.StringType)
        .add("score", DataTypes.DoubleType).add("rank", DataTypes.LongType);
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(q.resolve("queries.parquet").toString());
    return q.toString();
  }

  DatasetBuild.Result build(String queriesDir, List<String> specs, String out, String overrides) {
    Settings s = settings(overrides);
    List<CandidateSource> sources = specs.stream().map(spec -> Sources.parse(spec, SourceOptions.from(s))).toList();
    return DatasetBuild.run(spark, new DatasetBuild.Request(queriesDir, sources, out, false), BuildOptions.from(s));
  }

  static List<Row> shardRows(String out) {
    return spark.read().parquet(out + "/shards").collectAsList();
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> stats(String out) throws IOException {
    return new ObjectMapper().readValue(new File(out, "stats.json"), Map.class);
  }

  @Test
  void everySourceKindEndToEndWithBadInputCountedNotFatal() throws Exception {
    // webdataset: 3 good pairs, a corrupt image, a missing caption, then a tar truncated mid-member.
    Path tars = Files.createDirectories(dir.resolve("tars"));
    try (var tar = new TarArchiveOutputStream(Files.newOutputStream(tars.resolve("00000.tar")))) {
      for (int i = 0; i < 3; i++) {
        put(tar, String.format("%09d.png", i), image(i, 64, 64));
        put(tar, String.format("%09d.txt", i), ("a red kite number " + i).getBytes(StandardCharsets.UTF_8));
      }
      put(tar, "000000003.jpg", "this is not an image".getBytes(StandardCharsets.UTF_8));
      put(tar, "000000003.txt", "a red kite that is broken".getBytes(StandardCharsets.UTF_8));
      put(tar, "000000004.png", image(4, 64, 64));
    }
    var truncated = new ByteArrayOutputStream();
    byte[] first = image(10, 64, 64);
    byte[] caption = "red kite in the second tar".getBytes(StandardCharsets.UTF_8);
    byte[] cutShort = image(11, 64, 64);
    try (var tar = new TarArchiveOutputStream(truncated)) {
      put(tar, "000000000.png", first);
      put(tar, "000000000.txt", caption);
      put(tar, "000000001.png", cutShort);
    }
    byte[] whole = truncated.toByteArray();
    // The file ends half-way through the third member's data.
    int cut = 512 + padded(first.length) + 512 + padded(caption.length) + 512 + cutShort.length / 2;
    Files.write(tars.resolve("00001.tar"), java.util.Arrays.copyOf(whole, cut));

    // table: CSV of URLs served by the loopback server: 2 good, a 404, a noai image, a blank caption,
    // a redirect to a good image, a response slower than the read timeout and a body over the size cap.
    Path csv = dir.resolve("urls.csv");
    Files.writeString(csv, "url,caption\n"
        + base + "/img/20.png,blue kite over the sea\n"
        + base + "/img/21.png,a blue kite\n"
        + base + "/missing,blue kite that is gone\n"
        + base + "/img/noai22.png,blue kite with noai\n"
        + base + "/img/23.png,\"   \"\n"
        + base + "/redirect/24.png,blue kite via a redirect\n"
        + base + "/slow,blue kite too slow\n"
        + base + "/big,blue kite too big\n");

    // folder: two images with captions, one image without.
    Path folder = Files.createDirectories(dir.resolve("folder/sub"));
    Files.write(folder.resolve("a.png"), image(30, 48, 48));
    Files.writeString(folder.resolve("a.txt"), "green kite\n");
    Files.write(folder.resolve("b.png"), image(31, 48, 48));
    Files.writeString(folder.resolve("b.txt"), "green kite at dusk");
    Files.write(folder.resolve("c.png"), image(32, 48, 48));

    String out = dir.resolve("out").toString();
    var result = build(queries("kite", "red", "blue", "green"),
        List.of("webdataset:" + tars, "table:" + csv, "folder:" + dir.resolve("folder")), out, "");

    List<Row> rows = shardRows(out);
    List<String> keys = rows.stream().map(r -> r.<String>getAs("key")).sorted().toList();
    assertThat(keys).as("written keys; stats: %s", stats(out)).hasSize(3 + 1 + 3 + 2);
    assertThat(rows).allSatisfy(r -> {
      assertThat(r.<Integer>getAs("width")).isEqualTo(32);
      assertThat(r.<Integer>getAs("height")).isEqualTo(32);
      assertThat(r.<String>getList(r.fieldIndex("queries"))).contains("kite");
      assertThat(ImageIO.read(new ByteArrayInputStream(r.<byte[]>getAs("image")))).isNotNull();
      assertThat(r.<String>getAs("sha256")).hasSize(64);
    });
    Row fetched = rows.stream().filter(r -> r.getAs("url") != null && r.<String>getAs("url").endsWith("/img/20.png"))
        .findFirst().orElseThrow();
    assertThat(fetched.<String>getAs("caption")).isEqualTo("blue kite over the sea");
    assertThat(fetched.<String>getAs("sha256")).isEqualTo(Hashes.sha256Hex(image(20, 80, 60)));
    assertThat(fetched.<Integer>getAs("original_width")).isEqualTo(80);

    var stats = stats(out);
    @SuppressWarnings("unchecked")
    var rejected = (Map<String, Integer>) stats.get("rejected");
    assertThat(rejected.get(RejectReason.UNSUPPORTED_FORMAT.key()) + rejected.get(RejectReason.CORRUPT_IMAGE.key()))
        .isEqualTo(1);
    assertThat(rejected.get(RejectReason.MISSING_CAPTION.key())).isEqualTo(2); // tar key 4, folder c.png
    assertThat(rejected.get(RejectReason.TRUNCATED_TAR_MEMBER.key())).isEqualTo(1);
    assertThat(rejected.get(RejectReason.HTTP_ERROR.key())).isEqualTo(1);
    assertThat(rejected.get(RejectReason.ROBOTS_DISALLOWED.key())).isEqualTo(1);
    assertThat(rejected.get(RejectReason.CAPTION_EMPTY.key())).isEqualTo(1);
    assertThat(rejected.get(RejectReason.TIMEOUT.key())).isEqualTo(1);
    assertThat(rejected.get(RejectReason.BODY_TOO_LARGE.key())).isEqualTo(1);
    assertThat(((Number) stats.get("candidates")).longValue()).isEqualTo(7 + 8 + 3);
    assertThat(((Number) stats.get("written")).longValue()).isEqualTo(9);
    assertThat(result.manifest().totalRows()).isEqualTo(9);
    Row redirected = rows.stream().filter(r -> "blue kite via a redirect".equals(r.getAs("caption"))).findFirst().orElseThrow();
    assertThat(redirected.<String>getAs("sha256")).isEqualTo(Hashes.sha256Hex(image(24, 80, 60)));
    assertThat(result.manifest().shards()).allSatisfy(s -> assertThat(new File(out, s.path())).isFile());
  }

  @Test
  void perQueryCapAdmitsTheLowestRankedPairsAndIsDeterministic() throws Exception {
    String q = queries("circle");
    String out1 = dir.resolve("cap1").toString();
    String overrides = "source.synthetic.count = 240\nsource.synthetic.image-size = 32\nbalance.max-per-query = 9"
        + "\nshard.rows = 4\nsource.partitions = 3";
    build(q, List.of("synthetic:cap"), out1, overrides);

    // Every candidate whose caption has the word "circle", from the plan (synthetic images all decode).
    List<Row> plan = spark.read().parquet(out1 + "/_work/plan").collectAsList();
    List<String> circles = plan.stream()
        .filter(r -> r.getAs("reject") == null && Words.tokenize(r.<String>getAs("caption")).contains("circle"))
        .map(r -> r.<String>getAs("key")).toList();
    assertThat(circles.size()).as("the query must match more pairs than the cap").isGreaterThan(9);
    long seed = 42;
    List<String> expected = circles.stream()
        .sorted(Comparator.comparing((String k) -> Hashes.keyHash(seed, k)).thenComparing(k -> k))
        .limit(9).sorted().toList();

    List<Row> rows = shardRows(out1);
    assertThat(rows.stream().map(r -> r.<String>getAs("key")).sorted().toList()).isEqualTo(expected);
    var stats = stats(out1);
    assertThat(((Number) stats.get("written")).longValue()).isEqualTo(9);
    @SuppressWarnings("unchecked")
    var rejected = (Map<String, Integer>) stats.get("rejected");
    assertThat(rejected.get("duplicate")).isZero();
    assertThat(rejected.get("over_query_cap")).isEqualTo(circles.size() - 9);
    assertThat(rejected.get("unmatched")).isEqualTo(240 - circles.size());
    // Lazy: no unmatched caption was decoded, and of the circles only what the cap needed.
    assertThat(((Number) stats.get("fetched")).longValue()).isLessThan(circles.size());
    assertThat(((Number) stats.get("never_fetched")).longValue()).isGreaterThan(240 - circles.size());

    // Shards of shard.rows rows, the last holding the rest; the manifest agrees with the files.
    Manifest m = Manifest.read(out1, spark.sparkContext().hadoopConfiguration());
    assertThat(m.shards()).extracting(Manifest.Shard::rows).containsExactly(4L, 4L, 1L);
    assertThat(m.shards()).extracting(Manifest.Shard::path)
        .containsExactly("shards/part-00000.parquet", "shards/part-00001.parquet", "shards/part-00002.parquet");
    for (Manifest.Shard s : m.shards()) {
      assertThat(spark.read().parquet(out1 + "/" + s.path()).count()).isEqualTo(s.rows());
    }

    // Same inputs and seed, other partitioning: the same rows in the same shards.
    String out2 = dir.resolve("cap2").toString();
    build(q, List.of("synthetic:cap"), out2, overrides.replace("source.partitions = 3", "source.partitions = 5"));
    for (int i = 0; i < 3; i++) {
      String shard = String.format("/shards/part-%05d.parquet", i);
      assertThat(keysOf(out2 + shard)).isEqualTo(keysOf(out1 + shard));
    }
    // Another seed picks other pairs.
    String out3 = dir.resolve("cap3").toString();
    build(q, List.of("synthetic:cap"), out3, overrides + "\nbalance.seed = 7");
    assertThat(shardRows(out3).stream().map(r -> r.<String>getAs("key")).sorted().toList()).isNotEqualTo(expected);
  }

  @Test
  void exactDuplicatesKeepTheCopyFirstInPlanOrder() throws Exception {
    Path folder = Files.createDirectories(dir.resolve("dups"));
    for (String name : List.of("b", "a", "c")) {
      Files.write(folder.resolve(name + ".png"), image(5, 40, 40));
      Files.writeString(folder.resolve(name + ".txt"), "same kite " + name);
    }
    Files.write(folder.resolve("d.png"), image(6, 40, 40));
    Files.writeString(folder.resolve("d.txt"), "other kite");
    String out = dir.resolve("dups-out").toString();
    build(queries("kite"), List.of("folder:" + folder), out, "");
    // The copy that comes first in the seeded plan order (all three are reached: no cap binds).
    String first = List.of("a", "b", "c").stream()
        .min(Comparator.comparing((String k) -> Hashes.keyHash(42, k)).thenComparing(k -> k)).orElseThrow();
    assertThat(shardRows(out).stream().map(r -> r.<String>getAs("caption")).sorted().toList())
        .containsExactly("other kite", "same kite " + first);
    assertThat(((Number) stats(out).get("duplicates")).longValue()).isEqualTo(2);
  }

  @Test
  void rerunAfterACrashReusesProcessedCandidatesAndEndsComplete() throws Exception {
    String q = queries("circle", "square", "red");
    String out = dir.resolve("resume").toString();
    String overrides = "source.synthetic.count = 60\nsource.synthetic.image-size = 32\nshard.rows = 10";
    var first = build(q, List.of("synthetic:r"), out, overrides);
    var firstKeys = keysOf(out + "/shards");
    File processed = new File(out, "_work/fetched/round-00001");
    long processedTime = Files.getLastModifiedTime(processed.toPath()).toMillis();

    // A crash while writing shards: no manifest, a half-written shard and leftovers.
    Files.delete(Path.of(out, "manifest.json"));
    Files.writeString(Path.of(out, "shards", "part-00000.parquet"), "half a shard");
    Files.createDirectories(Path.of(out, "_work", "shards.tmp"));

    var second = build(q, List.of("synthetic:r"), out, overrides);
    assertThat(second.reused()).isFalse();
    assertThat(Files.getLastModifiedTime(processed.toPath()).toMillis()).isEqualTo(processedTime);
    assertThat(keysOf(out + "/shards")).isEqualTo(firstKeys);
    assertThat(second.manifest().shards()).isEqualTo(first.manifest().shards());

    // Complete output, same inputs: nothing to do.
    assertThat(build(q, List.of("synthetic:r"), out, overrides).reused()).isTrue();
    // Complete output, other settings: refused without --overwrite, naming the directory.
    assertThatThrownBy(() -> build(q, List.of("synthetic:r"), out, overrides + "\nbalance.max-per-query = 3"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(out)
        .hasMessageContaining("--overwrite");
  }

  /** What the loopback pool serves for one path: an image (by number), or a failure. */
  private record Served(String kind, int image) {}

  /**
   * A URL pool on a real loopback server with deterministic failures (404, a read timeout, corrupt
   * bodies), SHA-256 duplicates under different URLs, one URL spelt two ways, captions matching one or
   * two queries or none, and a cap that binds for some queries only. The lazy plan writes the same
   * rows, shards and manifest as {@code build.plan = all}, equal to the rule computed by hand below,
   * without fetching a single unmatched URL.
   */
  @Test
  void lazyPlanWritesTheSameDatasetAsProcessingEverything() throws Exception {
    var served = new java.util.LinkedHashMap<String, Served>();
    var lines = new ArrayList<String[]>();
    try (var pool = dev.clipspark.dataset.fetch.LoopbackServer.http()) {
      java.util.function.BiConsumer<String, String> add = (path, caption) -> {
        lines.add(new String[] {pool.url(path), caption});
      };
      String[] animals = {"cat", "dog", "bird", "fish"};
      int image = 100;
      for (int i = 0; i < 72; i++) {
        String path = "/p/" + i + ".png";
        // Every 7th fails with a 404, every 11th has a corrupt body, one times out.
        String kind = i % 7 == 3 ? "404" : i % 11 == 5 ? "corrupt" : i == 40 ? "slow" : "ok";
        served.put(path, new Served(kind, image++));
        String a = animals[i < 30 ? 0 : i < 50 ? 1 : i < 68 ? 2 : 3];
        // Every 5th caption also names a second animal (never fish, whose cap must not bind).
        String caption = i % 5 == 0 ? "a " + a + " with a " + animals[(i / 5) % 3] : "a photo of a " + a;
        add.accept(path, caption);
      }
      // Duplicates: the same bytes under other URLs, for capped and uncapped queries.
      for (int i = 0; i < 12; i++) {
        String path = "/dup/" + i + ".png";
        served.put(path, new Served("ok", i < 8 ? 100 : 172));
        add.accept(path, i < 8 ? "another cat picture " + i : "another fish picture " + i);
      }
      // One URL spelt two ways: planned and fetched once.
      served.put("/same.png", new Served("ok", 900));
      add.accept("/same.png", "a fish in a bowl");
      lines.add(new String[] {pool.url("/same.png").replace("http://", "HTTP://") + "#top", "a fish in a pond"});
      // Most of the pool matches no query and must never be fetched.
      for (int i = 0; i < 90; i++) {
        String path = "/u/" + i + ".png";
        served.put(path, new Served("ok", 1000 + i));
        add.accept(path, "a street at night number " + i);
      }
      for (var e : served.entrySet()) {
        Served v = e.getValue();
        pool.route(e.getKey(), ex -> {
          switch (v.kind()) {
            case "404" -> dev.clipspark.dataset.fetch.LoopbackServer.send(ex, 404, new byte[0]);
            case "corrupt" -> dev.clipspark.dataset.fetch.LoopbackServer.send(ex, 200,
                "GIF89a this is not an image at all".getBytes(StandardCharsets.UTF_8));
            case "slow" -> pool.stall();
            default -> dev.clipspark.dataset.fetch.LoopbackServer.send(ex, 200, image(v.image(), 40, 40));
          }
        });
      }
      Path csv = dir.resolve("pool.csv");
      var text = new StringBuilder("url,caption\n");
      lines.forEach(l -> text.append(l[0]).append(',').append(l[1]).append('\n'));
      Files.writeString(csv, text);

      String q = queries(animals);
      String settings = "balance.max-per-query = 7\nshard.rows = 4\nsource.partitions = 3";
      String lazyOut = dir.resolve("lazy").toString();
      var lazy = build(q, List.of("table:" + csv), lazyOut, settings);
      long unmatchedRequests = served.keySet().stream().filter(p -> p.startsWith("/u/")).mapToLong(pool::count).sum();
      long sameRequests = pool.count("/same.png");
      String allOut = dir.resolve("all").toString();
      var all = build(q, List.of("table:" + csv), allOut, settings + "\nbuild.plan = all");

      // The rule by hand: candidates in seeded rank order; reached while one of their queries has room;
      // admitted when the image is good and no earlier admitted pair has the same bytes.
      var keyed = new ArrayList<String[]>();
      for (int row = 0; row < lines.size(); row++) {
        keyed.add(new String[] {String.format("pool.csv/%09d", row), lines.get(row)[0], lines.get(row)[1]});
      }
      keyed.sort(Comparator.comparing((String[] c) -> Hashes.keyHash(42, c[0])).thenComparing(c -> c[0]));
      var room = new java.util.HashMap<String, Integer>();
      var admittedSha = new java.util.HashSet<String>();
      var expected = new ArrayList<String>();
      int reachedDuplicatesInCappedQueries = 0;
      int duplicates = 0;
      for (String[] c : keyed) {
        List<String> matched = java.util.Arrays.stream(animals).filter(Words.tokenize(c[2])::contains).toList();
        if (matched.stream().noneMatch(a -> room.getOrDefault(a, 7) > 0)) {
          continue;
        }
        String path = java.net.URI.create(c[1].replace("HTTP://", "http://")).getPath();
        Served v = served.get(path);
        if (!v.kind().equals("ok")) {
          continue;
        }
        String sha = Hashes.sha256Hex(image(v.image(), 40, 40));
        if (!admittedSha.add(sha)) {
          duplicates++;
          reachedDuplicatesInCappedQueries += matched.contains("cat") ? 1 : 0;
          continue;
        }
        expected.add(c[0]);
        matched.forEach(a -> room.merge(a, 7 - 1, (x, y) -> x - 1));
      }
      for (String a : animals) {
        room.putIfAbsent(a, 7);
      }
      assertThat(room.get("cat")).as("the cap binds for cat").isLessThanOrEqualTo(0);
      assertThat(room.get("fish")).as("the cap does not bind for fish").isPositive();

      // Same rows (every column, images included), same order, same shards, same manifest.
      var lazyKeys = new ArrayList<String>();
      for (Manifest.Shard shard : lazy.manifest().shards()) {
        lazyKeys.addAll(keysOf(lazyOut + "/" + shard.path()));
      }
      assertThat(lazyKeys).isEqualTo(expected);
      assertThat(lazy.manifest().shards()).isEqualTo(all.manifest().shards());
      for (Manifest.Shard shard : lazy.manifest().shards()) {
        assertThat(spark.read().parquet(lazyOut + "/" + shard.path()).collectAsList())
            .isEqualTo(spark.read().parquet(allOut + "/" + shard.path()).collectAsList());
      }
      assertThat(lazy.manifest()).usingRecursiveComparison().ignoringFields("created").isEqualTo(all.manifest());
      Map<String, Object> lazyStats = stats(lazyOut);
      Map<String, Object> allStats = stats(allOut);
      assertThat(lazyStats.get("rejected")).isEqualTo(allStats.get("rejected"));
      @SuppressWarnings("unchecked")
      var rejected = (Map<String, Integer>) lazyStats.get("rejected");
      assertThat(rejected.get("duplicate")).isEqualTo(duplicates);
      assertThat(reachedDuplicatesInCappedQueries).as("a duplicate cost a capped query its place").isPositive();
      assertThat(rejected.get("http_error")).isPositive();
      assertThat(rejected.get("unsupported_format") + rejected.get("corrupt_image")).isPositive();
      assertThat(rejected.get("unmatched")).isEqualTo(90);

      // What it cost: nothing unmatched fetched, a URL spelt twice fetched once, fewer fetches in all.
      assertThat(unmatchedRequests).isZero();
      assertThat(sameRequests).isEqualTo(1);
      assertThat(((Number) lazyStats.get("fetched")).longValue())
          .isLessThan(((Number) allStats.get("fetched")).longValue());
      assertThat(((Number) allStats.get("never_fetched")).longValue()).isZero();
      assertThat(((Number) lazyStats.get("never_fetched")).longValue()).isGreaterThanOrEqualTo(90);
      @SuppressWarnings("unchecked")
      var rounds = (List<Map<String, Object>>) lazyStats.get("rounds");
      assertThat(rounds).hasSizeGreaterThan(1);
      assertThat(rounds.get(rounds.size() - 1).get("admitted")).isEqualTo(expected.size());
      assertThat(lazyStats.get("max_rounds_reached")).isEqualTo(false);

      // Killed in the last round: its uncommitted output is a temporary directory. The re-run fetches that
      // round again and nothing of the committed ones, and writes the same rows.
      Path fetchedDir = Path.of(lazyOut, "_work", "fetched");
      String last = String.format("round-%05d", rounds.size());
      Files.move(fetchedDir.resolve(last), fetchedDir.resolve(last + ".tmp"));
      Files.delete(Path.of(lazyOut, "manifest.json"));
      long requestsBefore = pool.seen().size();
      var resumed = build(q, List.of("table:" + csv), lazyOut, settings);
      assertThat(pool.seen().size() - requestsBefore)
          .isEqualTo(((Number) rounds.get(rounds.size() - 1).get("fetched")).longValue());
      assertThat(resumed.manifest().shards()).isEqualTo(lazy.manifest().shards());
      for (Manifest.Shard shard : lazy.manifest().shards()) {
        assertThat(spark.read().parquet(lazyOut + "/" + shard.path()).collectAsList())
            .isEqualTo(spark.read().parquet(allOut + "/" + shard.path()).collectAsList());
      }
    }
  }

  @Test
  void maxRoundsBoundsTheRoundsAndSaysWhatItCut() throws Exception {
    // Ten kites, every other image cut short: the first round's take of 4 leaves the query short.
    Path folder = Files.createDirectories(dir.resolve("rounds"));
    for (int i = 0; i < 10; i++) {
      byte[] png = image(40 + i, 40, 40);
      Files.write(folder.resolve("k" + i + ".png"), i % 2 == 0 ? java.util.Arrays.copyOf(png, png.length / 3) : png);
      Files.writeString(folder.resolve("k" + i + ".txt"), "kite number " + i);
    }
    String out = dir.resolve("rounds-out").toString();
    build(queries("kite"), List.of("folder:" + folder), out, "balance.max-per-query = 4\nbalance.max-rounds = 1");
    var stats = stats(out);
    assertThat(stats.get("max_rounds_reached")).isEqualTo(true);
    assertThat((List<?>) stats.get("rounds")).hasSize(1);
    @SuppressWarnings("unchecked")
    var rejected = (Map<String, Integer>) stats.get("rejected");
    assertThat(rejected.get(RejectReason.ROUND_LIMIT.key())).isPositive();
    assertThat(((Number) stats.get("written")).longValue()).isLessThan(4).isPositive();
    assertThat(((Number) stats.get("fetched")).longValue()).isEqualTo(4);
  }

  @Test
  void keysThatClashAcrossSourcesAreRefused() throws Exception {
    for (String d : List.of("one", "two")) {
      Path f = Files.createDirectories(dir.resolve(d));
      Files.write(f.resolve("x.png"), image(d.length() * 3, 40, 40));
      Files.writeString(f.resolve("x.txt"), "kite");
    }
    assertThatThrownBy(() -> build(queries("kite"), List.of("folder:" + dir.resolve("one"), "folder:" + dir.resolve("two")),
        dir.resolve("clash").toString(), ""))
        .hasMessageContaining("must be unique");
  }

  private static List<String> keysOf(String path) {
    return spark.read().parquet(path).collectAsList().stream().map(r -> r.<String>getAs("key"))
        .collect(Collectors.toList());
  }

  private static int padded(int n) {
    return (n + 511) / 512 * 512;
  }

  private static void put(TarArchiveOutputStream tar, String name, byte[] bytes) throws IOException {
    var e = new TarArchiveEntry(name);
    e.setSize(bytes.length);
    tar.putArchiveEntry(e);
    tar.write(bytes);
    tar.closeArchiveEntry();
  }
}
