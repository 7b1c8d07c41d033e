package dev.clipspark.dataset.queries;

import static org.apache.spark.sql.functions.col;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Reads a query list that {@link QueryListBuilder} wrote: {@code DIR/queries.parquet}, with the columns
 * {@code query} (string), {@code kind} (string, a {@link QueryKind#label()}), {@code score} (double) and
 * {@code rank} (long, 0 for the first query in priority order).
 */
public final class QueryList {

  /** The Parquet directory of the list, inside the output directory. */
  public static final String QUERIES_FILE = "queries.parquet";
  /** The JSON summary of the build, inside the output directory. */
  public static final String SUMMARY_FILE = "summary.json";

  private QueryList() {}

  /**
   * The queries of the list in {@code dir}, in rank order (the matcher's order of preference).
   *
   * @throws IllegalArgumentException if {@code dir} has no {@code queries.parquet}, or it lacks the
   *     {@code query} or {@code rank} column
   */
  public static List<String> read(SparkSession spark, String dir) {
    return rows(spark, dir).orderBy(col("rank")).select(col("query")).as(Encoders.STRING()).collectAsList();
  }

  /** The rows of the list in {@code dir} (columns query, kind, score, rank), in no particular order. */
  public static Dataset<Row> rows(SparkSession spark, String dir) {
    var path = new Path(dir, QUERIES_FILE);
    try {
      var fs = path.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (!fs.exists(path)) {
        throw new IllegalArgumentException("Cannot read queries from " + dir + ": it has no " + QUERIES_FILE
            + " (build one with QueryListBuilder, the build-queries job)");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read queries from " + dir + ": " + e.getMessage(), e);
    }
    Dataset<Row> rows = spark.read().parquet(path.toString());
    var columns = Arrays.asList(rows.columns());
    for (String c : List.of("query", "rank")) {
      if (!columns.contains(c)) {
        throw new IllegalArgumentException("Cannot read queries from " + path + ": it has no column " + c
            + " (columns: " + String.join(", ", columns) + ")");
      }
    }
    return rows;
  }
}
