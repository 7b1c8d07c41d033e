package dev.clipspark.training.trainer;

import dev.clipspark.training.collective.Collective;
import java.io.Serializable;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The body of one task of a {@link BarrierStage}: what every worker of a data-parallel job runs, given its rank and
 * a ready {@link Collective} to its peers. It is serialised to the executors, so it holds only small, immutable,
 * serialisable values (requests, options, a Hadoop configuration wrapper), never a driver-side object.
 *
 * @param <R> what rank 0 returns to the driver
 */
@FunctionalInterface
public interface BarrierWork<R extends Serializable> extends Serializable {

  /**
   * Runs this worker's share of the job.
   *
   * @return the result; only rank 0's reaches the driver
   */
  R run(Worker worker);

  /**
   * One worker's place in the stage.
   *
   * @param rank         this worker's rank, 0 to {@code size - 1}
   * @param size         the number of workers
   * @param collective   the tensor collective to the other workers (closed by the stage when {@link #run} returns)
   * @param progress     where progress lines go: rank 0's to the driver in local mode, the executor's log otherwise
   * @param interrupted  whether Spark has killed the task (check between steps)
   * @param stageAttempt the Spark stage attempt: 0 for the first, higher when Spark re-runs the stage after a
   *                     failure (test hooks act in attempt 0 only; a later attempt resumes from a checkpoint)
   */
  record Worker(int rank, int size, Collective collective, Consumer<String> progress, BooleanSupplier interrupted,
      int stageAttempt) {}
}
