package dev.clipspark.training.lm;

import dev.clipspark.training.trainer.Backends;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Times caption decoding ({@code clip bench decode}): a freshly initialised GPT-2 of the given architecture reads
 * {@code prompts} random soft prompts per row and writes {@code tokens} tokens greedily, once with the key/value
 * cache ({@link Gpt2Scorer#start}) and once re-running the whole sequence for every token
 * ({@link Gpt2Scorer#startUncached}); both must write the same tokens.
 */
public final class DecodeBenchmark {

  /**
   * The figures.
   *
   * @param model            the architecture's name
   * @param batch            rows decoded together
   * @param prompts          soft prompts per row
   * @param tokens           tokens written per row
   * @param threads          ND4J element-wise threads in effect
   * @param cachedSeconds    best wall time of a cached run
   * @param uncachedSeconds  best wall time of an uncached run
   * @param cachedCpuSeconds    the JVM's CPU time (all threads) in that cached run: on a shared machine the fairer
   *                            comparison, since wall time also counts waiting for a core
   * @param uncachedCpuSeconds  the same for the uncached run
   * @param sameTokens       whether both wrote the same tokens
   */
  public record Result(String model, int batch, int prompts, int tokens, int threads, double cachedSeconds,
      double uncachedSeconds, double cachedCpuSeconds, double uncachedCpuSeconds, boolean sameTokens) {

    /** Tokens per second (all rows) with the cache. */
    public double cachedTokensPerSecond() {
      return batch * (double) tokens / cachedSeconds;
    }

    /** Tokens per second (all rows) without it. */
    public double uncachedTokensPerSecond() {
      return batch * (double) tokens / uncachedSeconds;
    }

    /** How many times faster the cache is (wall time). */
    public double speedup() {
      return uncachedSeconds / cachedSeconds;
    }

    /** How many times less CPU time the cache takes. */
    public double cpuSpeedup() {
      return uncachedCpuSeconds / cachedCpuSeconds;
    }
  }

  private DecodeBenchmark() {}

  /**
   * Runs the benchmark (one untimed warm-up run of each kind, then the best of {@code repeats}).
   *
   * @throws IllegalArgumentException if the prompts and tokens do not fit n_ctx, or a count is below 1
   */
  public static Result run(LmConfig config, int batch, int prompts, int tokens, int repeats, int threads) {
    if (batch < 1 || prompts < 1 || tokens < 1 || repeats < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot time decoding with batch %d, %d prompts,"
          + " %d tokens and %d repeats: all must be at least 1", batch, prompts, tokens, repeats));
    }
    if (prompts + tokens - 1 > config.nCtx()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot time %d prompts and %d tokens with %s:"
          + " they need %d positions, n_ctx is %d", prompts, tokens, config.name(), prompts + tokens - 1,
          config.nCtx()));
    }
    Backends.setThreads(threads);
    Gpt2Model lm = Gpt2Model.initialize(config, 1, DataType.FLOAT);
    var random = new Random(2);
    float[] v = new float[batch * prompts * config.nEmbd()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) random.nextGaussian();
    }
    INDArray prefix = Nd4j.createFromArray(v).reshape('c', batch, prompts, config.nEmbd());
    int[][] cachedTokens = decode(lm, prefix, tokens, true);
    int[][] uncachedTokens = decode(lm, prefix, tokens, false);
    double cached = Double.MAX_VALUE;
    double uncached = Double.MAX_VALUE;
    double cachedCpu = Double.MAX_VALUE;
    double uncachedCpu = Double.MAX_VALUE;
    for (int r = 0; r < repeats; r++) {
      long c0 = cpuNanos();
      long t0 = System.nanoTime();
      decode(lm, prefix, tokens, true);
      long t1 = System.nanoTime();
      long c1 = cpuNanos();
      decode(lm, prefix, tokens, false);
      long t2 = System.nanoTime();
      long c2 = cpuNanos();
      cached = Math.min(cached, (t1 - t0) / 1e9);
      uncached = Math.min(uncached, (t2 - t1) / 1e9);
      cachedCpu = Math.min(cachedCpu, (c1 - c0) / 1e9);
      uncachedCpu = Math.min(uncachedCpu, (c2 - c1) / 1e9);
    }
    return new Result(config.name(), batch, prompts, tokens, Nd4j.getEnvironment().maxThreads(), cached, uncached,
        cachedCpu, uncachedCpu, Arrays.deepEquals(cachedTokens, uncachedTokens));
  }

  /** CPU time of this JVM, all threads (BLAS's included), in nanoseconds. */
  private static long cpuNanos() {
    var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : System.nanoTime();
  }

  /** Greedy tokens, exactly {@code tokens} per row (no stop at the end token, so every run does the same work). */
  private static int[][] decode(Gpt2Model lm, INDArray prefix, int tokens, boolean cached) {
    int batch = (int) prefix.size(0);
    int length = (int) prefix.size(1) + tokens;
    TokenScorer scorer = cached ? Gpt2Scorer.start(lm, prefix, length) : Gpt2Scorer.startUncached(lm, prefix, length);
    int[][] out = new int[batch][tokens];
    for (int step = 0; step < tokens; step++) {
      double[][] logits = scorer.logits();
      int[] next = new int[batch];
      for (int b = 0; b < batch; b++) {
        next[b] = CaptionDecoder.argmax(logits[b]);
        out[b][step] = next[b];
      }
      if (step < tokens - 1) {
        scorer.append(next);
      }
    }
    return out;
  }
}
