package dev.clipspark.training.trainer;

import dev.clipspark.dataset.source.HadoopConf;
import java.time.Duration;
import java.util.function.Consumer;
import org.apache.spark.sql.SparkSession;

/**
 * Runs {@link Trainer} as one {@link BarrierStage} of K tasks, one per worker. Each new stage attempt (Spark re-runs
 * the stage after a lost task) resumes every task from the newest complete checkpoint, so a lost executor costs at
 * most {@code train.checkpoint-every} steps. The {@code train.debug.*} test hooks act in the first attempt only. The
 * driver checks before starting that K task slots exist (cores and, when configured, GPUs) and that the batch
 * divides among the workers.
 */
public final class SparkBarrierTrainer {

  /** How long a worker waits for a peer before its task fails. */
  public static final String TIMEOUT = "train.collective-timeout";
  /** Default of {@link #TIMEOUT}. */
  public static final Duration TIMEOUT_DEFAULT = Duration.ofMinutes(5);

  private SparkBarrierTrainer() {}

  /** Reads and checks {@value #TIMEOUT} (1 second to 1 day). */
  public static Duration timeout(dev.clipspark.dataset.config.Settings settings) {
    return settings.durationIn(TIMEOUT, Duration.ofSeconds(1), Duration.ofDays(1));
  }

  /**
   * Trains with {@code workers} barrier tasks and returns rank 0's summary. While the job runs on a cluster, the
   * driver follows {@code OUT/metrics.jsonl} (which rank 0 writes) and passes each new record's progress line to
   * {@code progress}; in local mode rank 0 passes its lines directly.
   *
   * @param timeout how long a worker waits for a peer before failing
   */
  public static TrainSummary run(SparkSession spark, Trainer.Request request, TrainOptions options, int workers,
      Duration timeout, Consumer<String> progress) {
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train with --workers " + workers + ": must be at least 1");
    }
    options.shareOf(workers);
    var sc = spark.sparkContext();
    BarrierStage.checkSlots("train", workers, sc.defaultParallelism(), sc.getConf(), sc.isLocal(),
        sc.getExecutorMemoryStatus().size() - 1);
    HadoopConf conf = HadoopConf.from(spark);
    Trainer.checkPlan(request, options, conf.get(), workers);
    var follow = new BarrierStage.Follow(request.outDir(), Trainer.METRICS_FILE, Trainer::progressLine, conf.get());
    return BarrierStage.run(spark, "train", SparkBarrierTrainer.class, new Work(request, options, conf), workers,
        timeout, progress, follow, TrainSummary.class);
  }

  /** Checks that {@code workers} barrier tasks fit at once; see {@link BarrierStage#checkSlots}. */
  static void checkSlots(int workers, int cores, org.apache.spark.SparkConf conf, boolean local, int executors) {
    BarrierStage.checkSlots("train", workers, cores, conf, local, executors);
  }

  /** One CLIP training worker. */
  private record Work(Trainer.Request request, TrainOptions options, HadoopConf conf)
      implements BarrierWork<TrainSummary> {
    private static final long serialVersionUID = 1L;

    @Override
    public TrainSummary run(Worker worker) {
      TrainOptions effective = worker.stageAttempt() == 0 ? options : options.withoutTestHooks();
      return Trainer.run(request, effective, conf.get(), worker.progress(), worker.collective(),
          worker.interrupted());
    }
  }
}
