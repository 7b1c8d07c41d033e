package dev.clipspark.evaluation;

import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.ClassificationMetrics;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CLIP paper's linear probe: frozen features of the train and test splits, a validation part held out
 * from train by key hash, multinomial L2-regularised logistic regression with L-BFGS (Spark MLlib's
 * {@link LogisticRegression}) swept over {@code eval.probe.reg-params}, the strength with the best validation
 * accuracy refitted on the whole train split and measured on test.
 */
public final class LinearProbeEvaluation {

  private static final Logger LOG = LoggerFactory.getLogger(LinearProbeEvaluation.class);

  /**
   * One point of the sweep.
   *
   * @param regParam the L2 strength
   * @param validationAccuracy accuracy on the held-out train rows
   * @param iterations L-BFGS iterations used
   */
  public record SweepPoint(double regParam, double validationAccuracy, int iterations) {}

  /**
   * The outcome.
   *
   * @param features what was probed ({@code image} or {@code pixels})
   * @param dimensions feature width
   * @param trainRows train rows used to fit (without validation rows)
   * @param validationRows held-out train rows
   * @param testRows test rows measured
   * @param sweep every strength tried
   * @param chosenRegParam the strength chosen on validation
   * @param test metrics of the refitted model on test
   * @param skipped rows whose image did not decode (both splits)
   */
  public record Result(String features, int dimensions, long trainRows, long validationRows, long testRows,
      List<SweepPoint> sweep, double chosenRegParam, ClassificationMetrics test, long skipped) {

    /** The {@code linear_probe} section of report.json. */
    public Map<String, Object> toReport() {
      var m = new LinkedHashMap<String, Object>();
      m.put("features", features);
      m.put("dimensions", dimensions);
      m.put("test_accuracy", test.top1());
      m.put("validation_accuracy", sweep.stream().filter(p -> p.regParam() == chosenRegParam).findFirst()
          .map(SweepPoint::validationAccuracy).orElse(Double.NaN));
      m.put("chosen_reg_param", chosenRegParam);
      m.put("train_rows", trainRows);
      m.put("validation_rows", validationRows);
      m.put("test_rows", testRows);
      var points = new ArrayList<Object>();
      for (SweepPoint p : sweep) {
        points.add(Map.of("reg_param", p.regParam(), "validation_accuracy", p.validationAccuracy(), "iterations",
            p.iterations()));
      }
      m.put("sweep", points);
      Map<String, Object> metrics = ZeroShotEvaluation.metricsMap(test);
      m.put("top1", test.top1());
      m.put("mean_per_class_recall", test.meanPerClassRecall());
      m.put("per_class_accuracy", metrics.get("per_class_accuracy"));
      m.put("per_class_count", metrics.get("per_class_count"));
      m.put("confusion_matrix", metrics.get("confusion_matrix"));
      m.put("skipped_images", skipped);
      return m;
    }
  }

  private LinearProbeEvaluation() {}

  /**
   * Runs the probe.
   *
   * @param checkpointDir a resolved checkpoint (unused for pixel features)
   * @param train the labelled train split
   * @param test the labelled test split, numbered with the same classes
   */
  public static Result run(SparkSession spark, String checkpointDir, EvalData.Loaded train, EvalData.Loaded test,
      EvalOptions options) {
    for (EvalData.Loaded d : List.of(train, test)) {
      if (!d.labelled()) {
        throw new IllegalArgumentException("Cannot fit a linear probe on " + d.spec() + " (" + d.split().spelling()
            + "): its rows have no labels");
      }
    }
    if (!train.classes().equals(test.classes())) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot fit a linear probe on %s and measure it on %s: their classes differ (%d: %s... vs %d: %s...)",
          train.spec(), test.spec(), train.classes().size(), train.classes().get(0), test.classes().size(),
          test.classes().get(0)));
    }
    Embeddings.What what = options.probeFeatures();
    var trainEmb = Embeddings.compute(spark, Evaluation.limit(train.rows(), options.maxRows()), what, checkpointDir,
        options.batchSize(), options.imageResample());
    var testEmb = Embeddings.compute(spark, Evaluation.limit(test.rows(), options.maxRows()), what, checkpointDir,
        options.batchSize(), options.imageResample());
    try {
      Dataset<Row> all = vectors(spark, trainEmb.rows());
      // Hold-out by key hash: the same rows for any partitioning.
      var held = functions.pmod(functions.hash(functions.col("key"), functions.lit(options.probeSeed())),
          functions.lit(1_000_000)).lt(functions.lit((long) Math.round(options.validationFraction() * 1_000_000)));
      Dataset<Row> fit = all.filter(functions.not(held)).persist(StorageLevel.MEMORY_AND_DISK());
      Dataset<Row> validation = all.filter(held).persist(StorageLevel.MEMORY_AND_DISK());
      Dataset<Row> testRows = vectors(spark, testEmb.rows());
      long fitCount = fit.count();
      long validationCount = validation.count();
      if (fitCount == 0 || validationCount == 0) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot fit a linear probe on %s: %d train rows leave %d to fit and %d to validate; need some of each",
            train.spec(), trainEmb.count(), fitCount, validationCount));
      }
      int classes = train.classes().size();
      var sweep = new ArrayList<SweepPoint>();
      double best = Double.NaN;
      double bestAccuracy = -1;
      for (double reg : options.regParams()) {
        LogisticRegressionModel model = regression(options, reg, classes).fit(fit);
        double accuracy = accuracy(model, validation);
        int iterations = model.summary().totalIterations();
        sweep.add(new SweepPoint(reg, accuracy, iterations));
        LOG.info("Linear probe: regParam {} -> validation accuracy {} ({} iterations)", reg, accuracy, iterations);
        if (accuracy > bestAccuracy) {
          bestAccuracy = accuracy;
          best = reg;
        }
      }
      fit.unpersist();
      validation.unpersist();
      LogisticRegressionModel chosen = regression(options, best, classes).fit(all);
      var acc = new ClassificationMetrics.Accumulator(classes, Math.min(options.topK(), classes));
      for (Row r : chosen.transform(testRows).select("label", "rawPrediction").collectAsList()) {
        double[] raw = ((Vector) r.get(1)).toArray();
        float[] scores = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
          scores[i] = (float) raw[i];
        }
        acc.add((int) r.getDouble(0), scores);
      }
      int dims = (int) all.select("features").first().<Vector>getAs(0).size();
      return new Result(what == Embeddings.What.PIXELS ? "pixels" : "image", dims, fitCount, validationCount,
          testEmb.count(), sweep, best, acc.result(), trainEmb.skipped() + testEmb.skipped());
    } finally {
      trainEmb.rows().unpersist();
      testEmb.rows().unpersist();
    }
  }

  private static LogisticRegression regression(EvalOptions options, double reg, int classes) {
    return new LogisticRegression().setFamily("multinomial").setElasticNetParam(0).setRegParam(reg)
        .setMaxIter(options.maxIterations()).setTol(options.tolerance()).setStandardization(true)
        .setFeaturesCol("features").setLabelCol("label");
  }

  private static double accuracy(LogisticRegressionModel model, Dataset<Row> rows) {
    Row r = model.transform(rows).select(functions.avg(functions.when(functions.col("prediction")
        .equalTo(functions.col("label")), 1.0).otherwise(0.0))).first();
    return r.getDouble(0);
  }

  /** Rows of (key, label double, features vector). */
  private static Dataset<Row> vectors(SparkSession spark, Dataset<Row> embedded) {
    var schema = new StructType().add("key", DataTypes.StringType).add("label", DataTypes.DoubleType)
        .add("features", SQLDataTypes.VectorType());
    var rdd = embedded.javaRDD().map(r -> {
      float[] f = Embeddings.vector(r);
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        d[i] = f[i];
      }
      return RowFactory.create(r.getString(0), (double) r.getInt(1),
          org.apache.spark.ml.linalg.Vectors.dense(d));
    });
    return spark.createDataFrame(rdd, schema);
  }
}
