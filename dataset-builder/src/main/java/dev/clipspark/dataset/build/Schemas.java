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
   * One row per candidate after loading and image processing ({@code _work/processed}). Rejected
   * candidates keep their key, source and status (the reject reason's key) but no image.
   */
  public static final StructType PROCESSED = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("source", DataTypes.StringType, false),
      DataTypes.createStructField("url", DataTypes.StringType, true),
      DataTypes.createStructField("caption", DataTypes.StringType, true),
      DataTypes.createStructField("image", DataTypes.BinaryType, true),
      DataTypes.createStructField("width", DataTypes.IntegerType, true),
      DataTypes.createStructField("height", DataTypes.IntegerType, true),
      DataTypes.createStructField("original_width", DataTypes.IntegerType, true),
      DataTypes.createStructField("original_height", DataTypes.IntegerType, true),
      DataTypes.createStructField("sha256", DataTypes.StringType, true),
      DataTypes.createStructField("status", DataTypes.StringType, false),
      DataTypes.createStructField("detail", DataTypes.StringType, true),
  });

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
}
