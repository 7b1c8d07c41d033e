package dev.clipspark.jobs;

import java.io.File;
import java.net.URI;
import java.net.URISyntaxException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.SparkConf;
import scala.Tuple2;

/** Checks of command-line paths that can be made before Spark starts. */
final class Inputs {

  private Inputs() {}

  /**
   * Fails when a local path does not exist: a {@code file:} URI, or a path without a scheme when Hadoop's
   * default file system is {@code file:}. On a cluster whose default file system is {@code hdfs:} (core-site.xml
   * from {@code HADOOP_CONF_DIR}, or {@code spark.hadoop.fs.defaultFS}) a path without a scheme is an HDFS
   * path; such paths, and paths on other file systems ({@code hdfs:}, {@code s3a:}), are checked by the job
   * itself, where the cluster's settings apply.
   */
  static void requireLocalExists(String option, String path) {
    requireLocalExists(option, path, defaultFileSystem());
  }

  /** As {@link #requireLocalExists(String, String)}, with the default file system given. */
  static void requireLocalExists(String option, String path, URI defaultFileSystem) {
    File local = localFile(path, defaultFileSystem);
    if (local != null && !local.exists()) {
      throw new IllegalArgumentException("Cannot read " + option + " " + path + ": no such file or directory");
    }
  }

  /**
   * The local file a path names, or null when it is on another file system: a path without a scheme is
   * local only when {@code defaultFileSystem} is {@code file:}.
   */
  static File localFile(String path, URI defaultFileSystem) {
    if (path.startsWith("file:")) {
      try {
        return new File(new URI(path).getPath());
      } catch (URISyntaxException e) {
        return new File(path.substring("file:".length()));
      }
    }
    int colon = path.indexOf(':');
    int slash = path.indexOf('/');
    boolean hasScheme = colon > 1 && (slash < 0 || colon < slash);
    if (hasScheme) {
      return null;
    }
    String scheme = defaultFileSystem.getScheme();
    return scheme == null || scheme.equals("file") ? new File(path) : null;
  }

  /**
   * Hadoop's default file system as the job will see it: {@code fs.defaultFS} from the Hadoop configuration
   * files on the classpath ({@code core-site.xml}; spark-submit adds {@code HADOOP_CONF_DIR}), overridden by
   * {@code spark.hadoop.fs.defaultFS} in the Spark settings (spark-submit passes them as system properties).
   */
  static URI defaultFileSystem() {
    return FileSystem.getDefaultUri(hadoopConfiguration(new SparkConf()));
  }

  /** A Hadoop configuration with every {@code spark.hadoop.*} entry of {@code spark} copied in, as Spark does. */
  static Configuration hadoopConfiguration(SparkConf spark) {
    var conf = new Configuration();
    for (Tuple2<String, String> entry : spark.getAllWithPrefix("spark.hadoop.")) {
      conf.set(entry._1(), entry._2(), "spark.hadoop." + entry._1());
    }
    return conf;
  }
}
