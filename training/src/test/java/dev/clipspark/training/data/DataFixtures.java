package dev.clipspark.training.data;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.build.Manifest;
import dev.clipspark.dataset.build.Schemas;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/** Test helpers: a local Spark session and real datasets built by the dataset builder. */
public final class DataFixtures {

  /** The synthetic source's shape names: as queries they admit every synthetic pair. */
  static final List<String> SHAPES = List.of("circle", "square", "triangle", "star", "cross", "ring");

  private DataFixtures() {}

  /** A local[2] session without UI; stop it in {@code @AfterAll}. */
  public static SparkSession spark(String name) {
    return SparkSession.builder()
        .master("local[2]")
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate();
  }

  /**
   * Builds a dataset of {@code count} synthetic pairs stored at {@code side} pixels, {@code shardRows} rows a
   * shard, into {@code dir/name}, and returns the dataset directory.
   */
  public static String synthetic(SparkSession spark, Path dir, String name, int count, int side, int shardRows) {
    String queries = dir.resolve(name + "-queries").toString();
    var rows = new ArrayList<Row>();
    for (int i = 0; i < SHAPES.size(); i++) {
      rows.add(RowFactory.create(SHAPES.get(i), "unigram", (double) (SHAPES.size() - i), (long) i));
    }
    var schema = new StructType().add("query", DataTypes.StringType).add("kind", DataTypes.StringType)
        .add("score", DataTypes.DoubleType).add("rank", DataTypes.LongType);
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(queries + "/queries.parquet");
    var settings = new Settings(ConfigFactory.parseString("source.synthetic.count = " + count
            + "\nsource.synthetic.image-size = " + side + "\nimage.size = " + side + "\nimage.min-side = 16"
            + "\nshard.rows = " + shardRows + "\nsource.partitions = 4\nbuild.keep-work = false")
        .withFallback(ConfigFactory.defaultReference()).resolve());
    CandidateSource source = Sources.parse("synthetic:" + name, SourceOptions.from(settings));
    String out = dir.resolve(name).toString();
    DatasetBuild.run(spark, new DatasetBuild.Request(queries, List.of(source), out, false), BuildOptions.from(settings));
    return out;
  }

  /**
   * Writes a dataset by hand (real Parquet shards with the builder's shard schema, and a manifest): keys
   * {@code k00, k01, ...}, {@code shardRows} rows a shard, row {@code i}'s image {@code images.get(i)}.
   */
  public static String handMade(SparkSession spark, Path dir, String name, List<byte[]> images, int shardRows)
      throws java.io.IOException {
    var captions = new ArrayList<String>();
    for (int i = 0; i < images.size(); i++) {
      captions.add("a red circle number " + i);
    }
    return handMade(spark, dir, name, images, captions, shardRows);
  }

  /**
   * The synthetic source's first {@code count} pairs ({@code SyntheticShapes.pair}: coloured shapes of side
   * {@code side} with their captions) written as a dataset by hand (no matching or balancing: faster than
   * {@link #synthetic}).
   */
  public static String syntheticHandMade(SparkSession spark, Path dir, String name, int count, int side,
      int shardRows) throws java.io.IOException {
    var images = new ArrayList<byte[]>();
    var captions = new ArrayList<String>();
    for (int i = 0; i < count; i++) {
      var pair = dev.clipspark.dataset.source.SyntheticShapes.pair(i, 11, side);
      images.add(pair.imageBytes());
      captions.add(pair.caption());
    }
    return handMade(spark, dir, name, images, captions, shardRows);
  }

  /** {@link #handMade(SparkSession, Path, String, List, int)} with row {@code i}'s caption {@code captions.get(i)}. */
  public static String handMade(SparkSession spark, Path dir, String name, List<byte[]> images,
      List<String> captions, int shardRows) throws java.io.IOException {
    Path out = dir.resolve(name);
    java.nio.file.Files.createDirectories(out.resolve("shards"));
    var shards = new ArrayList<Manifest.Shard>();
    for (int s = 0; s * shardRows < images.size(); s++) {
      var rows = new ArrayList<Row>();
      for (int i = s * shardRows; i < Math.min(images.size(), (s + 1) * shardRows); i++) {
        rows.add(RowFactory.create(String.format("k%02d", i), captions.get(i), images.get(i), 16, 16, 16,
            16, "0".repeat(64), "hand", null, new String[] {"circle"}));
      }
      String tmp = out.resolve("tmp-" + s).toString();
      spark.createDataFrame(rows, Schemas.SHARD).coalesce(1).write().parquet(tmp);
      Path part;
      try (var files = java.nio.file.Files.list(Path.of(tmp))) {
        part = files.filter(f -> f.getFileName().toString().endsWith(".parquet")).findFirst().orElseThrow();
      }
      String shard = String.format("shards/part-%05d.parquet", s);
      java.nio.file.Files.move(part, out.resolve(shard));
      shards.add(new Manifest.Shard(shard, rows.size(), java.nio.file.Files.size(out.resolve(shard))));
    }
    var manifest = new Manifest(Schemas.SHARD_SCHEMA_VERSION, images.size(), shardRows, shards, "none",
        List.of("hand"), "f".repeat(64), Map.of(), "2024-01-01T00:00:00Z");
    new com.fasterxml.jackson.databind.ObjectMapper().writeValue(out.resolve(Manifest.FILE).toFile(), manifest);
    return out.toString();
  }

  /** A 16 x 16 JPEG of one colour that depends on {@code n}. */
  public static byte[] colourJpeg(int n) {
    var img = new java.awt.image.BufferedImage(16, 16, java.awt.image.BufferedImage.TYPE_INT_RGB);
    var g = img.createGraphics();
    g.setColor(new java.awt.Color((n * 47) % 256, (n * 91) % 256, (n * 13) % 256));
    g.fillRect(0, 0, 16, 16);
    g.dispose();
    var bytes = new java.io.ByteArrayOutputStream();
    try {
      javax.imageio.ImageIO.write(img, "jpg", bytes);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** Every row of a dataset's shards as key to (caption, image bytes), read with Spark. */
  static Map<String, Row> rows(SparkSession spark, String dataset) {
    var map = new TreeMap<String, Row>();
    for (Row r : spark.read().parquet(dataset + "/shards").select("key", "caption", "image").collectAsList()) {
      map.put(r.getString(0), r);
    }
    return map;
  }

  /** The shard index (in the manifest) of every key. */
  static Map<String, Integer> shardOf(SparkSession spark, String dataset) {
    Manifest m = Manifest.read(dataset, spark.sparkContext().hadoopConfiguration());
    var map = new TreeMap<String, Integer>();
    for (int s = 0; s < m.shards().size(); s++) {
      for (Row r : spark.read().parquet(dataset + "/" + m.shards().get(s).path()).select("key").collectAsList()) {
        map.put(r.getString(0), s);
      }
    }
    return map;
  }
}
