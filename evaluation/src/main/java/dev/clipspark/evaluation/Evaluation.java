package dev.clipspark.evaluation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.report.HtmlReport;
import dev.clipspark.training.trainer.MetricsLog;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The evaluation jobs behind {@code clip evaluate}: {@link Task#ZEROSHOT}, {@link Task#LINEAR_PROBE},
 * {@link Task#RETRIEVAL}, {@link Task#EMBED} and {@link Task#CAPTIONING} ({@link #captioning}: a LiMBeR model
 * instead of a CLIP checkpoint). Each reads a checkpoint and a dataset, computes embeddings (or captions) in
 * Spark executors, and writes {@code OUT/report.json} (every metric, the dataset, the checkpoint, the templates)
 * and, for the measuring tasks, {@code OUT/report.html}.
 */
public final class Evaluation {

  /** Report file names. */
  public static final String REPORT_JSON = "report.json";
  /** The HTML page. */
  public static final String REPORT_HTML = "report.html";
  /** Directory {@link Task#EMBED} writes. */
  public static final String EMBEDDINGS = "embeddings";
  /** Learning-curve points kept in a report at most. */
  static final int CURVE_POINTS = 500;

  /** The tasks. */
  public enum Task {
    /** Zero-shot classification with prompt ensembling. */
    ZEROSHOT("zeroshot"),
    /** Logistic regression on frozen features. */
    LINEAR_PROBE("linear-probe"),
    /** Image-text retrieval. */
    RETRIEVAL("retrieval"),
    /** Embeddings written to Parquet. */
    EMBED("embed"),
    /** LiMBeR captioning: BLEU-4 and CIDEr-D beside two baselines ({@link #captioning}). */
    CAPTIONING("captioning");

    private final String spelling;

    Task(String spelling) {
      this.spelling = spelling;
    }

    /** As on the command line. */
    public String spelling() {
      return spelling;
    }

    /** Parses a spelling. */
    public static Task parse(String s) {
      for (Task t : values()) {
        if (t.spelling.equals(s)) {
          return t;
        }
      }
      throw new IllegalArgumentException("Cannot run the evaluation task \"" + s
          + "\": must be one of zeroshot, linear-probe, retrieval, embed, captioning");
    }
  }

  /**
   * One evaluation.
   *
   * @param task what to run
   * @param checkpoint a training output directory or a {@code step-*} checkpoint directory
   * @param dataset the dataset ({@code KIND:PATH}); the test split is measured
   * @param trainDataset where the linear probe's train split comes from; null: the dataset's own train split
   * @param out the output directory
   * @param embed for {@link Task#EMBED}: {@code image}, {@code text} or {@code both}
   */
  public record Request(Task task, String checkpoint, EvalData.Spec dataset, EvalData.Spec trainDataset, String out,
      String embed) {}

  private Evaluation() {}

  /**
   * Runs one evaluation and writes its report.
   *
   * @return the report (what report.json holds)
   */
  public static Map<String, Object> run(SparkSession spark, Request request, EvalOptions options) {
    if (request.task() == Task.CAPTIONING) {
      throw new IllegalArgumentException("Cannot run --task captioning on a CLIP checkpoint: it needs a LiMBeR model"
          + " (Evaluation.captioning)");
    }
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    boolean pixels = request.task() == Task.LINEAR_PROBE && options.probeFeatures() == Embeddings.What.PIXELS;
    ClipEvaluator clip = pixels ? null : ClipEvaluator.load(request.checkpoint(), conf);
    var report = new LinkedHashMap<String, Object>();
    report.put("task", request.task().spelling());
    report.put("created", Instant.now().toString());
    if (clip != null) {
      var c = new LinkedHashMap<String, Object>();
      c.put("directory", clip.checkpointDirectory());
      c.put("step", clip.step());
      c.put("model", clip.modelName());
      c.put("logit_scale", clip.logitScale());
      report.put("checkpoint", c);
    } else {
      report.put("checkpoint", Map.of("directory", "(none: raw pixels)", "step", 0, "model", "raw pixels"));
    }
    EvalData.Loaded test = EvalData.read(spark, request.dataset(), EvalData.Split.TEST, options.dataOptions());
    var dataset = new LinkedHashMap<String, Object>();
    dataset.put("spec", request.dataset().toString());
    dataset.put("kind", request.dataset().kind().spelling());
    dataset.put("split", "test");
    dataset.put("max_rows", options.maxRows());
    if (test.labelled()) {
      dataset.put("classes", test.classes().size());
      dataset.put("class_source", test.classSource());
      report.put("classes", test.classes());
    }
    report.put("dataset", dataset);
    switch (request.task()) {
      case ZEROSHOT -> {
        Prompts.TextList templates = templates(options, test, conf);
        report.put("templates", Map.of("source", templates.source(), "templates", templates.entries()));
        var r = ZeroShotEvaluation.run(spark, clip, test, templates, options);
        dataset.put("rows", r.ensembled().samples());
        report.put("zeroshot", r.toReport());
      }
      case LINEAR_PROBE -> {
        EvalData.Spec trainSpec = request.trainDataset() != null ? request.trainDataset() : request.dataset();
        EvalData.Loaded train = EvalData.read(spark, trainSpec, EvalData.Split.TRAIN, options.dataOptions());
        dataset.put("train_spec", trainSpec.toString());
        var r = LinearProbeEvaluation.run(spark, clip == null ? null : clip.checkpointDirectory(), train, test,
            options);
        dataset.put("rows", r.testRows());
        report.put("linear_probe", r.toReport());
      }
      case RETRIEVAL -> {
        var r = RetrievalEvaluation.run(spark, clip, test, options);
        dataset.put("rows", r.rows());
        report.put("retrieval", r.toReport());
      }
      case EMBED -> {
        var r = embed(spark, clip, test, request, options);
        dataset.put("rows", r.get("rows"));
        report.put("embed", r);
      }
      default -> throw new IllegalStateException("Unknown task " + request.task());
    }
    if (clip != null) {
      List<Map<String, Object>> curve = learningCurve(clip.checkpointDirectory(), conf);
      if (!curve.isEmpty()) {
        report.put("learning_curve", curve);
      }
    }
    write(report, request, conf);
    report.put("report_json", new Path(request.out(), REPORT_JSON).toString());
    if (request.task() != Task.EMBED) {
      report.put("report_html", new Path(request.out(), REPORT_HTML).toString());
    }
    return report;
  }

  /**
   * {@link Task#CAPTIONING}: BLEU-4 and CIDEr-D of a LiMBeR model's captions on the test split of
   * {@code request.dataset()}, with the shuffled-images and no-image baselines
   * ({@link dev.clipspark.evaluation.caption.CaptioningEvaluation}); {@code request.checkpoint()} is the LiMBeR
   * model's location, read by {@code loader}. Writes report.json and report.html.
   *
   * @return the report (what report.json holds)
   */
  public static Map<String, Object> captioning(SparkSession spark, Request request, EvalOptions options,
      dev.clipspark.evaluation.caption.CaptionOptions captionOptions,
      dev.clipspark.evaluation.caption.CaptionModel.Loader loader) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    var report = new LinkedHashMap<String, Object>();
    report.put("task", Task.CAPTIONING.spelling());
    report.put("created", Instant.now().toString());
    report.put("checkpoint", loader.describe(request.checkpoint(), conf));
    EvalData.Loaded test = EvalData.read(spark, request.dataset(), EvalData.Split.TEST, options.dataOptions());
    var dataset = new LinkedHashMap<String, Object>();
    dataset.put("spec", request.dataset().toString());
    dataset.put("kind", request.dataset().kind().spelling());
    dataset.put("split", "test");
    dataset.put("max_rows", options.maxRows());
    report.put("dataset", dataset);
    var r = dev.clipspark.evaluation.caption.CaptioningEvaluation.run(spark, request.checkpoint(), loader, test,
        captionOptions, options.maxRows());
    dataset.put("rows", r.rows());
    report.put("captioning", r.report());
    write(report, request, conf);
    report.put("report_json", new Path(request.out(), REPORT_JSON).toString());
    report.put("report_html", new Path(request.out(), REPORT_HTML).toString());
    return report;
  }

  /** The templates {@code eval.templates} names; {@code auto}: the dataset's own list, else imagenet. */
  static Prompts.TextList templates(EvalOptions options, EvalData.Loaded data, Configuration conf) {
    String t = options.templates();
    if ("auto".equals(t)) {
      t = Prompts.SHIPPED_TEMPLATES.contains(data.classSource()) ? data.classSource() : "imagenet";
    }
    return Prompts.templates(t, conf);
  }

  /**
   * At most {@code maxRows} rows, chosen by a hash of their keys (the same rows for any partitioning and every
   * run); all of them when {@code maxRows} is 0.
   */
  public static Dataset<Row> limit(Dataset<Row> rows, long maxRows) {
    if (maxRows <= 0) {
      return rows;
    }
    return rows.withColumn("_order", functions.xxhash64(functions.col("key")))
        .orderBy(functions.col("_order"), functions.col("key")).limit((int) Math.min(Integer.MAX_VALUE, maxRows))
        .drop("_order");
  }

  private static Map<String, Object> embed(SparkSession spark, ClipEvaluator clip, EvalData.Loaded data,
      Request request, EvalOptions options) {
    String what = request.embed() == null ? "both" : request.embed();
    if (!List.of("image", "text", "both").contains(what)) {
      throw new IllegalArgumentException("Cannot embed \"" + what + "\": must be one of image, text, both");
    }
    Dataset<Row> rows = limit(data.rows(), options.maxRows());
    Dataset<Row> out = null;
    long skipped = 0;
    if (!"text".equals(what)) {
      var images = Embeddings.compute(spark, rows.dropDuplicates("key"), Embeddings.What.IMAGE,
          clip.checkpointDirectory(), options.batchSize(), options.imageResample());
      skipped += images.skipped();
      out = images.rows().withColumnRenamed("embedding", "image_embedding");
    }
    if (!"image".equals(what)) {
      var texts = Embeddings.compute(spark, rows, Embeddings.What.TEXT, clip.checkpointDirectory(),
          options.batchSize(), options.imageResample());
      skipped += texts.skipped();
      Dataset<Row> t = texts.rows().withColumnRenamed("embedding", "text_embedding");
      out = out == null ? t : out.join(t.select("key", "caption", "text_embedding")
          .withColumnRenamed("caption", "_caption"), "key")
          .withColumn("caption", functions.col("_caption")).drop("_caption");
    }
    String dir = new Path(request.out(), EMBEDDINGS).toString();
    out.write().mode(SaveMode.Overwrite).parquet(dir);
    long written = spark.read().parquet(dir).count();
    var m = new LinkedHashMap<String, Object>();
    m.put("what", what);
    m.put("path", dir);
    m.put("rows", written);
    m.put("dimensions", clip.embedDim());
    m.put("skipped", skipped);
    m.put("columns", List.of(spark.read().parquet(dir).columns()));
    return m;
  }

  /** The run's metrics.jsonl next to the checkpoint's {@code checkpoints/} directory, thinned to 500 points. */
  static List<Map<String, Object>> learningCurve(String checkpointDir, Configuration conf) {
    Path dir = new Path(checkpointDir);
    Path parent = dir.getParent();
    if (parent == null || !parent.getName().equals("checkpoints") || parent.getParent() == null) {
      return List.of();
    }
    List<Map<String, Object>> records;
    try {
      records = MetricsLog.records(parent.getParent().toString(), "metrics.jsonl", conf);
    } catch (UncheckedIOException e) {
      return List.of();
    }
    int every = Math.max(1, (records.size() + CURVE_POINTS - 1) / CURVE_POINTS);
    var out = new ArrayList<Map<String, Object>>();
    for (int i = 0; i < records.size(); i++) {
      if (i % every == 0 || i == records.size() - 1) {
        var r = records.get(i);
        var p = new LinkedHashMap<String, Object>();
        for (String k : List.of("step", "epoch", "loss", "logit_scale", "lr", "samples_per_second")) {
          if (r.containsKey(k)) {
            p.put(k, r.get(k));
          }
        }
        out.add(p);
      }
    }
    return out;
  }

  private static void write(Map<String, Object> report, Request request, Configuration conf) {
    var json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    try {
      Path out = new Path(request.out());
      FileSystem fs = out.getFileSystem(conf);
      fs.mkdirs(out);
      JsonNode tree = json.valueToTree(report);
      try (OutputStream o = fs.create(new Path(out, REPORT_JSON), true)) {
        o.write(json.writeValueAsBytes(tree));
      }
      if (request.task() != Task.EMBED) {
        try (OutputStream o = fs.create(new Path(out, REPORT_HTML), true)) {
          o.write(HtmlReport.render(tree).getBytes(StandardCharsets.UTF_8));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(String.format(Locale.ROOT, "Cannot write the report to %s: %s", request.out(),
          e.getMessage()), e);
    }
  }
}
