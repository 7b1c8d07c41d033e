package dev.clipspark.jobs;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/** Creates the SparkSession a job runs in. */
final class SparkSessions {

  private SparkSessions() {}

  /**
   * A session named {@code clipspark <job>}. The master is {@code master} when given, else the one
   * {@code spark-submit} set, else {@code local[*]}. In local mode the console progress bar is off and
   * shuffles use a partition count that suits one machine, unless the user set them.
   */
  static SparkSession create(String job, String master) {
    SparkConf conf = new SparkConf();
    var builder = SparkSession.builder().appName("clipspark " + job);
    String effective = master != null ? master : conf.get("spark.master", "local[*]");
    builder.master(effective);
    if (effective.startsWith("local")) {
      if (!conf.contains("spark.ui.showConsoleProgress")) {
        builder.config("spark.ui.showConsoleProgress", "false");
      }
      if (!conf.contains("spark.sql.shuffle.partitions")) {
        builder.config("spark.sql.shuffle.partitions", String.valueOf(Math.max(4, 2 * Runtime.getRuntime().availableProcessors())));
      }
    }
    return builder.getOrCreate();
  }
}
