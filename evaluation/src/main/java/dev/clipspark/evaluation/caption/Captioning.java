package dev.clipspark.evaluation.caption;

import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.training.device.TaskGpus;
import dev.clipspark.training.lm.CaptionDecoder;
import dev.clipspark.training.lm.Decoding;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.Gpt2Scorer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Function;
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
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Captioning in Spark executors, in two steps that each task runs batch by batch with the executor's model (read
 * once per executor JVM by the {@link CaptionModel.Loader}):
 * <ol>
 *   <li>{@link #features}: each image through the frozen image encoder, once ({@link #FEATURES});</li>
 *   <li>{@link #captions}: P's soft prompts of each feature row (or no image at all: the language model starts from
 *       {@code <|endoftext|>}, the no-image baseline), then {@link CaptionDecoder}.</li>
 * </ol>
 * A caption depends only on its own row: decoding is per row, and nucleus sampling draws from a stream seeded by
 * {@link Decoding#seed} and the row's id ({@link CaptionDecoder#rowSeed}), so partitions and batches do not change
 * the captions (beyond the last bits of float sums inside the model).
 */
public final class Captioning {

  /** Image features: {@code id}, the flattened {@code feature} and its {@code shape} (without the batch axis). */
  public static final StructType FEATURES = new StructType(new StructField[] {
      DataTypes.createStructField("id", DataTypes.StringType, false),
      DataTypes.createStructField("feature", DataTypes.createArrayType(DataTypes.FloatType, false), false),
      DataTypes.createStructField("shape", DataTypes.createArrayType(DataTypes.IntegerType, false), false)});

  /** Captions: {@code id}, {@code caption}, generated {@code tokens}, and whether it {@code finished} at the end token. */
  public static final StructType CAPTIONS = new StructType(new StructField[] {
      DataTypes.createStructField("id", DataTypes.StringType, false),
      DataTypes.createStructField("caption", DataTypes.StringType, false),
      DataTypes.createStructField("tokens", DataTypes.IntegerType, false),
      DataTypes.createStructField("finished", DataTypes.BooleanType, false)});

  private static final Logger LOG = LoggerFactory.getLogger(Captioning.class);

  /**
   * Image features, persisted, and the images skipped.
   *
   * @param rows {@link #FEATURES}
   * @param count rows encoded
   * @param skipped images that are missing or do not decode
   */
  public record Features(Dataset<Row> rows, long count, long skipped) {}

  private Captioning() {}

  /**
   * The features of every image (materialised here, so {@code skipped} is exact).
   *
   * @param images rows with a string column {@code id} and a binary column {@code image}
   * @param location the model's directory, read by {@code loader} in the executors
   * @param batch images encoded at once per task
   */
  public static Features features(SparkSession spark, Dataset<Row> images, String location,
      CaptionModel.Loader loader, int batch) {
    requireBatch(batch);
    LongAccumulator skipped = spark.sparkContext().longAccumulator("captioning images skipped");
    HadoopConf conf = HadoopConf.of(spark.sparkContext().hadoopConfiguration());
    JavaRDD<Row> out = images.select("id", "image").javaRDD().mapPartitions(it -> {
      TaskGpus.bind("captioning");
      var logged = new int[1];
      return new Batched(it, batch, rows -> {
        CaptionModel model = loader.load(location, conf.get());
        var kept = new ArrayList<Row>(rows.size());
        var pixels = new ArrayList<float[]>(rows.size());
        for (Row r : rows) {
          try {
            if (r.isNullAt(1)) {
              throw new IllegalArgumentException("it has no image");
            }
            pixels.add(model.preprocess((byte[]) r.get(1)));
            kept.add(r);
          } catch (IllegalArgumentException e) {
            skipped.add(1);
            if (logged[0]++ < 5) {
              LOG.warn("Skipping image {}: {}", r.getString(0), e.getMessage());
            }
          }
        }
        var result = new ArrayList<Row>(kept.size());
        if (kept.isEmpty()) {
          return result;
        }
        INDArray f = model.features(pixels);
        long[] shape = f.shape();
        Integer[] tail = new Integer[shape.length - 1];
        long per = 1;
        for (int i = 1; i < shape.length; i++) {
          tail[i - 1] = (int) shape[i];
          per *= shape[i];
        }
        float[] flat = f.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c').reshape(f.length()).toFloatVector();
        for (int i = 0; i < kept.size(); i++) {
          Float[] v = new Float[(int) per];
          for (int j = 0; j < per; j++) {
            v[j] = flat[(int) (i * per + j)];
          }
          result.add(RowFactory.create(kept.get(i).getString(0), v, tail));
        }
        return result;
      });
    });
    Dataset<Row> result = spark.createDataFrame(out, FEATURES).persist(StorageLevel.MEMORY_AND_DISK());
    long count = result.count();
    return new Features(result, count, skipped.value());
  }

  /**
   * Captions of feature rows ({@link #FEATURES}), or of their ids alone with {@code noImage}: the language model
   * then starts from {@code <|endoftext|>} with no soft prompt. Lazy: the caller writes or collects them.
   *
   * @param batch rows decoded at once per task
   */
  public static Dataset<Row> captions(SparkSession spark, Dataset<Row> features, boolean noImage, String location,
      CaptionModel.Loader loader, Decoding decoding, int batch) {
    requireBatch(batch);
    HadoopConf conf = HadoopConf.of(spark.sparkContext().hadoopConfiguration());
    JavaRDD<Row> out = features.select("id", "feature", "shape").javaRDD().mapPartitions(it -> {
      TaskGpus.bind("captioning");
      return new Batched(it, batch, rows -> {
        CaptionModel model = loader.load(location, conf.get());
        String[] ids = new String[rows.size()];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = rows.get(i).getString(0);
        }
        INDArray prefix = noImage ? endOfTextPrefix(model, rows.size()) : model.prompts(stack(rows));
        return caption(model, prefix, ids, decoding);
      });
    });
    return spark.createDataFrame(out, CAPTIONS);
  }

  /**
   * Captions of a batch of prefixes, on the calling thread: what each executor task does per batch.
   *
   * @param prefix {@code [n, p, n_embd]} soft prompts (or {@code <|endoftext|>}'s embedding)
   * @param ids    the rows' ids (nucleus sampling seeds each row from {@link Decoding#seed} and its id)
   * @return rows of {@link #CAPTIONS}
   */
  public static List<Row> caption(CaptionModel model, INDArray prefix, String[] ids, Decoding decoding) {
    long[] seeds = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      seeds[i] = CaptionDecoder.rowSeed(decoding.seed(), ids[i]);
    }
    Gpt2Model lm = model.languageModel();
    var decoder = new CaptionDecoder(model.endOfText(), decoding);
    var generated = decoder.decode(Gpt2Scorer.start(lm, prefix,
        (int) Math.min(Integer.MAX_VALUE, prefix.size(1) + decoding.maxTokens())), seeds);
    var out = new ArrayList<Row>(ids.length);
    for (int i = 0; i < ids.length; i++) {
      var g = generated.get(i);
      out.add(RowFactory.create(ids[i], model.decode(g.tokens()).strip(), g.tokens().length, g.finished()));
    }
    return out;
  }

  /** {@code <|endoftext|>}'s embedding as a one-position prefix for {@code n} rows. */
  public static INDArray endOfTextPrefix(CaptionModel model, int n) {
    var tr = model.languageModel().transformer();
    int[] ids = new int[n];
    java.util.Arrays.fill(ids, model.endOfText());
    return tr.embed(ids).reshape('c', n, 1, tr.width());
  }

  /**
   * JPEG thumbnails (base64, at most {@code RetrievalEvaluation}'s size) of rows with a string column {@code id} and
   * a binary column {@code image}, collected to the driver; images that do not decode are left out.
   */
  public static java.util.Map<String, String> thumbnails(Dataset<Row> idAndImage) {
    var out = new java.util.TreeMap<String, String>();
    for (Row r : idAndImage.collectAsList()) {
      if (r.isNullAt(1) || out.containsKey(r.getString(0))) {
        continue;
      }
      try {
        out.put(r.getString(0), java.util.Base64.getEncoder().encodeToString(
            dev.clipspark.evaluation.RetrievalEvaluation.thumbnail((byte[]) r.get(1))));
      } catch (IllegalArgumentException | java.io.IOException e) {
        LOG.warn("No thumbnail of image {}: {}", r.getString(0), e.getMessage());
      }
    }
    return out;
  }

  /** Feature rows back into one array {@code [n, shape...]}. */
  static INDArray stack(List<Row> rows) {
    List<Integer> shape = rows.get(0).getList(2);
    int per = rows.get(0).getList(1).size();
    float[] flat = new float[rows.size() * per];
    for (int i = 0; i < rows.size(); i++) {
      List<Float> v = rows.get(i).getList(1);
      if (v.size() != per) {
        throw new IllegalArgumentException("Cannot caption features of different sizes: " + per + " and " + v.size());
      }
      for (int j = 0; j < per; j++) {
        flat[i * per + j] = v.get(j);
      }
    }
    long[] full = new long[shape.size() + 1];
    full[0] = rows.size();
    for (int i = 0; i < shape.size(); i++) {
      full[i + 1] = shape.get(i);
    }
    return Nd4j.createFromArray(flat).reshape('c', full);
  }

  private static void requireBatch(int batch) {
    if (batch < 1) {
      throw new IllegalArgumentException("Cannot caption in batches of " + batch + ": must be at least 1");
    }
  }

  /** Maps a partition batch by batch, lazily. */
  private static final class Batched implements Iterator<Row> {
    private final Iterator<Row> in;
    private final int batch;
    private final Function<List<Row>, List<Row>> fn;
    private Iterator<Row> current = Collections.emptyIterator();

    Batched(Iterator<Row> in, int batch, Function<List<Row>, List<Row>> fn) {
      this.in = in;
      this.batch = batch;
      this.fn = fn;
    }

    @Override
    public boolean hasNext() {
      while (!current.hasNext() && in.hasNext()) {
        var rows = new ArrayList<Row>(batch);
        while (rows.size() < batch && in.hasNext()) {
          rows.add(in.next());
        }
        current = fn.apply(rows).iterator();
      }
      return current.hasNext();
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return current.next();
    }
  }
}
