package dev.clipspark.dataset.source;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.config.Settings;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;

/** Test helpers: a small local Spark session and options from HOCON overrides. */
final class TestSpark {

  private TestSpark() {}

  /** A local[2] session without UI; stop it in {@code @AfterAll}. */
  static SparkSession start(String name) {
    return SparkSession.builder()
        .master("local[2]")
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate();
  }

  /** Options from {@code hocon} over reference.conf. */
  static SourceOptions options(String hocon) {
    return SourceOptions.from(new Settings(
        ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference()).resolve()));
  }

  /** Candidates by key; fails on a duplicate key. */
  static Map<String, Candidate> byKey(List<Candidate> candidates) {
    var map = new TreeMap<String, Candidate>();
    for (Candidate c : candidates) {
      if (map.put(c.key(), c) != null) {
        throw new AssertionError("duplicate key " + c.key());
      }
    }
    return map;
  }
}
