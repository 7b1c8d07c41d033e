package dev.clipspark.dataset.source;

import java.io.IOException;
import java.util.List;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;

/**
 * Makes {@link CandidateSource}s from specs, and reads single files for the rest of the build.
 *
 * <p>A spec is {@code KIND:PATH}:
 * <ul>
 *   <li>{@code webdataset:PATH}: a {@code .tar} file, a directory of them or a glob, as img2dataset writes
 *       them ({@code KEY.jpg|png|webp|...}, {@code KEY.txt}, optional {@code KEY.json}); one partition per
 *       tar; keys {@code <tar name without .tar>/<KEY>}.</li>
 *   <li>{@code table:PATH}: Parquet, CSV or TSV files with an image column (bytes, URL or path) and a
 *       caption column ({@code source.table.*}); keys from {@code source.table.key-column} or
 *       {@code <file>/<row number>}.</li>
 *   <li>{@code folder:DIR}: images with a same-named {@code .txt} caption beside each; keys are relative
 *       paths without extension.</li>
 *   <li>{@code synthetic:[NAME]}: {@code source.synthetic.count} generated {@link SyntheticShapes};
 *       anything after the colon only names the source.</li>
 * </ul>
 * Paths are local paths or Hadoop file-system URIs ({@code file:}, {@code hdfs:}, {@code s3a:}, ...),
 * listed on the driver and read in executors through Hadoop's {@code FileSystem}. Parsing a spec touches
 * no file; a missing path fails when {@link CandidateSource#candidates} is called, before any task runs.
 */
public final class Sources {

  /** The kinds of source, in the order messages list them. */
  public static final List<String> KINDS = List.of("webdataset", "table", "folder", "synthetic");

  private Sources() {}

  /**
   * The source for {@code spec}.
   *
   * @throws IllegalArgumentException when the kind is unknown or the path is missing, e.g.
   *     {@code Cannot read source 'foo:/x': unknown kind 'foo'; allowed: webdataset, table, folder, synthetic}
   */
  public static CandidateSource parse(String spec, SourceOptions options) {
    Objects.requireNonNull(spec, "spec");
    Objects.requireNonNull(options, "options");
    int colon = spec.indexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot read source '%s': expected KIND:PATH with KIND one of %s", spec, String.join(", ", KINDS)));
    }
    String kind = spec.substring(0, colon).trim();
    String path = spec.substring(colon + 1).trim();
    if (!KINDS.contains(kind)) {
      throw new IllegalArgumentException(String.format(
          "Cannot read source '%s': unknown kind '%s'; allowed: %s", spec, kind, String.join(", ", KINDS)));
    }
    if (kind.equals("synthetic")) {
      return new SyntheticSource(spec, options);
    }
    if (path.isEmpty()) {
      throw new IllegalArgumentException(String.format(
          "Cannot read source '%s': missing path after '%s:'", spec, kind));
    }
    switch (kind) {
      case "webdataset":
        return new WebDatasetSource(spec, path, options);
      case "table":
        return new TableSource(spec, path, options);
      default:
        return new FolderSource(spec, path, options);
    }
  }

  /** A webdataset source: a {@code .tar} file, a directory of {@code .tar} files or a glob. */
  public static CandidateSource webdataset(String path, SourceOptions options) {
    return parse("webdataset:" + requirePath(path), options);
  }

  /** A table source: Parquet, CSV or TSV files ({@code source.table.*} says which columns to read). */
  public static CandidateSource table(String path, SourceOptions options) {
    return parse("table:" + requirePath(path), options);
  }

  /** A folder source: a directory tree of images, each with a same-named {@code .txt} caption. */
  public static CandidateSource folder(String path, SourceOptions options) {
    return parse("folder:" + requirePath(path), options);
  }

  /** The synthetic source, spec {@code synthetic:}, with count, seed and image size from {@code options}. */
  public static CandidateSource synthetic(SourceOptions options) {
    return parse("synthetic:", options);
  }

  /**
   * Reads a whole file, e.g. a {@code Candidate.path} image in an executor (get the configuration from a
   * broadcast {@link HadoopConf}). A relative path is resolved against the file system's working
   * directory. A zero-byte file gives an empty array.
   *
   * @param pathOrUri a local path or a Hadoop file-system URI, as {@code Candidate.path} holds it
   * @param maxBytes the largest size read; a larger file fails rather than filling memory
   * @throws IOException when the file cannot be opened or read, or is larger than {@code maxBytes}
   *     (message {@code Cannot read PATH: larger than the limit of N bytes})
   */
  public static byte[] readFile(String pathOrUri, Configuration conf, long maxBytes) throws IOException {
    Objects.requireNonNull(pathOrUri, "pathOrUri");
    Objects.requireNonNull(conf, "conf");
    return BoundedRead.file(pathOrUri, conf, maxBytes);
  }

  private static String requirePath(String path) {
    Objects.requireNonNull(path, "path");
    return path;
  }
}
