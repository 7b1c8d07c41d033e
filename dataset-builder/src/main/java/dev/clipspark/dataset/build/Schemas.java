package dev.clipspark.dataset.build;

import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** The Parquet schemas the build writes. */
public final class Schemas {

  private Schemas() {}

  /** Version of the shard schema, recorded in every manifest; bump it when {@link #SHARD} changes. */
  public static final int SHARD_SCHEMA_VERSION = 1;

  /** Status of a processed candidate that passed every check. */
  public static final String OK = "ok";

  /**
   * The plan ({@code _work/plan}): one row per candidate, from its metadata only (no image bytes). A
   * candidate refused before loading (by its source, or for its caption) has {@code reject} set and no
   * {@code fetch_key}; every other one has the ids of the queries its cleaned caption matches (empty:
   * unmatched), its seeded rank hash, and the {@code fetch_key} of the image it needs: {@code u:} and the
   * normalised URL, {@code p:} and the path, or {@code k:} and the key when the bytes are in the source.
   * Candidates sharing a fetch key share one download.
   */
  public static final StructType PLAN = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("source", DataTypes.StringType, false),
      DataTypes.createStructField("url", DataTypes.StringType, true),
      DataTypes.createStructField("caption", DataTypes.StringType, true),
      DataTypes.createStructField("reject", DataTypes.StringType, true),
      DataTypes.createStructField("hash", DataTypes.LongType, false),
      DataTypes.createStructField("queries", DataTypes.createArrayType(DataTypes.IntegerType, false), false),
      DataTypes.createStructField("fetch_key", DataTypes.StringType, true),
  });

  /**
   * One row per fetch key loaded in a round ({@code _work/fetched/round-NNNNN}): status {@link #OK} with
   * the re-encoded image, or the reject reason's key; {@code sha256} is of the source bytes.
   */
  public static final StructType FETCHED = new StructType(new StructField[] {
      DataTypes.createStructField("fetch_key", DataTypes.StringType, false),
      DataTypes.createStructField("status", DataTypes.StringType, false),
      DataTypes.createStructField("detail", DataTypes.StringType, true),
      DataTypes.createStructField("image", DataTypes.BinaryType, true),
      DataTypes.createStructField("width", DataTypes.IntegerType, true),
      DataTypes.createStructField("height", DataTypes.IntegerType, true),
      DataTypes.createStructField("original_width", DataTypes.IntegerType, true),
      DataTypes.createStructField("original_height", DataTypes.IntegerType, true),
      DataTypes.createStructField("sha256", DataTypes.StringType, true),
  });

  /**
   * The CLIP filter's scores ({@code _work/scored/score-NNNNN}): one row per candidate scored, its key, the cosine
   * similarity of its image and caption embeddings, and the fetch round after which it was scored.
   */
  public static final StructType SCORED = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("similarity", DataTypes.FloatType, false),
      DataTypes.createStructField("round", DataTypes.IntegerType, false),
  });

  /** The column of {@link #SHARD_WITH_CLIP} that holds a pair's CLIP similarity. */
  public static final String CLIP_SIMILARITY = "clip_similarity";

  /**
   * A row of a dataset shard: {@code key} (stable id), {@code caption}, {@code image} (JPEG bytes),
   * {@code width}/{@code height} (of the stored image), {@code original_width}/{@code original_height}
   * (of the source image), {@code sha256} (hex, of the source bytes), {@code source} (the source spec),
   * {@code url} (nullable) and {@code queries} (the matched queries, in query-list order).
   */
  public static final StructType SHARD = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("caption", DataTypes.StringType, false),
      DataTypes.createStructField("image", DataTypes.BinaryType, false),
      DataTypes.createStructField("width", DataTypes.IntegerType, false),
      DataTypes.createStructField("height", DataTypes.IntegerType, false),
      DataTypes.createStructField("original_width", DataTypes.IntegerType, false),
      DataTypes.createStructField("original_height", DataTypes.IntegerType, false),
      DataTypes.createStructField("sha256", DataTypes.StringType, false),
      DataTypes.createStructField("source", DataTypes.StringType, false),
      DataTypes.createStructField("url", DataTypes.StringType, true),
      DataTypes.createStructField("queries", DataTypes.createArrayType(DataTypes.StringType, false), false),
  });

  /**
   * {@link #SHARD} with one more, nullable column at the end: {@value #CLIP_SIMILARITY} (float), the cosine
   * similarity of the pair's image and caption embeddings under {@code filter.clip.checkpoint}. Builds with the
   * CLIP filter write it; builds without write {@link #SHARD} unchanged. The schema version stays
   * {@value #SHARD_SCHEMA_VERSION}: the column is added, optional and read by name, so every reader of version 1
   * shards (which selects its columns by name) reads these too.
   */
  public static final StructType SHARD_WITH_CLIP = SHARD.add(CLIP_SIMILARITY, DataTypes.FloatType, true);

  /** The shard schema a build writes: {@link #SHARD_WITH_CLIP} with the CLIP filter, else {@link #SHARD}. */
  public static StructType shard(boolean clipFilter) {
    return clipFilter ? SHARD_WITH_CLIP : SHARD;
  }
}
