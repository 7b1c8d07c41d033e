package dev.clipspark.dataset.build;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * {@code manifest.json}: the list of a built dataset's shards with their row counts, so that training can
 * plan its steps without scanning data. It is written last, atomically (temporary file, then rename), so
 * a dataset directory with a manifest is complete and one without is not.
 *
 * @param schemaVersion version of the shard schema ({@link Schemas#SHARD_SCHEMA_VERSION})
 * @param totalRows rows in all shards
 * @param shardRows the {@code shard.rows} setting (every shard but the last holds exactly this many)
 * @param shards every shard, in order
 * @param queries the query directory the build matched against
 * @param sources the source specs, in the order given
 * @param fingerprint SHA-256 over the query list, the sources and the settings that decide the output
 * @param settings the settings sections that decide the output
 * @param created when the build finished, ISO-8601 UTC
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Manifest(
    @JsonProperty("schema_version") int schemaVersion,
    @JsonProperty("total_rows") long totalRows,
    @JsonProperty("shard_rows") int shardRows,
    @JsonProperty("shards") List<Shard> shards,
    @JsonProperty("queries") String queries,
    @JsonProperty("sources") List<String> sources,
    @JsonProperty("fingerprint") String fingerprint,
    @JsonProperty("settings") Map<String, Object> settings,
    @JsonProperty("created") String created) {

  /** The file name of the manifest in a dataset directory. */
  public static final String FILE = "manifest.json";

  /**
   * One shard.
   *
   * @param path path relative to the dataset directory, e.g. {@code shards/part-00000.parquet}
   * @param rows rows in the shard
   * @param bytes size of the file in bytes
   */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Shard(
      @JsonProperty("path") String path,
      @JsonProperty("rows") long rows,
      @JsonProperty("bytes") long bytes) {}

  static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

  /** Reads the manifest of the dataset at {@code datasetDir}, failing clearly if it has none. */
  public static Manifest read(String datasetDir, Configuration conf) {
    Path path = new Path(datasetDir, FILE);
    try {
      FileSystem fs = path.getFileSystem(conf);
      if (!fs.exists(path)) {
        throw new IllegalArgumentException("Cannot read dataset " + datasetDir + ": it has no " + FILE
            + " (not a ClipSpark dataset, or its build has not finished)");
      }
      try (InputStream in = fs.open(path)) {
        return JSON.readValue(in, Manifest.class);
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot read " + path + ": " + e.getMessage(), e);
    }
  }

  /** Writes {@code value} as JSON to {@code path} atomically: to a temporary file, then renamed. */
  static void writeAtomically(FileSystem fs, Path path, Object value) throws IOException {
    Path tmp = new Path(path.getParent(), "." + path.getName() + ".tmp");
    try (OutputStream out = fs.create(tmp, true)) {
      JSON.writeValue(out, value);
    }
    if (fs.exists(path) && !fs.delete(path, false)) {
      throw new IOException("Cannot replace " + path + ": delete failed");
    }
    if (!fs.rename(tmp, path)) {
      throw new IOException("Cannot publish " + path + ": rename from " + tmp + " failed");
    }
  }
}
