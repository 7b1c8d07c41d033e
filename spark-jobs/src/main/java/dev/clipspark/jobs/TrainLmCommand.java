package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.LmConfigs;
import dev.clipspark.training.trainer.LmTrainer;
import dev.clipspark.training.trainer.SparkBarrierTrainer;
import dev.clipspark.training.trainer.SparkLmTrainer;
import dev.clipspark.training.trainer.TrainOptions;
import dev.clipspark.training.trainer.TrainSummary;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip train-lm}: trains a small GPT-2 on captions or text files, resuming from the newest checkpoint. */
@Command(
    name = "train-lm",
    mixinStandardHelpOptions = true,
    description = {
        "Trains a GPT-2-family language model (for LiMBeR captioning) on the captions of a built dataset or on text"
            + " files (one text per line), resuming from the newest checkpoint in OUT.",
        "Each text is one row <|endoftext|> text <|endoftext|>, cut to the model's n_ctx; the loss is the next-token"
            + " cross-entropy over each global batch; AdamW with weight decay on the blocks' matrices only, warm-up"
            + " and a cosine schedule. It reads the train.* settings of CLIP training (batch size, steps or epochs,"
            + " learning rate, AdamW, checkpoints, logging; see conf/training.conf). Writes OUT/checkpoints/step-N/"
            + " (kind gpt2, with the tokenizer's vocab.json and merges.txt) every train.checkpoint-every steps and"
            + " OUT/metrics.jsonl; train-limber --lm OUT reads the result. --init starts from a language-model"
            + " checkpoint (train-lm or import-weights output) instead of random weights."})
final class TrainLmCommand extends JobCommand {

  @Override
  boolean reportsStageProgress() {
    return false;
  }

  @Option(names = "--data", paramLabel = "DIR",
      description = "Dataset directory written by build-dataset: its captions are the texts.")
  String data;

  @Option(names = "--corpus", paramLabel = "FILE", split = ",",
      description = "Instead of --data: UTF-8 text files (local paths or Hadoop URIs, comma-separated), one text per"
          + " line; blank lines are skipped.")
  List<String> corpus;

  @Option(names = "--model", paramLabel = "NAME|FILE",
      description = "Architecture: a name from conf/models/lm (gpt2-tiny, gpt2, ...) or a .conf file. Required for a"
          + " new run without --init; when resuming or with --init, the checkpoint's (and it must match if given).")
  String model;

  @Option(names = "--tokenizer", paramLabel = "DIR",
      description = "Folder with the GPT-2 tokenizer's vocab.json and merges.txt (train-tokenizer --kind gpt2, or"
          + " GPT-2's own files); at most the model's vocab_size tokens. Required for a new run without --init.")
  String tokenizer;

  @Option(names = "--init", paramLabel = "DIR",
      description = "Start a new run from a language model's weights (train.init): a train-lm or import-weights"
          + " output or checkpoint directory. Step 0, a fresh optimizer; its tokenizer unless --tokenizer is given."
          + " Ignored when --out already holds a checkpoint (the run resumes).")
  String init;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory of the run.")
  String out;

  @Option(names = "--workers", defaultValue = "1", paramLabel = "K",
      description = "Workers: 1 trains in this process; K > 1 runs one Spark barrier stage of K tasks that share"
          + " each global batch, with one all-reduce of the gradients per step (default: ${DEFAULT-VALUE}).")
  int workers;

  private java.time.Duration timeout;
  private TrainOptions options;
  private LmConfig config;

  @Override
  void prepare(Settings settings) {
    options = TrainOptions.from(settings);
    if (init != null) {
      options = options.withInit(init);
    }
    if (!options.init().isEmpty()) {
      Inputs.requireLocalExists("--init (" + TrainOptions.INIT + ")", options.init());
    }
    timeout = SparkBarrierTrainer.timeout(settings);
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train the language model with --workers " + workers
          + ": must be at least 1");
    }
    options.shareOf(workers);
    boolean hasCorpus = corpus != null && !corpus.isEmpty();
    if ((data == null) == !hasCorpus) {
      throw new IllegalArgumentException("Cannot train a language model: give either --data DIR or --corpus FILE,"
          + " not " + (data == null ? "neither" : "both"));
    }
    if (data != null) {
      Inputs.requireLocalExists("--data", data);
    } else {
      for (String file : corpus) {
        Inputs.requireLocalExists("--corpus", file);
      }
    }
    if (model != null) {
      config = LmConfigs.load(model);
    }
    if (tokenizer != null) {
      Inputs.requireLocalExists("--tokenizer", tokenizer);
    }
  }

  @Override
  int run(SparkSession spark) {
    var printer = out();
    var request = new LmTrainer.Request(data, data == null ? corpus : List.of(), config, tokenizer, out);
    java.util.function.Consumer<String> progress = line -> {
      printer.println(line);
      printer.flush();
    };
    TrainSummary s;
    if (workers > 1) {
      s = SparkLmTrainer.run(spark, request, options, workers, timeout, progress);
    } else {
      var conf = spark.sparkContext().hadoopConfiguration();
      LmTrainer.checkPlan(request, options, conf, 1);
      s = LmTrainer.run(request, options, conf, progress);
    }
    printer.println(String.format(Locale.ROOT,
        "Trained language model %s from step %d to %d: loss %.4f -> %.4f, %.1f texts/s%s%n  checkpoint %s%n"
            + "  metrics %s", s.model(), s.startStep(), s.steps(), s.firstLoss(), s.lastLoss(), s.samplesPerSecond(),
        s.skippedSteps() > 0 ? ", " + s.skippedSteps() + " steps skipped (non-finite loss)" : "",
        s.checkpoint().isEmpty() ? "(none)" : s.checkpoint(), s.metrics()));
    printer.flush();
    return 0;
  }
}
