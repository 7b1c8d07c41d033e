package dev.clipspark.dataset.source;

import dev.clipspark.dataset.Candidate;
import java.io.Serializable;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;

/**
 * A place candidate (image, caption) pairs are read from, e.g. a directory of webdataset tars.
 *
 * <p>Instances come from {@link Sources}. {@link #candidates(SparkSession)} lists the input on the driver
 * (so a missing path or an empty listing fails at once with an {@link IllegalArgumentException} naming
 * the path and what was expected) and returns an RDD whose partitions read the files in executors. The
 * RDD is lazy and may be evaluated more than once; every evaluation yields the same candidates with the
 * same keys. Malformed input never fails a task: it becomes a candidate with a
 * {@link dev.clipspark.dataset.RejectReason}.
 */
public interface CandidateSource extends Serializable {

  /**
   * The candidates of this source, read in Spark executors.
   *
   * @throws IllegalArgumentException when the path does not exist, holds no matching files, or lacks a
   *     configured column
   */
  JavaRDD<Candidate> candidates(SparkSession spark);

  /** The spec this source was made from, e.g. {@code webdataset:/data/shards}; every candidate's source. */
  String spec();
}
