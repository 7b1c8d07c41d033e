package dev.clipspark.training.model;

import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.collective.SimulatedPeers;
import java.util.Arrays;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One worker's share of the contrastive loss of a global batch of N pairs of d-dimensional float features
 * spread over K workers, computed by {@link ShardedContrastiveLoss} and by {@link GatherWithGradientLoss} in
 * the same run: rank 0's features are seeded random vectors (texts correlated with their images), the K-1
 * other workers are {@link SimulatedPeers} (seeded random unit vectors; their log-sum-exps and gradient
 * contributions copied from rank 0's), which also count the bytes a ring would move through rank 0. The dense
 * single-process {@link ContrastiveLoss} of the whole batch is run too when N is at most
 * {@link #DENSE_MAX_BATCH}.
 *
 * <p>For each scheme: the median seconds of one call over the timed repetitions (each after a
 * {@code System.gc()}, as the training step does, and after one untimed call that also measures memory); the
 * bytes moved per step; and the working memory beyond the two gathered {@code [N, d]} feature arrays,
 * <b>measured</b> as the bytes ND4J allocates during the call (the call runs inside a workspace that counts
 * every allocation and frees nothing until the call returns, so this is an upper bound on the peak of the
 * loss's live arrays, tight when the loss reuses its buffers), minus the gathered features' bytes; and the
 * analytic figure of the loss class. Not counted either way: libnd4j's and the BLAS library's internal
 * temporaries (a few MiB per thread, independent of N) and Java heap objects.
 */
public final class LossBenchmark {

  /** The largest global batch for which the dense N x N loss is also run and measured. */
  public static final int DENSE_MAX_BATCH = 4096;

  /** CLIP's initial logit scale, 1 / 0.07. */
  static final double LOGIT_SCALE_LOG = Math.log(1 / 0.07);

  private static final WorkspaceConfiguration COUNTING = WorkspaceConfiguration.builder()
      .initialSize(0)
      .policyLearning(LearningPolicy.NONE)
      .policySpill(SpillPolicy.EXTERNAL)
      .policyAllocation(AllocationPolicy.STRICT)
      .build();

  /**
   * The figures of one loss computation.
   *
   * @param seconds                    median seconds of one call
   * @param workingMemoryBytes         measured: bytes ND4J allocated during the call, less the gathered features
   * @param analyticWorkingMemoryBytes the loss class's {@code workingMemoryBytes} for these sizes
   * @param bytesMoved                 payload bytes sent plus received by this worker per step (0 for dense)
   * @param loss                       the loss value (the same for all schemes on the same data)
   */
  public record Scheme(double seconds, long workingMemoryBytes, long analyticWorkingMemoryBytes, long bytesMoved,
      double loss) {}

  /**
   * One run.
   *
   * @param batch                  global batch N
   * @param dim                    feature dimension d
   * @param workers                K
   * @param tile                   the sharded loss's tile width
   * @param reps                   timed repetitions of each scheme
   * @param threads                ND4J element-wise threads in effect (0: ND4J's default)
   * @param sharded                {@link ShardedContrastiveLoss}, rank 0's share
   * @param gatherWithGradient     {@link GatherWithGradientLoss}, rank 0's share
   * @param dense                  {@link ContrastiveLoss} of the whole batch in one process, when N is at most
   *                               {@link #DENSE_MAX_BATCH}
   * @param denseAnalyticBytes     the dense loss's analytic working memory at this N, run or not
   * @param gatheredFeatureBytes   the two gathered {@code [N, d]} arrays, excluded from the working memory
   */
  public record Result(int batch, int dim, int workers, int tile, int reps, int threads, Scheme sharded,
      Scheme gatherWithGradient, Optional<Scheme> dense, long denseAnalyticBytes, long gatheredFeatureBytes) {

    /** Rows per worker, N / K. */
    public int localBatch() {
      return batch / workers;
    }

    /** The sharded loss's bytes moved over gather-with-gradient's. */
    public double bytesMovedRatio() {
      return (double) sharded.bytesMoved() / gatherWithGradient.bytesMoved();
    }
  }

  private LossBenchmark() {}

  /**
   * Runs the benchmark.
   *
   * @param batch   global batch N, a multiple of {@code workers}
   * @param dim     feature dimension d, at least 2
   * @param workers K, at least 1
   * @param tile    the sharded loss's tile width, at least 1
   * @param reps    timed repetitions, at least 1
   * @param threads ND4J element-wise threads, as {@code train.threads} (0: ND4J's default); matrix products
   *                use all cores through the BLAS library either way
   * @param seed    seed of the features
   */
  public static Result run(int batch, int dim, int workers, int tile, int reps, int threads, long seed) {
    if (workers < 1 || batch < workers || batch % workers != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot benchmark the loss of a batch of %d over %d workers: need at least 1 worker and a batch that is a"
              + " positive multiple of the workers", batch, workers));
    }
    if (dim < 2 || tile < 1 || reps < 1 || threads < 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot benchmark the loss with dimension %d, tile %d, %d repetitions and %d threads: need a dimension of"
              + " at least 2, a tile and repetitions of at least 1, and threads of at least 0", dim, tile, reps,
          threads));
    }
    if (threads > 0) {
      Nd4j.getEnvironment().setMaxThreads(threads);
      Nd4j.getEnvironment().setMaxMasterThreads(threads);
    }
    int n = batch / workers;
    int bpv = DataType.FLOAT.width();
    var random = new SplittableRandom(seed);
    INDArray x = gaussian(random, n, dim);
    INDArray y = gaussian(random, n, dim).addi(x);
    long gathered = 2L * batch * dim * bpv;
    try (SimulatedPeers peers = Collectives.simulatedPeers(0, workers, seed + 1)) {
      Supplier<ContrastiveLoss.Result> sharded =
          () -> ShardedContrastiveLoss.compute(x, y, LOGIT_SCALE_LOG, peers, tile);
      Supplier<ContrastiveLoss.Result> gatherWithGradient =
          () -> GatherWithGradientLoss.compute(x, y, LOGIT_SCALE_LOG, peers);
      // The untimed first calls: memory, bytes and loss.
      Measured s = measure(peers, sharded);
      Measured g = measure(peers, gatherWithGradient);
      double[] shardedTimes = new double[reps];
      double[] gatherTimes = new double[reps];
      for (int i = 0; i < reps; i++) {
        shardedTimes[i] = time(peers, sharded);
        gatherTimes[i] = time(peers, gatherWithGradient);
      }
      Optional<Scheme> dense = Optional.empty();
      if (batch <= DENSE_MAX_BATCH) {
        peers.newStep();
        INDArray allX = peers.allGather(x);
        INDArray allY = peers.allGather(y);
        Supplier<ContrastiveLoss.Result> whole = () -> ContrastiveLoss.compute(allX, allY, LOGIT_SCALE_LOG);
        Measured d = measure(null, whole);
        double[] times = new double[reps];
        for (int i = 0; i < reps; i++) {
          times[i] = time(null, whole);
        }
        dense = Optional.of(new Scheme(median(times), d.allocated, ContrastiveLoss.workingMemoryBytes(batch, dim, bpv),
            0, d.loss));
      }
      return new Result(batch, dim, workers, tile, reps, Nd4j.getEnvironment().maxMasterThreads(),
          new Scheme(median(shardedTimes), s.allocated - gathered,
              ShardedContrastiveLoss.workingMemoryBytes(n, workers, dim, tile, bpv), s.bytesMoved, s.loss),
          new Scheme(median(gatherTimes), g.allocated - gathered,
              GatherWithGradientLoss.workingMemoryBytes(n, workers, dim, bpv), g.bytesMoved, g.loss),
          dense, ContrastiveLoss.workingMemoryBytes(batch, dim, bpv), gathered);
    }
  }

  private record Measured(long allocated, long bytesMoved, double loss) {}

  /**
   * Runs {@code loss} once inside a workspace that counts every ND4J allocation (and frees nothing before the
   * end of the call): the bytes allocated, the bytes the peers moved, the loss.
   */
  private static Measured measure(SimulatedPeers peers, Supplier<ContrastiveLoss.Result> loss) {
    if (peers != null) {
      peers.newStep();
    }
    System.gc();
    String id = "clipspark-loss-benchmark-" + Thread.currentThread().getId();
    MemoryWorkspace workspace = Nd4j.getWorkspaceManager().getAndActivateWorkspace(COUNTING, id);
    try {
      double value;
      long allocated;
      try (workspace) {
        value = loss.get().loss();
        allocated = workspace.getThisCycleAllocations();
      }
      return new Measured(allocated, peers == null ? 0 : peers.bytesMoved(), value);
    } finally {
      Nd4j.getWorkspaceManager().destroyWorkspace(workspace);
    }
  }

  private static double time(SimulatedPeers peers, Supplier<ContrastiveLoss.Result> loss) {
    if (peers != null) {
      peers.newStep();
    }
    System.gc();
    long t0 = System.nanoTime();
    loss.get();
    return (System.nanoTime() - t0) / 1e9;
  }

  private static INDArray gaussian(SplittableRandom random, int rows, int cols) {
    float[] v = new float[Math.multiplyExact(rows, cols)];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) random.nextGaussian();
    }
    return Nd4j.createFromArray(v).reshape('c', rows, cols);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
