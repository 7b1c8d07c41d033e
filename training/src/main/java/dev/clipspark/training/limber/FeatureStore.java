package dev.clipspark.training.limber;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clipspark.dataset.build.Manifest;
import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.training.data.ShardReader;
import dev.clipspark.training.device.TaskGpus;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LiMBeR's image features, computed once per image by the frozen CLIP image tower in Spark executors and stored as
 * Parquet under {@code OUT/features/}: one file per dataset shard ({@code part-00003.parquet} holds the features of
 * {@code shards/part-00003.parquet}'s rows, one task per shard), with columns {@code key}, {@code caption} and
 * {@code feature} (the {@code positions x width} floats of {@link ImageEncoder}, row-major, as little-endian
 * float32 bytes), and {@code features.json} written last: the dataset, the CLIP checkpoint and the SHA-256 of its
 * {@code checkpoint.json}, the mode, the shape, the row and skip counts. A later run with the same dataset, CLIP
 * checkpoint identity and mode reuses the files; anything else computes them again. Images that do not decode are
 * counted and skipped (the first few are logged).
 */
public final class FeatureStore {

  /** Directory of the features under the output directory. */
  public static final String DIR = "features";
  /** The description written last. */
  public static final String META = "features.json";
  /** Value of the description's {@code format} field. */
  public static final String FORMAT = "clipspark-limber-features";

  /** Schema of the feature files. */
  static final MessageType SCHEMA = MessageTypeParser.parseMessageType("message limber_features {\n"
      + "  required binary key (STRING);\n"
      + "  optional binary caption (STRING);\n"
      + "  required binary feature;\n"
      + "}");

  private static final Logger LOG = LoggerFactory.getLogger(FeatureStore.class);
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * What {@code features.json} says.
   *
   * @param dataset the dataset directory the features were computed from
   * @param datasetRows rows its manifest lists
   * @param clip the CLIP checkpoint and its identity
   * @param mode pooled or grid
   * @param positions positions per image (1 when pooled)
   * @param width floats per position
   * @param rows images encoded
   * @param skipped images that did not decode
   * @param files the feature files, relative to the features directory, in shard order
   */
  public record Info(String dataset, long datasetRows, FrozenCheckpoint clip, FeatureMode mode, int positions,
      int width, long rows, long skipped, List<String> files) {

    Map<String, Object> json() {
      var m = new java.util.LinkedHashMap<String, Object>();
      m.put("format", FORMAT);
      m.put("version", 1);
      m.put("dataset", dataset);
      m.put("dataset_rows", datasetRows);
      m.put("clip_checkpoint", clip.directory());
      m.put("clip_location", clip.location());
      m.put("clip_sha256", clip.sha256());
      m.put("mode", mode.spelling());
      m.put("positions", positions);
      m.put("width", width);
      m.put("rows", rows);
      m.put("skipped", skipped);
      m.put("files", files);
      return m;
    }

    @SuppressWarnings("unchecked")
    static Info of(Map<String, Object> m, String where) {
      if (!FORMAT.equals(m.get("format"))) {
        throw new IllegalArgumentException("Cannot read " + where + ": it is not a " + FORMAT + " file");
      }
      return new Info((String) m.get("dataset"), ((Number) m.get("dataset_rows")).longValue(),
          new FrozenCheckpoint((String) m.get("clip_location"), (String) m.get("clip_checkpoint"),
              (String) m.get("clip_sha256")), FeatureMode.of((String) m.get("mode")),
          ((Number) m.get("positions")).intValue(), ((Number) m.get("width")).intValue(),
          ((Number) m.get("rows")).longValue(), ((Number) m.get("skipped")).longValue(),
          List.copyOf((List<String>) m.get("files")));
    }
  }

  /**
   * The outcome of {@link #compute}.
   *
   * @param info the description of the features
   * @param reused whether existing features were reused instead of computed
   */
  public record Result(Info info, boolean reused) {}

  private FeatureStore() {}

  /**
   * Computes the features of every image of {@code dataset} under {@code outDir/features/} in Spark executors (one
   * task per shard), or reuses the ones there when they were computed from the same dataset, the same CLIP
   * checkpoint identity and the same mode.
   *
   * @param batch images encoded at once per task
   * @throws IllegalArgumentException when no image of the dataset decodes
   */
  public static Result compute(SparkSession spark, String dataset, FrozenCheckpoint clip, FeatureMode mode, int batch,
      String outDir) {
    Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    Manifest manifest = Manifest.read(dataset, hadoop);
    Path dir = new Path(outDir, DIR);
    Optional<Info> existing = readInfo(outDir, hadoop);
    if (existing.isPresent()) {
      Info e = existing.get();
      if (e.dataset().equals(dataset) && e.datasetRows() == manifest.totalRows()
          && e.clip().sha256().equals(clip.sha256()) && e.mode() == mode) {
        return new Result(e, true);
      }
      LOG.info("Computing the features in {} again: they were computed from {} with {} (checkpoint.json SHA-256 {})"
          + " in {} mode", dir, e.dataset(), e.clip().directory(), e.clip().sha256(), e.mode().spelling());
    }
    try {
      FileSystem fs = dir.getFileSystem(hadoop);
      fs.delete(dir, true);
      fs.mkdirs(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot prepare " + dir + ": " + e.getMessage(), e);
    }
    List<Manifest.Shard> shards = manifest.shards();
    HadoopConf conf = HadoopConf.of(hadoop);
    String clipDir = clip.directory();
    String datasetDir = dataset;
    String target = dir.toString();
    var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    List<Integer> indices = IntStream.range(0, shards.size()).boxed().toList();
    var paths = new ArrayList<String>(shards.stream().map(Manifest.Shard::path).toList());
    long[] shardRows = shards.stream().mapToLong(Manifest.Shard::rows).toArray();
    List<long[]> counts = jsc.parallelize(indices, Math.max(1, shards.size())).map(i -> {
      TaskGpus.bind("limber features");
      return encodeShard(new Path(datasetDir, paths.get(i)), shardRows[i], new Path(target, fileName(i)), clipDir,
          mode, batch, conf.get());
    }).collect();
    long rows = counts.stream().mapToLong(c -> c[0]).sum();
    long skipped = counts.stream().mapToLong(c -> c[1]).sum();
    if (rows == 0) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train LiMBeR on %s: none of its %d images"
          + " decodes", dataset, skipped));
    }
    ImageEncoder probe = ImageEncoder.cached(clipDir, mode, hadoop);
    Info info = new Info(dataset, manifest.totalRows(), clip, mode, probe.positions(), probe.width(), rows, skipped,
        indices.stream().map(FeatureStore::fileName).toList());
    writeInfo(outDir, info, hadoop);
    return new Result(info, false);
  }

  static String fileName(int shard) {
    return String.format(Locale.ROOT, "part-%05d.parquet", shard);
  }

  /** Encodes one shard into one feature file; returns {rows written, images skipped}. */
  private static long[] encodeShard(Path shard, long shardRows, Path out, String clipDir, FeatureMode mode, int batch,
      Configuration conf) throws IOException {
    ImageEncoder encoder = ImageEncoder.cached(clipDir, mode, conf);
    var factory = new SimpleGroupFactory(SCHEMA);
    long written = 0;
    long skipped = 0;
    try (ShardReader reader = new ShardReader(shard, shardRows, conf);
        ParquetWriter<Group> writer = ExampleParquetWriter.builder(out).withConf(conf).withType(SCHEMA)
            .withWriteMode(ParquetFileWriter.Mode.OVERWRITE).build()) {
      var keys = new ArrayList<String>(batch);
      var captions = new ArrayList<String>(batch);
      var pixels = new ArrayList<float[]>(batch);
      for (long r = 0; r < shardRows; r++) {
        ShardReader.Row row = reader.next();
        try {
          pixels.add(encoder.preprocess(row.image()));
          keys.add(row.key());
          captions.add(row.caption());
        } catch (IllegalArgumentException e) {
          if (skipped++ < 5) {
            LOG.warn("Skipping image {} of {}: {}", row.key(), shard, e.getMessage());
          }
        }
        if (pixels.size() == batch || (r == shardRows - 1 && !pixels.isEmpty())) {
          float[][] features = encoder.encodePreprocessed(pixels);
          for (int i = 0; i < features.length; i++) {
            Group g = factory.newGroup().append("key", keys.get(i));
            if (captions.get(i) != null) {
              g.append("caption", captions.get(i));
            }
            g.append("feature", Binary.fromConstantByteArray(bytes(features[i])));
            writer.write(g);
          }
          written += features.length;
          keys.clear();
          captions.clear();
          pixels.clear();
        }
      }
    }
    return new long[] {written, skipped};
  }

  static byte[] bytes(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b.array();
  }

  static float[] floats(byte[] bytes) {
    float[] out = new float[bytes.length / Float.BYTES];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /** The description in {@code outDir/features/}, if the features there are complete. */
  public static Optional<Info> readInfo(String outDir, Configuration conf) {
    Path meta = new Path(new Path(outDir, DIR), META);
    try {
      FileSystem fs = meta.getFileSystem(conf);
      if (!fs.exists(meta)) {
        return Optional.empty();
      }
      try (InputStream in = fs.open(meta)) {
        @SuppressWarnings("unchecked")
        Map<String, Object> m = JSON.readValue(in, Map.class);
        return Optional.of(Info.of(m, meta.toString()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + meta + ": " + e.getMessage(), e);
    }
  }

  private static void writeInfo(String outDir, Info info, Configuration conf) {
    Path meta = new Path(new Path(outDir, DIR), META);
    try (OutputStream out = meta.getFileSystem(conf).create(meta, true)) {
      JSON.writeValue(out, info.json());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + meta + ": " + e.getMessage(), e);
    }
  }

  /**
   * Every feature row under {@code outDir/features/}, sorted by key (so the data order does not depend on how the
   * files were written).
   *
   * @throws IllegalArgumentException when the features are missing or incomplete
   */
  public static FeatureTable read(String outDir, Configuration conf) {
    Info info = readInfo(outDir, conf).orElseThrow(() -> new IllegalArgumentException("Cannot read the LiMBeR"
        + " features in " + new Path(outDir, DIR) + ": there is no " + META + " (they were not computed, or not to"
        + " the end)"));
    int per = info.positions() * info.width();
    var rows = new ArrayList<FeatureTable.Row>();
    for (String file : info.files()) {
      Path path = new Path(new Path(outDir, DIR), file);
      try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), path).withConf(conf).build()) {
        for (Group g; (g = reader.read()) != null; ) {
          float[] f = floats(g.getBinary("feature", 0).getBytes());
          if (f.length != per) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot read %s: row %s has %d floats, %s"
                + " says %d x %d", path, g.getString("key", 0), f.length, META, info.positions(), info.width()));
          }
          String caption = g.getFieldRepetitionCount("caption") == 0 ? "" : g.getString("caption", 0);
          rows.add(new FeatureTable.Row(g.getString("key", 0), caption, f));
        }
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read " + path + ": " + e.getMessage(), e);
      }
    }
    if (rows.size() != info.rows()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot read the LiMBeR features in %s: they"
          + " hold %d rows, %s says %d", new Path(outDir, DIR), rows.size(), META, info.rows()));
    }
    rows.sort(Comparator.comparing(FeatureTable.Row::key));
    return new FeatureTable(info, List.copyOf(rows));
  }

  /**
   * Features in memory.
   *
   * @param info their description
   * @param rows the rows, sorted by key
   */
  public record FeatureTable(Info info, List<Row> rows) {

    /**
     * One image.
     *
     * @param key the dataset row's key
     * @param caption its caption (empty when it had none)
     * @param feature {@code positions x width} floats
     */
    public record Row(String key, String caption, float[] feature) {
      @Override
      public boolean equals(Object o) {
        return o instanceof Row r && r.key.equals(key) && r.caption.equals(caption) && Arrays.equals(r.feature, feature);
      }

      @Override
      public int hashCode() {
        return key.hashCode() * 31 + Arrays.hashCode(feature);
      }

      @Override
      public String toString() {
        return "Row[" + key + ", " + caption + ", " + feature.length + " floats]";
      }
    }
  }
}
