package dev.clipspark.evaluation;

import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.training.device.TaskGpus;
import dev.clipspark.training.data.ImagePreprocessor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Embeddings computed in Spark executors from rows of {@link dev.clipspark.evaluation.data.EvalData#SCHEMA}:
 * each task embeds its rows in batches of {@code batch} with the executor's model
 * ({@link ClipEvaluator#cached}: read once per executor). A row's embedding does not depend on the other rows
 * of its batch beyond float rounding: every layer works row by row (texts are always padded to the context
 * length, the causal mask hides the padding, normalisation layers use fixed statistics in evaluation mode), but
 * the matrix products' summation order follows the batch's shape, so the same text embedded alone or among 63
 * others can differ in the last bits (measured: at most 2.4e-7 per component for the tiny test model). Results
 * are therefore the same for any partitioning and batch size up to that rounding; retrieval must not let it
 * decide ties between copies of one caption (see {@link RetrievalEvaluation}). Images that do not decode are
 * counted and skipped.
 */
public final class Embeddings {

  /** Schema of image embeddings: the input's key, label and caption plus {@code embedding}. */
  public static final StructType SCHEMA = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("label", DataTypes.IntegerType, true),
      DataTypes.createStructField("caption", DataTypes.StringType, true),
      DataTypes.createStructField("embedding", DataTypes.createArrayType(DataTypes.FloatType, false), false)});

  private static final Logger LOG = LoggerFactory.getLogger(Embeddings.class);

  /**
   * Embedded rows, persisted, and the inputs skipped.
   *
   * @param rows {@link #SCHEMA}
   * @param count rows embedded
   * @param skipped rows skipped (an image that is missing or does not decode; a missing caption for text)
   */
  public record Result(Dataset<Row> rows, long count, long skipped) {}

  /** What to embed. */
  public enum What {
    /** The image, with the model's image tower. */
    IMAGE,
    /** The caption, with the text tower. */
    TEXT,
    /**
     * The raw pixels, no model: the decoded image at its own size, grey when it is grey, values / 255 (the
     * "logistic regression on raw pixels" baseline). All images must be the same size.
     */
    PIXELS
  }

  private Embeddings() {}

  /**
   * Embeds every row and persists the result (materialised here, so {@code skipped} is exact).
   *
   * @param checkpointDir a resolved checkpoint directory (ignored for {@link What#PIXELS})
   * @param batch rows embedded at once per task
   * @param resample how images are resampled ({@code eval.image.resample})
   */
  public static Result compute(SparkSession spark, Dataset<Row> rows, What what, String checkpointDir, int batch,
      ImagePreprocessor.Resample resample) {
    if (batch < 1) {
      throw new IllegalArgumentException("Cannot embed in batches of " + batch + ": must be at least 1");
    }
    LongAccumulator skipped = spark.sparkContext().longAccumulator("evaluation rows skipped");
    HadoopConf conf = HadoopConf.of(spark.sparkContext().hadoopConfiguration());
    JavaRDD<Row> out = rows.javaRDD().mapPartitions(it -> {
      TaskGpus.bind("embeddings");
      return new BatchIterator(it, what, checkpointDir, resample, conf, batch, skipped);
    });
    Dataset<Row> result = spark.createDataFrame(out, SCHEMA).persist(StorageLevel.MEMORY_AND_DISK());
    long count = result.count();
    return new Result(result, count, skipped.value());
  }

  /** Embeds a partition batch by batch, lazily. */
  private static final class BatchIterator implements Iterator<Row> {
    private final Iterator<Row> in;
    private final What what;
    private final String checkpointDir;
    private final ImagePreprocessor.Resample resample;
    private final HadoopConf conf;
    private final int batch;
    private final LongAccumulator skipped;
    private Iterator<Row> current = java.util.Collections.emptyIterator();
    private int[] pixelShape;
    private int logged;

    BatchIterator(Iterator<Row> in, What what, String checkpointDir, ImagePreprocessor.Resample resample,
        HadoopConf conf, int batch, LongAccumulator skipped) {
      this.in = in;
      this.what = what;
      this.checkpointDir = checkpointDir;
      this.resample = resample;
      this.conf = conf;
      this.batch = batch;
      this.skipped = skipped;
    }

    @Override
    public boolean hasNext() {
      while (!current.hasNext() && in.hasNext()) {
        current = next(collect()).iterator();
      }
      return current.hasNext();
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new java.util.NoSuchElementException();
      }
      return current.next();
    }

    private List<Row> collect() {
      var rows = new ArrayList<Row>(batch);
      while (rows.size() < batch && in.hasNext()) {
        rows.add(in.next());
      }
      return rows;
    }

    private List<Row> next(List<Row> rows) {
      var kept = new ArrayList<Row>(rows.size());
      var out = new ArrayList<Row>(rows.size());
      switch (what) {
        case IMAGE -> {
          ClipEvaluator clip = ClipEvaluator.cached(checkpointDir, resample, conf.get());
          var pixels = new ArrayList<float[]>(rows.size());
          for (Row r : rows) {
            byte[] image = r.isNullAt(1) ? null : (byte[]) r.get(1);
            try {
              pixels.add(clip.preprocess(image));
              kept.add(r);
            } catch (IllegalArgumentException e) {
              skip(r, e.getMessage());
            }
          }
          float[][] e = clip.encodePreprocessed(pixels);
          for (int i = 0; i < kept.size(); i++) {
            out.add(row(kept.get(i), e[i]));
          }
        }
        case TEXT -> {
          ClipEvaluator clip = ClipEvaluator.cached(checkpointDir, resample, conf.get());
          var texts = new ArrayList<String>(rows.size());
          for (Row r : rows) {
            if (r.isNullAt(3) || r.getString(3).isBlank()) {
              skip(r, "it has no caption");
            } else {
              texts.add(r.getString(3));
              kept.add(r);
            }
          }
          float[][] e = clip.encodeTexts(texts);
          for (int i = 0; i < kept.size(); i++) {
            out.add(row(kept.get(i), e[i]));
          }
        }
        case PIXELS -> {
          for (Row r : rows) {
            byte[] image = r.isNullAt(1) ? null : (byte[]) r.get(1);
            RawPixels.Pixels p;
            try {
              p = RawPixels.of(image);
            } catch (IllegalArgumentException e) {
              skip(r, e.getMessage());
              continue;
            }
            int[] shape = p.shape();
            if (pixelShape == null) {
              pixelShape = shape;
            } else if (!java.util.Arrays.equals(shape, pixelShape)) {
              throw new IllegalArgumentException(String.format(Locale.ROOT,
                  "Cannot use raw pixels as features: image %s is %dx%dx%d but others are %dx%dx%d; all images must"
                      + " be the same size", r.getString(0), shape[0], shape[1], shape[2], pixelShape[0], pixelShape[1],
                  pixelShape[2]));
            }
            out.add(row(r, p.values()));
          }
        }
        default -> throw new IllegalStateException("Unknown embedding kind " + what);
      }
      return out;
    }

    private void skip(Row r, String why) {
      skipped.add(1);
      if (logged++ < 5) {
        LOG.warn("Skipping evaluation row {}: {}", r.getString(0), why);
      }
    }

    private static Row row(Row in, float[] embedding) {
      Float[] boxed = new Float[embedding.length];
      for (int i = 0; i < embedding.length; i++) {
        boxed[i] = embedding[i];
      }
      return RowFactory.create(in.getString(0), in.isNullAt(2) ? null : in.getInt(2), in.getString(3), boxed);
    }
  }

  /** The embedding of a row of {@link #SCHEMA} as floats. */
  public static float[] vector(Row row) {
    List<Float> list = row.getList(3);
    float[] out = new float[list.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = list.get(i);
    }
    return out;
  }
}
