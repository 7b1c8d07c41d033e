package dev.clipspark.evaluation;

import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.ClassificationMetrics;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Zero-shot classification of a labelled dataset: class embeddings from the text tower over all templates
 * (ensembled, computed once on the driver and broadcast), image embeddings in the executors, logits
 * {@code 100 x cosine}, metrics accumulated per task and merged.
 */
public final class ZeroShotEvaluation {

  /**
   * The outcome.
   *
   * @param ensembled metrics of the ensembled classifier
   * @param single metrics of the single template alone; null unless compared
   * @param singleTemplate that template; null unless compared
   * @param templates the ensembled templates
   * @param templateSource where they came from
   * @param skipped images that did not decode
   */
  public record Result(ClassificationMetrics ensembled, ClassificationMetrics single, String singleTemplate,
      List<String> templates, String templateSource, long skipped) {

    /** The {@code zeroshot} section of report.json. */
    public Map<String, Object> toReport() {
      Map<String, Object> m = metricsMap(ensembled);
      m.put("templates", templates.size());
      m.put("skipped_images", skipped);
      if (single != null) {
        var s = new LinkedHashMap<String, Object>();
        s.put("template", singleTemplate);
        s.put("top1", single.top1());
        s.put("top" + single.k(), single.topK());
        s.put("mean_per_class_recall", single.meanPerClassRecall());
        m.put("single_template", s);
      }
      return m;
    }
  }

  private ZeroShotEvaluation() {}

  /**
   * Runs the evaluation.
   *
   * @param clip the model on the driver (for the class embeddings)
   * @param data a labelled split
   * @param templates the templates to ensemble
   */
  public static Result run(SparkSession spark, ClipEvaluator clip, EvalData.Loaded data, Prompts.TextList templates,
      EvalOptions options) {
    if (!data.labelled()) {
      throw new IllegalArgumentException("Cannot run zero-shot classification on " + data.spec()
          + ": its rows have no labels (zeroshot needs a labelled dataset: idx:, folder:, or table: with a label"
          + " column)");
    }
    var classifiers = new ArrayList<ZeroShotClassifier>();
    classifiers.add(clip.classifier(data.classes(), templates.entries()));
    if (options.compareSingleTemplate()) {
      classifiers.add(clip.classifier(data.classes(), List.of(options.singleTemplate())));
    }
    var embedded = Embeddings.compute(spark, Evaluation.limit(data.rows(), options.maxRows()),
        Embeddings.What.IMAGE, clip.checkpointDirectory(), options.batchSize(), options.imageResample());
    try {
      var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      Broadcast<List<ZeroShotClassifier>> b = jsc.broadcast(List.copyOf(classifiers));
      int classes = data.classes().size();
      int k = options.topK();
      List<ClassificationMetrics.Accumulator> merged = embedded.rows().javaRDD().mapPartitions(it -> {
        var accs = new ArrayList<ClassificationMetrics.Accumulator>();
        for (int i = 0; i < b.value().size(); i++) {
          accs.add(new ClassificationMetrics.Accumulator(classes, k));
        }
        while (it.hasNext()) {
          Row r = it.next();
          float[] e = Embeddings.vector(r);
          for (int i = 0; i < accs.size(); i++) {
            accs.get(i).add(r.getInt(1), b.value().get(i).logits(e));
          }
        }
        return List.of(accs).iterator();
      }).reduce((x, y) -> {
        for (int i = 0; i < x.size(); i++) {
          x.get(i).merge(y.get(i));
        }
        return x;
      });
      b.destroy();
      if (merged.get(0).samples() == 0) {
        throw new IllegalArgumentException("Cannot run zero-shot classification on " + data.spec() + ": no image"
            + " could be read (" + embedded.skipped() + " skipped)");
      }
      return new Result(merged.get(0).result(), merged.size() > 1 ? merged.get(1).result() : null,
          options.compareSingleTemplate() ? options.singleTemplate() : null, templates.entries(), templates.source(),
          embedded.skipped());
    } finally {
      embedded.rows().unpersist();
    }
  }

  /** Top-1, top-k, mean per-class recall, per-class accuracy and counts, confusion matrix. */
  static Map<String, Object> metricsMap(ClassificationMetrics m) {
    var out = new LinkedHashMap<String, Object>();
    out.put("samples", m.samples());
    out.put("top1", m.top1());
    out.put("top" + m.k(), m.topK());
    out.put("mean_per_class_recall", m.meanPerClassRecall());
    var perClass = new ArrayList<Object>();
    for (double r : m.perClassRecall()) {
      perClass.add(Double.isNaN(r) ? null : r);
    }
    out.put("per_class_accuracy", perClass);
    out.put("per_class_count", m.perClassCount());
    out.put("confusion_matrix", m.confusion());
    return out;
  }
}
