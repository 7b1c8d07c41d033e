package dev.clipspark.training.checkpoint;

import java.util.Locale;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * How a save makes a new checkpoint visible; see the package documentation for what each guarantees.
 * Set with {@code train.checkpoint-commit}.
 */
public enum CommitMode {

  /** {@link #POINTER} on the object stores of {@link #OBJECT_STORE_SCHEMES}, {@link #RENAME} elsewhere. */
  AUTO,
  /**
   * For file systems whose rename is atomic (local, {@code hdfs:}, {@code viewfs:}): write into a temporary
   * sibling directory, verify, rename it to {@code step-NNNNNNNNNN}, then replace {@code latest} by
   * write-then-rename.
   */
  RENAME,
  /**
   * For object stores, where a rename is a copy then a delete: write straight into {@code step-NNNNNNNNNN},
   * {@code checkpoint.json} last, verify, then publish by overwriting {@code latest} in one create (one PUT,
   * atomic on S3, GCS and Azure). No rename anywhere.
   */
  POINTER;

  /**
   * URI schemes {@link #AUTO} treats as object stores (non-atomic, copying rename): Amazon S3 ({@code s3a},
   * and {@code s3}, {@code s3n} as EMR and old Hadoop spell it), Google Cloud Storage ({@code gs}), Alibaba
   * OSS ({@code oss}), Tencent COS ({@code cosn}) and Azure Blob Storage and Data Lake Gen2 ({@code wasb},
   * {@code wasbs}, {@code abfs}, {@code abfss}; rename is atomic on a Gen2 account with a hierarchical
   * namespace, but the pointer protocol is correct there too).
   */
  public static final Set<String> OBJECT_STORE_SCHEMES =
      Set.of("s3a", "s3", "s3n", "gs", "oss", "cosn", "wasb", "wasbs", "abfs", "abfss");

  /**
   * The mode a save to {@code dir} uses: this one, or for {@link #AUTO} {@link #POINTER} if the scheme of
   * {@code dir} (or of {@code fs.defaultFS} when {@code dir} has none) is in {@link #OBJECT_STORE_SCHEMES},
   * else {@link #RENAME}. Creates no file system.
   */
  public CommitMode resolve(Path dir, Configuration conf) {
    return resolve(dir, conf, OBJECT_STORE_SCHEMES);
  }

  /** {@link #resolve(Path, Configuration)} with another set of object-store schemes (lower case). */
  CommitMode resolve(Path dir, Configuration conf, Set<String> objectStoreSchemes) {
    if (this != AUTO) {
      return this;
    }
    String scheme = dir.toUri().getScheme();
    if (scheme == null) {
      scheme = FileSystem.getDefaultUri(conf).getScheme();
    }
    return scheme != null && objectStoreSchemes.contains(scheme.toLowerCase(Locale.ROOT)) ? POINTER : RENAME;
  }
}
