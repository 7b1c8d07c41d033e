package dev.clipspark.training.limber;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.LmConfigs;
import dev.clipspark.training.trainer.BarrierStage;
import dev.clipspark.training.trainer.BarrierWork;
import dev.clipspark.training.trainer.TrainSummary;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * The whole {@code train-limber} job on the driver: checks the inputs and settings, computes (or reuses) the image
 * features in Spark executors ({@link FeatureStore}), then trains P ({@link LimberTrainer}) in this process for one
 * worker or in one Spark barrier stage of K tasks ({@link BarrierStage}).
 */
public final class LimberTraining {

  /**
   * What to train.
   *
   * @param dataset a dataset directory written by build-dataset
   * @param clip the CLIP checkpoint: a {@code step-*} directory or a training output directory
   * @param lm the language model's checkpoint (kind gpt2): a {@code step-*} directory or an output directory
   * @param outDir the output directory
   */
  public record Job(String dataset, String clip, String lm, String outDir) {
    /** Checks that every field is there. */
    public Job {
      Objects.requireNonNull(dataset, "dataset");
      Objects.requireNonNull(clip, "clip");
      Objects.requireNonNull(lm, "lm");
      Objects.requireNonNull(outDir, "outDir");
    }
  }

  /**
   * The checked plan of a job.
   *
   * @param request what the workers train
   * @param lmConfig the language model's architecture
   * @param prompts k
   */
  public record Plan(LimberTrainer.Request request, LmConfig lmConfig, int prompts) {}

  private LimberTraining() {}

  /**
   * Resolves and checks the frozen parts and the settings before anything heavy runs: that {@code --clip} is a CLIP
   * checkpoint and {@code --lm} a language-model checkpoint, and that k prompts and a caption token fit the
   * language model's context.
   *
   * @throws IllegalArgumentException naming the input or setting at fault
   */
  public static Plan plan(Job job, LimberOptions options, Configuration conf) {
    FrozenCheckpoint clip = FrozenCheckpoint.of("--clip", job.clip(), CheckpointKind.CLIP, conf);
    FrozenCheckpoint lm = FrozenCheckpoint.of("--lm", job.lm(), CheckpointKind.GPT2, conf);
    String lmConf = FrozenCheckpoint.modelConf(lm.directory(), conf);
    LmConfig lmConfig = LmConfigs.parse(FrozenCheckpoint.modelName(lm.directory(), conf), ConfigFactory.parseString(lmConf),
        new Path(lm.directory(), Checkpoints.MODEL_CONF).toString());
    int positions = options.features() == FeatureMode.GRID
        ? ImageEncoder.cached(clip.directory(), FeatureMode.GRID, conf).positions() : 1;
    int k = LimberTrainer.prompts(options, positions, lmConfig.nCtx());
    return new Plan(new LimberTrainer.Request(job.outDir(), clip, lm), lmConfig, k);
  }

  /**
   * Runs the job: features, then training.
   *
   * @param workers 1 trains in this process; K > 1 in one barrier stage of K tasks
   * @param timeout how long a worker waits for a peer
   * @param progress receives progress lines
   */
  public static TrainSummary run(SparkSession spark, Job job, LimberOptions options, int workers, Duration timeout,
      Consumer<String> progress) {
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train LiMBeR with --workers " + workers + ": must be at least 1");
    }
    options.shareOf(workers);
    var sc = spark.sparkContext();
    if (workers > 1) {
      BarrierStage.checkSlots("train LiMBeR", workers, sc.defaultParallelism(), sc.getConf(), sc.isLocal(),
          sc.getExecutorMemoryStatus().size() - 1);
    }
    HadoopConf conf = HadoopConf.from(spark);
    Plan plan = plan(job, options, conf.get());
    // A run that will resume must resume with the same frozen parts, mode and k: check before the features, which
    // another CLIP checkpoint or mode would compute again over the ones the checkpoints were trained on.
    LimberCheckpoints.loadLatest(job.outDir(), conf.get()).ifPresent(saved -> saved.identity().requireSameFrozenParts(
        new LimberCheckpoints.Identity(plan.request().clip(), plan.request().lm(), options.features(), plan.prompts(),
            saved.identity().inputWidth(), plan.lmConfig().nEmbd()), saved.directory()));
    long started = System.nanoTime();
    FeatureStore.Result features = FeatureStore.compute(spark, job.dataset(), plan.request().clip(),
        options.features(), options.featureBatchSize(), job.outDir());
    FeatureStore.Info info = features.info();
    progress.accept(String.format(Locale.ROOT, "%s the %s features of %,d images (%d x %d floats each%s) in %s%s",
        features.reused() ? "Reusing" : "Computed", info.mode().spelling(), info.rows(), info.positions(),
        info.width(), info.skipped() > 0 ? ", " + info.skipped() + " images skipped: they do not decode" : "",
        new Path(job.outDir(), FeatureStore.DIR),
        features.reused() ? "" : String.format(Locale.ROOT, " (%.1f s)", (System.nanoTime() - started) / 1e9)));
    LimberTrainer.checkPlan(info, options, workers);
    if (workers == 1) {
      return LimberTrainer.run(plan.request(), options, conf.get(), progress, null, () -> false);
    }
    var follow = new BarrierStage.Follow(job.outDir(), LimberTrainer.METRICS_FILE, LimberTrainer::progressLine,
        conf.get());
    return BarrierStage.run(spark, "train LiMBeR", LimberTraining.class, new Work(plan.request(), options, conf),
        workers, timeout, progress, follow, TrainSummary.class);
  }

  /** One LiMBeR training worker. */
  private record Work(LimberTrainer.Request request, LimberOptions options, HadoopConf conf)
      implements BarrierWork<TrainSummary> {
    private static final long serialVersionUID = 1L;

    @Override
    public TrainSummary run(Worker worker) {
      LimberOptions effective = worker.stageAttempt() == 0 ? options : options.withoutTestHooks();
      return LimberTrainer.run(request, effective, conf.get(), worker.progress(), worker.collective(),
          worker.interrupted());
    }
  }
}
