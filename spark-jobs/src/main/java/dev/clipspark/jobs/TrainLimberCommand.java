package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.limber.LimberOptions;
import dev.clipspark.training.limber.LimberTraining;
import dev.clipspark.training.trainer.SparkBarrierTrainer;
import dev.clipspark.training.trainer.TrainSummary;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip train-limber}: trains LiMBeR's linear map P between a frozen CLIP image tower and a frozen LM. */
@Command(
    name = "train-limber",
    mixinStandardHelpOptions = true,
    description = {
        "Trains LiMBeR's linear map P from a frozen CLIP image tower to soft prompts of a frozen GPT-2 language"
            + " model, resuming from the newest checkpoint in OUT.",
        "First computes each image's CLIP features once in Spark executors (limber.features = pooled or grid) and"
            + " stores them as Parquet under OUT/features/, reused by a later run with the same dataset, CLIP"
            + " checkpoint and mode. Then trains P alone on the next-token loss of each caption after its image's k"
            + " soft prompts, with AdamW, warm-up and a cosine schedule (limber.* settings, see conf/training.conf),"
            + " on --workers K data-parallel workers with one all-reduce of P's gradient per step. Writes"
            + " OUT/checkpoints/step-N/ (P, the optimizer state and limber.json, which names both frozen checkpoints"
            + " and their SHA-256) every limber.checkpoint-every steps and OUT/metrics.jsonl."})
final class TrainLimberCommand extends JobCommand {

  @Override
  boolean reportsStageProgress() {
    return false;
  }

  @Option(names = "--clip", required = true, paramLabel = "DIR",
      description = "The frozen CLIP model: a train output directory (its newest checkpoint) or a checkpoint"
          + " directory, e.g. one written by import-weights.")
  String clip;

  @Option(names = "--lm", required = true, paramLabel = "DIR",
      description = "The frozen language model: a checkpoint of kind gpt2 (from train-lm or import-weights) or an"
          + " output directory holding one.")
  String lm;

  @Option(names = "--data", required = true, paramLabel = "DIR",
      description = "Dataset directory written by build-dataset (holds manifest.json): the images and captions.")
  String data;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory of the run.")
  String out;

  @Option(names = "--workers", defaultValue = "1", paramLabel = "K",
      description = "Workers: 1 trains P in this process; K > 1 runs one Spark barrier stage of K tasks that share"
          + " each global batch (default: ${DEFAULT-VALUE}).")
  int workers;

  private LimberOptions options;
  private java.time.Duration timeout;

  @Override
  void prepare(Settings settings) {
    options = LimberOptions.from(settings);
    timeout = SparkBarrierTrainer.timeout(settings);
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train LiMBeR with --workers " + workers + ": must be at least 1");
    }
    options.shareOf(workers);
    Inputs.requireLocalExists("--clip", clip);
    Inputs.requireLocalExists("--lm", lm);
    Inputs.requireLocalExists("--data", data);
    var fs = Inputs.defaultFileSystem();
    if (Inputs.localFile(clip, fs) != null && Inputs.localFile(lm, fs) != null) {
      // Local checkpoints are checked before Spark starts: their kinds, k against the language model's context.
      LimberTraining.plan(new LimberTraining.Job(data, clip, lm, out), options,
          new org.apache.hadoop.conf.Configuration());
    }
  }

  @Override
  int run(SparkSession spark) {
    var printer = out();
    java.util.function.Consumer<String> progress = line -> {
      printer.println(line);
      printer.flush();
    };
    TrainSummary s = LimberTraining.run(spark, new LimberTraining.Job(data, clip, lm, out), options, workers, timeout,
        progress);
    printer.println(String.format(Locale.ROOT,
        "Trained %s from step %d to %d: loss %.4f -> %.4f, %.1f captions/s%n  checkpoint %s%n  metrics %s",
        s.model(), s.startStep(), s.steps(), s.firstLoss(), s.lastLoss(), s.samplesPerSecond(),
        s.checkpoint().isEmpty() ? "(none)" : s.checkpoint(), s.metrics()));
    printer.flush();
    return 0;
  }
}
