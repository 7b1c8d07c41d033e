package dev.clipspark.training.trainer;

import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelFlops;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import java.util.Random;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The speed of a training step against the speed of the machine: samples per second of whole steps
 * (forward, loss, backward, AdamW update, logit-scale clamp) on synthetic inputs, and model FLOP
 * utilisation, the step's matrix-product FLOPs ({@link ModelFlops}) per second divided by the single-precision
 * GEMM rate the same process measures ({@code Nd4j.gemm} of 4096x512 by 512x4096 into a preallocated output).
 * Data loading is not part of it (see {@code TrainingData} for decode throughput).
 */
public final class TrainBenchmark {

  /**
   * Figures of one benchmark.
   *
   * @param model model name
   * @param batch samples per step
   * @param microBatch samples embedded at once
   * @param threads ND4J threads in effect
   * @param parameters parameter elements
   * @param steps timed steps
   * @param stepSeconds mean seconds of a whole step
   * @param gradientSeconds mean seconds of the forward, loss and backward part
   * @param samplesPerSecond batch / stepSeconds
   * @param flopsPerStep matrix-product FLOPs of one step (recomputation under gradient caching not counted)
   * @param achievedGflops flopsPerStep / stepSeconds, in GFLOP/s
   * @param gemmGflops the measured GEMM rate, GFLOP/s
   * @param mfu achievedGflops / gemmGflops
   * @param firstLoss loss of the first (untimed) step, a sanity check: about ln(batch) at initialisation
   */
  public record Result(String model, int batch, int microBatch, int threads, long parameters, int steps,
      double stepSeconds, double gradientSeconds, double samplesPerSecond, double flopsPerStep,
      double achievedGflops, double gemmGflops, double mfu, double firstLoss) {}

  private TrainBenchmark() {}

  /**
   * Runs {@code warmup} untimed and {@code steps} timed steps.
   *
   * @param threads ND4J threads (0: ND4J's default)
   */
  public static Result run(ModelConfig config, int batch, int microBatch, int steps, int warmup, int threads,
      long seed) {
    if (batch < 2 || steps < 1 || warmup < 0 || microBatch < 1 || batch % microBatch != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot benchmark with batch %d, micro-batch %d, %d steps, %d warm-up steps: need batch >= 2, a micro-batch"
              + " dividing it, and at least 1 step", batch, microBatch, steps, warmup));
    }
    Backends.check();
    Backends.setThreads(threads);
    ParameterSet params = ClipParameters.initialize(config, seed, DataType.FLOAT);
    ClipModel model = ClipModel.create(config, params);
    model.setTraining(true);
    Set<String> decayed = AdamW.decayedNames(ClipParameters.specs(config));
    var optimizer = new AdamW(params, decayed, TrainOptions.BETA1_DEFAULT, TrainOptions.BETA2_DEFAULT,
        TrainOptions.EPS_DEFAULT, TrainOptions.WEIGHT_DECAY_DEFAULT);
    var step = new TrainStep(model, microBatch);
    var random = new Random(seed);
    int side = config.vision().imageSize();
    INDArray images = Nd4j.randn(seed, new long[] {batch, 3, side, side}).castTo(DataType.FLOAT);
    INDArray tokens = syntheticTokens(random, batch, config.text().contextLength(), config.text().vocabSize());

    double firstLoss = Double.NaN;
    for (int i = 0; i < warmup; i++) {
      double loss = step.run(images, tokens).loss();
      firstLoss = Double.isNaN(firstLoss) ? loss : firstLoss;
      optimizer.step(1e-5);
      model.clampLogitScale();
    }
    long gradientNanos = 0;
    long started = System.nanoTime();
    for (int i = 0; i < steps; i++) {
      long t0 = System.nanoTime();
      double loss = step.run(images, tokens).loss();
      gradientNanos += System.nanoTime() - t0;
      firstLoss = Double.isNaN(firstLoss) ? loss : firstLoss;
      optimizer.step(1e-5);
      model.clampLogitScale();
    }
    double stepSeconds = (System.nanoTime() - started) / 1e9 / steps;
    double flops = ModelFlops.trainingPerSample(config) * batch + ModelFlops.loss(config, batch);
    double gemm = gemmGflops(threads);
    double achieved = flops / stepSeconds / 1e9;
    return new Result(config.name(), batch, microBatch, Nd4j.getEnvironment().maxMasterThreads(),
        params.elementCount(), steps, stepSeconds, gradientNanos / 1e9 / steps, batch / stepSeconds, flops, achieved,
        gemm, achieved / gemm, firstLoss);
  }

  /**
   * The single-precision GEMM rate in GFLOP/s: the best of several {@code Nd4j.gemm} calls of 4096x512 by
   * 512x4096 into a preallocated output after a warm-up.
   */
  public static double gemmGflops(int threads) {
    Backends.setThreads(threads);
    INDArray a = Nd4j.rand(DataType.FLOAT, 4096, 512);
    INDArray b = Nd4j.rand(DataType.FLOAT, 512, 4096);
    INDArray c = Nd4j.createUninitialized(DataType.FLOAT, 4096, 4096);
    double flops = 2.0 * 4096 * 512 * 4096;
    double best = 0;
    for (int i = 0; i < 8; i++) {
      long t0 = System.nanoTime();
      Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
      double rate = flops / ((System.nanoTime() - t0) / 1e9) / 1e9;
      if (i >= 2) {
        best = Math.max(best, rate);
      }
    }
    return best;
  }

  /** Token rows like a tokenizer's: start token, random ids, the end token (the largest id) at a random place. */
  static INDArray syntheticTokens(Random random, int batch, int context, int vocab) {
    int[][] ids = new int[batch][context];
    int eot = vocab - 1;
    for (int[] row : ids) {
      int end = 2 + random.nextInt(Math.max(1, context - 2));
      row[0] = vocab - 2;
      for (int j = 1; j < end; j++) {
        row[j] = random.nextInt(vocab - 2);
      }
      row[Math.min(end, context - 1)] = eot;
    }
    return Nd4j.createFromArray(ids);
  }
}
