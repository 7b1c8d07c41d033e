package dev.clipspark.evaluation.caption;

import dev.clipspark.evaluation.Evaluation;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.report.CaptionsPage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The job behind {@code clip caption}: captions of every image of a source, written in Spark executors to
 * {@code OUT/captions} (Parquet: {@code key}, {@code caption}, {@code reference} (the source's caption, null
 * without one), {@code decode} (the decoding settings), {@code tokens}, {@code finished}) and a page
 * {@code OUT/captions.html} showing the first images by key with their captions.
 */
public final class CaptionRun {

  /** Parquet directory under the output. */
  public static final String CAPTIONS = "captions";
  /** The page under the output. */
  public static final String PAGE = "captions.html";

  /**
   * What was written.
   *
   * @param captions images captioned
   * @param skipped  images left out (missing or not decodable)
   * @param parquet  the Parquet directory
   * @param page     the HTML page
   * @param shown    images on the page
   */
  public record Result(long captions, long skipped, String parquet, String page, int shown) {}

  private CaptionRun() {}

  /**
   * Captions every image of {@code source}'s test split (all of a {@code shards:} dataset or a plain folder).
   *
   * @param location the LiMBeR model's directory, read by {@code loader} in the executors
   * @param maxRows  at most this many images, chosen by a hash of their keys (0: all)
   */
  public static Result run(SparkSession spark, EvalData.Spec source, EvalData.Options dataOptions, long maxRows,
      String location, CaptionModel.Loader loader, CaptionOptions options, String out) {
    EvalData.Loaded data = EvalData.read(spark, source, EvalData.Split.TEST, dataOptions);
    Dataset<Row> rows = Evaluation.limit(data.rows(), maxRows).withColumn("id", functions.col("key")).persist();
    try {
      Captioning.Features features = Captioning.features(spark, rows, location, loader, options.batchSize());
      try {
        Dataset<Row> captions = Captioning.captions(spark, features.rows(), false, location, loader,
            options.decoding(), options.batchSize());
        Dataset<Row> joined = captions.join(rows.select(functions.col("id"), functions.col("caption").as("reference")),
            "id")
            .select(functions.col("id").as("key"), functions.col("caption"), functions.col("reference"),
                functions.lit(options.decoding().describe()).as("decode"), functions.col("tokens"),
                functions.col("finished"));
        String parquet = new Path(out, CAPTIONS).toString();
        joined.write().mode(SaveMode.Overwrite).parquet(parquet);
        Dataset<Row> written = spark.read().parquet(parquet);
        long count = written.count();
        var shown = new ArrayList<Map<String, Object>>();
        for (Row r : written.orderBy("key").limit(options.htmlImages()).collectAsList()) {
          var item = new LinkedHashMap<String, Object>();
          item.put("key", r.getString(0));
          item.put("caption", r.getString(1));
          item.put("reference", r.isNullAt(2) ? null : r.getString(2));
          shown.add(item);
        }
        if (!shown.isEmpty()) {
          Map<String, String> thumbnails = Captioning.thumbnails(rows.filter(functions.col("id")
              .isin(shown.stream().map(m -> m.get("key")).toArray())).select("id", "image"));
          shown.forEach(m -> {
            String t = thumbnails.get((String) m.get("key"));
            if (t != null) {
              m.put("image_jpeg_base64", t);
            }
          });
        }
        var facts = new LinkedHashMap<String, Object>();
        facts.put("LiMBeR model", location);
        facts.put("Images", source.toString());
        facts.put("Decoding", options.decoding().describe());
        facts.put("Captions", String.format(Locale.ROOT, "%,d", count));
        facts.put("Skipped images", String.format(Locale.ROOT, "%,d", features.skipped()));
        String page = new Path(out, PAGE).toString();
        write(spark, page, CaptionsPage.render("Captions by LiMBeR", facts, shown, count));
        return new Result(count, features.skipped(), parquet, page, shown.size());
      } finally {
        features.rows().unpersist();
      }
    } finally {
      rows.unpersist();
    }
  }

  private static void write(SparkSession spark, String file, String html) {
    Path path = new Path(file);
    try {
      FileSystem fs = path.getFileSystem(spark.sparkContext().hadoopConfiguration());
      try (OutputStream o = fs.create(path, true)) {
        o.write(html.getBytes(StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the captions page " + file + ": " + e.getMessage(), e);
    }
  }

  /** The captions in a written output, key to caption (for tests and notebooks). */
  public static List<Row> read(SparkSession spark, String out) {
    return spark.read().parquet(new Path(out, CAPTIONS).toString()).orderBy("key").collectAsList();
  }
}
