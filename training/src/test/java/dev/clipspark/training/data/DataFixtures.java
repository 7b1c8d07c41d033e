package dev.clipspark.training.data;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.build.Manifest;
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
final class DataFixtures {

  /** The synthetic source's shape names: as queries they admit every synthetic pair. */
  static final List<String> SHAPES = List.of("circle", "square", "triangle", "star", "cross", "ring");

  private DataFixtures() {}

  /** A local[2] session without UI; stop it in {@code @AfterAll}. */
  static SparkSession spark(String name) {
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
  static String synthetic(SparkSession spark, Path dir, String name, int count, int side, int shardRows) {
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
