package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.tokenizer.TokenizerOptions;
import dev.clipspark.training.trainer.SparkBarrierTrainer;
import dev.clipspark.training.trainer.TrainOptions;
import dev.clipspark.training.trainer.TrainSummary;
import dev.clipspark.training.trainer.Trainer;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip train}: trains a CLIP model on a built dataset, resuming from the newest checkpoint in --out. */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    description = {
        "Trains a CLIP model on a built dataset, resuming from the newest checkpoint in OUT.",
        "The model is a conf/models/NAME.conf architecture; training uses the symmetric contrastive loss over each"
            + " batch, AdamW, warm-up and a cosine schedule (train.* settings, see conf/training.conf). Writes"
            + " OUT/checkpoints/step-N/ every train.checkpoint-every steps and OUT/metrics.jsonl. When OUT already"
            + " holds a complete checkpoint, training resumes from the newest one and continues exactly where it"
            + " stopped."})
final class TrainCommand extends JobCommand {

  @Override
  boolean reportsStageProgress() {
    return false;
  }


  @Option(names = "--data", required = true, paramLabel = "DIR",
      description = "Dataset directory written by build-dataset (holds manifest.json).")
  String data;

  @Option(names = "--model", paramLabel = "NAME|FILE",
      description = "Architecture: a name from conf/models (ViT-B-32, RN50, tiny-vit, ...) or a .conf file."
          + " Required for a new run; when resuming, the checkpoint's model (and it must match if given).")
  String model;

  @Option(names = "--tokenizer", paramLabel = "FILE",
      description = "BPE merges file (from train-tokenizer, or OpenAI's bpe_simple_vocab_16e6.txt.gz);"
          + " default: tokenizer.merges. Its vocabulary is tokenizer.vocab-size tokens.")
  String tokenizer;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory of the run.")
  String out;

  @Option(names = "--workers", defaultValue = "1", paramLabel = "K",
      description = "Workers: 1 trains in this process; K > 1 runs one Spark barrier stage of K tasks that share"
          + " each global batch with an exact loss (default: ${DEFAULT-VALUE}).")
  int workers;

  private java.time.Duration timeout;

  private TrainOptions options;
  private TokenizerOptions tokenizerOptions;
  private ModelConfig config;

  @Override
  void prepare(Settings settings) {
    options = TrainOptions.from(settings);
    timeout = SparkBarrierTrainer.timeout(settings);
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train with --workers " + workers + ": must be at least 1");
    }
    options.shareOf(workers);
    tokenizerOptions = TokenizerOptions.from(settings);
    if (tokenizer != null) {
      tokenizerOptions = tokenizerOptions.withMerges(tokenizer);
    }
    Inputs.requireLocalExists("--data", data);
    if (model != null) {
      config = ModelConfigs.load(model);
    }
    if (!tokenizerOptions.merges().isEmpty()) {
      Inputs.requireLocalExists("--tokenizer", tokenizerOptions.merges());
    }
  }

  @Override
  int run(SparkSession spark) {
    var printer = out();
    var request = new Trainer.Request(data, config, tokenizerOptions.merges().isEmpty() ? null
        : tokenizerOptions.merges(), tokenizerOptions.vocabSize(), out);
    java.util.function.Consumer<String> progress = line -> {
      printer.println(line);
      printer.flush();
    };
    TrainSummary s = workers > 1
        ? SparkBarrierTrainer.run(spark, request, options, workers, timeout, progress)
        : Trainer.run(request, options, spark.sparkContext().hadoopConfiguration(), progress);
    printer.println(String.format(Locale.ROOT,
        "Trained %s from step %d to %d: loss %.4f -> %.4f, %.1f samples/s%s%n  checkpoint %s%n  metrics %s",
        s.model(), s.startStep(), s.steps(), s.firstLoss(), s.lastLoss(), s.samplesPerSecond(),
        s.skippedSteps() > 0 ? ", " + s.skippedSteps() + " steps skipped (non-finite loss)" : "",
        s.checkpoint().isEmpty() ? "(none)" : s.checkpoint(), s.metrics()));
    printer.flush();
    return 0;
  }
}
