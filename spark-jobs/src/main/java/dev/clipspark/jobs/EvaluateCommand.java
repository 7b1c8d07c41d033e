package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.evaluation.EvalOptions;
import dev.clipspark.evaluation.Evaluation;
import dev.clipspark.evaluation.Prompts;
import dev.clipspark.evaluation.caption.CaptionModel;
import dev.clipspark.evaluation.caption.CaptionOptions;
import dev.clipspark.evaluation.caption.LimberCaptionModel;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.lm.Decoding;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.tokenizer.TokenizerOptions;
import dev.clipspark.training.weights.ExternalWeights;
import dev.clipspark.training.weights.ImportedWeights;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code clip evaluate}: zero-shot, linear probe, retrieval or embeddings of a CLIP checkpoint, or captioning by a
 * LiMBeR model, on a dataset.
 */
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
        "- retrieval: image-to-text and text-to-image recall@1/5/10 and median rank on captions; identical captions"
            + " are one candidate (eval.retrieval.dedupe-captions=false: one per row).",
        "- embed: image and/or text embeddings with their keys to OUT/embeddings (Parquet).",
        "- captioning: a LiMBeR model (--limber) captions the images; BLEU-4 and CIDEr-D against all captions of each"
            + " image, beside two baselines in the same run: the images shuffled, and the language model with no"
            + " image. Decoding: lm.decode.* or the options below; settings eval.captioning.*.",
        "Writes OUT/report.json and OUT/report.html (plots). Settings: eval.* (conf/evaluation.conf)."})
final class EvaluateCommand extends JobCommand {

  /** Folder under {@code --out} that a weights file given as {@code --checkpoint} is imported into. */
  static final String IMPORTED = "imported-weights";

  @Option(names = "--checkpoint", paramLabel = "DIR|FILE",
      description = "A training output directory (its newest checkpoint), a checkpoints/step-N directory, or a"
          + " local released weights file (OpenAI's .pt, open_clip's .bin/.pt/.safetensors; imported first into"
          + " OUT/imported-weights, see import-weights). Not needed for --task linear-probe --features pixels.")
  String checkpoint;

  @Option(names = "--tokenizer", paramLabel = "FILE",
      description = "With a weights file as --checkpoint: the merges file its model was trained with (OpenAI's"
          + " bpe_simple_vocab_16e6.txt.gz). Default: the tokenizer.merges setting.")
  String tokenizer;

  @Option(names = "--model", paramLabel = "NAME|FILE",
      description = "With a weights file as --checkpoint: the architecture it must match (default: inferred from"
          + " its shapes).")
  String model;

  @Option(names = "--task", defaultValue = "zeroshot", paramLabel = "TASK",
      description = "zeroshot, linear-probe, retrieval, embed or captioning (default: ${DEFAULT-VALUE}).")
  String task;

  @Option(names = "--limber", paramLabel = "DIR",
      description = "--task captioning: a train-limber output directory (its newest checkpoint) or a"
          + " checkpoints/step-N directory.")
  String limber;

  @Mixin
  DecodeOptions decodeOptions;

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
  private CaptionOptions captionOptions;
  private final CaptionModel.Loader captionLoader = LimberCaptionModel.LOADER;

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
    if (t == Evaluation.Task.CAPTIONING) {
      prepareCaptioning(settings, spec);
      return;
    }
    if (limber != null || decodeOptions.any()) {
      throw new IllegalArgumentException("Cannot use --limber or the decoding options with --task " + task
          + ": they belong to --task captioning");
    }
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
      resolved = ExternalWeights.isWeightsFile(java.nio.file.Path.of(checkpoint))
          ? importWeights(settings)
          : Checkpoints.resolve(checkpoint, new Configuration());
    } else if (tokenizer != null || model != null) {
      throw new IllegalArgumentException("Cannot use --tokenizer or --model without a weights file as --checkpoint");
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

  /** {@code --task captioning}: a LiMBeR model, no CLIP checkpoint. */
  private void prepareCaptioning(Settings settings, EvalData.Spec spec) {
    if (limber == null) {
      throw new IllegalArgumentException("Cannot run --task captioning without --limber DIR (a train-limber output)");
    }
    if (checkpoint != null || tokenizer != null || model != null || trainDataset != null) {
      throw new IllegalArgumentException("Cannot use --checkpoint, --tokenizer, --model or --train-dataset with --task"
          + " captioning: the LiMBeR model (--limber) names its own CLIP and language model");
    }
    captionOptions = CaptionOptions.from(settings).withDecoding(decodeOptions.apply(Decoding.from(settings)));
    if (new Path(spec.path()).toUri().getScheme() == null) {
      Inputs.requireLocalExists("--dataset", spec.path());
    }
    if (new Path(limber).toUri().getScheme() == null) {
      Inputs.requireLocalExists("--limber", limber);
    }
    // Reads P's checkpoint and limber.json and checks the frozen parts, so a wrong --limber stops before Spark.
    captionLoader.describe(limber, new Configuration());
    request = new Evaluation.Request(Evaluation.Task.CAPTIONING, limber, spec, null, out, embed);
  }

  /** Imports the weights file {@code --checkpoint} into {@code OUT/imported-weights}; returns its checkpoint. */
  private String importWeights(Settings settings) {
    String merges = tokenizer != null ? tokenizer : TokenizerOptions.from(settings).merges();
    if (merges == null || merges.isEmpty()) {
      throw new IllegalArgumentException("Cannot evaluate the weights file " + checkpoint + " without its tokenizer:"
          + " give --tokenizer FILE (OpenAI's bpe_simple_vocab_16e6.txt.gz) or set " + TokenizerOptions.MERGES);
    }
    Inputs.requireLocalExists("--tokenizer", merges);
    var conf = new Configuration();
    ImportedWeights w = ExternalWeights.read(java.nio.file.Path.of(checkpoint),
        model == null ? null : ModelConfigs.load(model));
    var dir = ExternalWeights.saveCheckpoint(w, merges, new Path(out, IMPORTED).toString(), conf);
    var printer = out();
    printer.println(ImportWeightsCommand.summary(w, dir.toString()));
    printer.flush();
    return Checkpoints.resolve(dir.toString(), conf);
  }

  @Override
  int run(SparkSession spark) {
    Map<String, Object> report = request.task() == Evaluation.Task.CAPTIONING
        ? Evaluation.captioning(spark, request, options, captionOptions, captionLoader)
        : Evaluation.run(spark, request, options);
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
      if (Boolean.TRUE.equals(r.get("dedupe_captions"))) {
        sb.append(String.format(Locale.ROOT, "  retrieval on %s rows: %s distinct images, %s distinct captions;"
            + " identical captions are one candidate (eval.retrieval.dedupe-captions = true)%n", r.get("rows"),
            r.get("distinct_images"), r.get("distinct_captions")));
      } else if (Boolean.FALSE.equals(r.get("dedupe_captions"))) {
        sb.append(String.format(Locale.ROOT, "  retrieval on %s rows (%s distinct images, %s distinct captions): %s"
            + " images and %s texts ranked, one text per row (eval.retrieval.dedupe-captions = false)%n",
            r.get("rows"), r.get("distinct_images"), r.get("distinct_captions"), r.get("images"), r.get("texts")));
      }
      for (String dir : List.of("image_to_text", "text_to_image")) {
        var m = (Map<String, Object>) r.get(dir);
        sb.append(String.format(Locale.ROOT, "  %s: R@1 %.4f, R@5 %.4f, R@10 %.4f, median rank %s%n",
            dir.replace('_', ' '), (Double) m.get("recall@1"), (Double) m.get("recall@5"), (Double) m.get("recall@10"),
            m.get("median_rank")));
      }
    }
    if (report.get("captioning") instanceof Map<?, ?> c) {
      sb.append(String.format(Locale.ROOT, "  captioning of %s distinct images (%s reference captions, %s skipped);"
          + " %s%n", c.get("images"), c.get("references"), c.get("skipped"), c.get("decoding")));
      for (String[] v : new String[][] {{"model", "model"}, {"shuffled", "shuffled images"},
          {"no_image", "no image"}}) {
        if (c.get(v[0]) instanceof Map<?, ?> m) {
          sb.append(String.format(Locale.ROOT, "  %-16s BLEU-4 %.4f, CIDEr-D %.4f", v[1] + ":", (Double) m.get("bleu4"),
              (Double) m.get("cider_d")));
          if (c.get("label_words") instanceof Map<?, ?> lw && lw.get(v[0]) instanceof Map<?, ?> w) {
            sb.append(String.format(Locale.ROOT, "; names the label's words %s, all of them %.3f", w.get("by_position")
                .toString().replaceAll("(\\d\\.\\d{3})\\d*", "$1"), (Double) w.get("all")));
          }
          sb.append(String.format(Locale.ROOT, "%n"));
        }
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
