package dev.clipspark.training.trainer;

import dev.clipspark.dataset.source.HadoopConf;
import java.time.Duration;
import java.util.function.Consumer;
import org.apache.spark.sql.SparkSession;

/**
 * Runs {@link LmTrainer} as one Spark barrier stage of K tasks ({@link BarrierStage}): each task trains on its share
 * of every global batch and the gradients meet in one all-reduce per step. Before the stage starts, the driver checks
 * the task slots, that the batch divides among the workers, that the texts hold a global batch and that the schedule
 * fits ({@link LmTrainer#checkPlan}). The {@code train.debug.*} test hooks act in the stage's first attempt only; a
 * re-run stage resumes every task from the newest checkpoint.
 */
public final class SparkLmTrainer {

  private SparkLmTrainer() {}

  /**
   * Trains with {@code workers} barrier tasks and returns rank 0's summary; progress lines reach {@code progress}
   * (rank 0's own in local mode, else those of {@code OUT/metrics.jsonl}, which the driver follows).
   *
   * @param timeout how long a worker waits for a peer before failing
   */
  public static TrainSummary run(SparkSession spark, LmTrainer.Request request, TrainOptions options, int workers,
      Duration timeout, Consumer<String> progress) {
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train the language model with --workers " + workers
          + ": must be at least 1");
    }
    options.shareOf(workers);
    var sc = spark.sparkContext();
    BarrierStage.checkSlots("train the language model", workers, sc.defaultParallelism(), sc.getConf(), sc.isLocal(),
        sc.getExecutorMemoryStatus().size() - 1);
    HadoopConf conf = HadoopConf.from(spark);
    LmTrainer.checkPlan(request, options, conf.get(), workers);
    var follow = new BarrierStage.Follow(request.outDir(), LmTrainer.METRICS_FILE, LmTrainer::progressLine,
        conf.get());
    return BarrierStage.run(spark, "train the language model", SparkLmTrainer.class,
        new Work(request, options, conf), workers, timeout, progress, follow, TrainSummary.class);
  }

  /** One language-model training worker. */
  private record Work(LmTrainer.Request request, TrainOptions options, HadoopConf conf)
      implements BarrierWork<TrainSummary> {
    private static final long serialVersionUID = 1L;

    @Override
    public TrainSummary run(Worker worker) {
      TrainOptions effective = worker.stageAttempt() == 0 ? options : options.withoutTestHooks();
      return LmTrainer.run(request, effective, conf.get(), worker.progress(), worker.collective(),
          worker.interrupted());
    }
  }
}
