package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.evaluation.EvalOptions;
import dev.clipspark.evaluation.Evaluation;
import dev.clipspark.evaluation.Prompts;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.training.checkpoint.Checkpoints;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip evaluate}: zero-shot, linear probe, retrieval or embeddings of a checkpoint on a dataset. */
@Command(
    name = "evaluate",
    mixinStandardHelpOptions = true,
    description = {
        "Evaluates a CLIP checkpoint on a dataset, embedding images and texts in Spark executors.",
        "Tasks (--task):",
        "- zeroshot: zero-shot classification with prompt ensembling (top-1, top-k, mean per-class recall,"
            + " per-class accuracy, confusion matrix).",
        "- linear-probe: logistic regression (Spark MLlib, L-BFGS) on frozen features, L2 strength chosen on a"
            + " validation part of the train split.",
        "- retrieval: image-to-text and text-to-image recall@1/5/10 and median rank on captions.",
        "- embed: image and/or text embeddings with their keys to OUT/embeddings (Parquet).",
        "Writes OUT/report.json and OUT/report.html (plots). Settings: eval.* (conf/evaluation.conf)."})
final class EvaluateCommand extends JobCommand {

  @Option(names = "--checkpoint", paramLabel = "DIR",
      description = "A training output directory (its newest checkpoint) or a checkpoints/step-N directory."
          + " Not needed for --task linear-probe --features pixels.")
  String checkpoint;

  @Option(names = "--task", defaultValue = "zeroshot", paramLabel = "TASK",
      description = "zeroshot, linear-probe, retrieval or embed (default: ${DEFAULT-VALUE}).")
  String task;

  @Option(names = "--dataset", required = true, paramLabel = "KIND:PATH",
      description = "idx:DIR (MNIST-format files), folder:DIR (a sub-directory per class; train/ and test/ as"
          + " splits), table:FILE (Parquet/CSV/TSV; eval.table.*), shards:DIR (a build-dataset output).")
  String dataset;

  @Option(names = "--train-dataset", paramLabel = "KIND:PATH",
      description = "linear-probe: where the train split comes from (default: the --dataset's own train split).")
  String trainDataset;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory for the report.")
  String out;

  @Option(names = "--classes", paramLabel = "NAME|FILE",
      description = "Class names in label order: a shipped list (fashion-mnist, mnist) or a file, one per line"
          + " (eval.classes; default auto).")
  String classes;

  @Option(names = "--templates", paramLabel = "NAME|FILE",
      description = "Prompt templates, ensembled: imagenet (CLIP's 80), default, fashion-mnist, or a file with {}"
          + " for the class name (eval.templates; default auto).")
  String templates;

  @Option(names = "--compare-templates",
      description = "zeroshot: also score the single template eval.single-template alone, beside the ensemble.")
  boolean compareTemplates;

  @Option(names = "--features", paramLabel = "image|pixels",
      description = "linear-probe: the model's image embeddings or raw pixels (eval.probe.features).")
  String features;

  @Option(names = "--embed", defaultValue = "both", paramLabel = "image|text|both",
      description = "embed: which embeddings to write (default: ${DEFAULT-VALUE}).")
  String embed;

  private EvalOptions options;
  private Evaluation.Request request;

  @Override
  void prepare(Settings settings) {
    options = EvalOptions.from(settings);
    if (classes != null) {
      options = options.withClasses(classes);
    }
    if (templates != null) {
      options = options.withTemplates(templates);
    }
    if (compareTemplates) {
      options = options.withCompareSingleTemplate(true);
    }
    if (features != null) {
      options = options.withProbeFeatures(switch (features) {
        case "image" -> dev.clipspark.evaluation.Embeddings.What.IMAGE;
        case "pixels" -> dev.clipspark.evaluation.Embeddings.What.PIXELS;
        default -> throw new IllegalArgumentException("Cannot probe --features " + features
            + ": must be image or pixels");
      });
    }
    Evaluation.Task t = Evaluation.Task.parse(task);
    EvalData.Spec spec = EvalData.Spec.parse(dataset);
    EvalData.Spec trainSpec = trainDataset == null ? null : EvalData.Spec.parse(trainDataset);
    if (trainSpec != null && t != Evaluation.Task.LINEAR_PROBE) {
      throw new IllegalArgumentException("Cannot use --train-dataset with --task " + task + ": only linear-probe"
          + " fits on a train split");
    }
    if (!List.of("image", "text", "both").contains(embed)) {
      throw new IllegalArgumentException("Cannot embed \"" + embed + "\": --embed must be image, text or both");
    }
    boolean pixels = t == Evaluation.Task.LINEAR_PROBE
        && options.probeFeatures() == dev.clipspark.evaluation.Embeddings.What.PIXELS;
    String resolved = checkpoint;
    if (!pixels) {
      if (checkpoint == null) {
        throw new IllegalArgumentException("Cannot run --task " + task + " without --checkpoint DIR");
      }
      resolved = Checkpoints.resolve(checkpoint, new Configuration());
    }
    // Template and class files are read now, so a typo stops the job before Spark starts.
    if (!"auto".equals(options.templates())) {
      Prompts.templates(options.templates());
    }
    if (!"auto".equals(options.classes())) {
      Prompts.classes(options.classes());
    }
    for (EvalData.Spec s : trainSpec == null ? List.of(spec) : List.of(spec, trainSpec)) {
      if (new Path(s.path()).toUri().getScheme() == null) {
        Inputs.requireLocalExists("--dataset", s.path());
      }
    }
    request = new Evaluation.Request(t, resolved, spec, trainSpec, out, embed);
  }

  @Override
  int run(SparkSession spark) {
    Map<String, Object> report = Evaluation.run(spark, request, options);
    var printer = out();
    printer.println(summary(report));
    printer.flush();
    return 0;
  }

  @SuppressWarnings("unchecked")
  static String summary(Map<String, Object> report) {
    var sb = new StringBuilder();
    var ck = (Map<String, Object>) report.get("checkpoint");
    var ds = (Map<String, Object>) report.get("dataset");
    sb.append(String.format(Locale.ROOT, "Evaluated %s (step %s) on %s: %s, %s rows%n", ck.get("model"), ck.get("step"),
        ds.get("spec"), report.get("task"), ds.get("rows")));
    if (report.get("zeroshot") instanceof Map<?, ?> z) {
      sb.append(String.format(Locale.ROOT, "  zero-shot top-1 %.4f, top-5 %s, mean per-class recall %.4f (%d templates)%n",
          (Double) z.get("top1"), format(z.get("top5")), (Double) z.get("mean_per_class_recall"), z.get("templates")));
      if (z.get("single_template") instanceof Map<?, ?> s) {
        sb.append(String.format(Locale.ROOT, "  single template \"%s\": top-1 %.4f%n", s.get("template"),
            (Double) s.get("top1")));
      }
    }
    if (report.get("linear_probe") instanceof Map<?, ?> p) {
      sb.append(String.format(Locale.ROOT,
          "  linear probe on %s features: test accuracy %.4f, chosen regParam %s (validation accuracy %.4f)%n",
          p.get("features"), (Double) p.get("test_accuracy"), p.get("chosen_reg_param"),
          (Double) p.get("validation_accuracy")));
    }
    if (report.get("retrieval") instanceof Map<?, ?> r) {
      for (String dir : List.of("image_to_text", "text_to_image")) {
        var m = (Map<String, Object>) r.get(dir);
        sb.append(String.format(Locale.ROOT, "  %s: R@1 %.4f, R@5 %.4f, R@10 %.4f, median rank %s%n",
            dir.replace('_', ' '), (Double) m.get("recall@1"), (Double) m.get("recall@5"), (Double) m.get("recall@10"),
            m.get("median_rank")));
      }
    }
    if (report.get("embed") instanceof Map<?, ?> e) {
      sb.append(String.format(Locale.ROOT, "  wrote %s rows of %s embeddings to %s%n", e.get("rows"), e.get("what"),
          e.get("path")));
    }
    sb.append("  report ").append(report.get("report_json"));
    if (report.get("report_html") != null) {
      sb.append("\n  report ").append(report.get("report_html"));
    }
    return sb.toString();
  }

  private static String format(Object v) {
    return v instanceof Double d ? String.format(Locale.ROOT, "%.4f", d) : String.valueOf(v);
  }
}
