package dev.clipspark.jobs;

import java.io.File;
import java.net.URI;
import java.net.URISyntaxException;

/** Checks of command-line paths that can be made before Spark starts. */
final class Inputs {

  private Inputs() {}

  /**
   * Fails when a local path (no scheme, or {@code file:}) does not exist. Paths on other file systems
   * ({@code hdfs:}, {@code s3a:}) are checked by the job itself, where the cluster's settings apply.
   */
  static void requireLocalExists(String option, String path) {
    File local = localFile(path);
    if (local != null && !local.exists()) {
      throw new IllegalArgumentException("Cannot read " + option + " " + path + ": no such file or directory");
    }
  }

  /** The local file a path names, or null when it is on another file system. */
  static File localFile(String path) {
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
    return hasScheme ? null : new File(path);
  }
}
