package dev.clipspark.training.optim;

import dev.clipspark.training.device.HostMemory;
import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.nn.ParameterSet;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Adam with decoupled weight decay, exactly as PyTorch's {@code torch.optim.AdamW} (without amsgrad), the
 * optimiser of the CLIP paper. One {@link #step(double)} at step count {@code t} (1 for the first step)
 * does, for every parameter {@code p} with gradient {@code g}:
 * <pre>
 *   p = p * (1 - lr * weightDecay)                      (decayed parameters only)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * The moments start at zero and have each parameter's shape and data type; FLOAT parameters are updated
 * in float arithmetic as PyTorch does, DOUBLE ones in double.
 *
 * <p>Speed: the update is one fused pass in plain Java over the native memory of the parameter, its
 * gradient and both moments (reading four arrays, writing three), on the calling thread. For ViT-B/32's
 * 151M float parameters a step took 0.31 to 0.45 s on one core of the shared 2-core development machine
 * (the range is the machine's load; OpenMP threads play no part). libnd4j's fused {@code adam_updater} op
 * followed by an {@code axpy} for the parameter took 1.17 s on one OpenMP thread and 0.65 s on two.
 *
 * <p>Parameters, gradients and moments must be C-contiguous (views into a larger flat buffer are fine).
 * Not thread-safe.
 */
public final class AdamW {

  /** The CLIP paper's beta1. */
  public static final double BETA1_DEFAULT = 0.9;
  /** The CLIP paper's beta2 (0.98, lower than Adam's usual 0.999, for stability with large batches). */
  public static final double BETA2_DEFAULT = 0.98;
  /** The CLIP paper's epsilon for ViT models. */
  public static final double EPS_DEFAULT = 1e-6;
  /** The CLIP paper's decoupled weight decay. */
  public static final double WEIGHT_DECAY_DEFAULT = 0.2;

  private final ParameterSet params;
  private final List<String> names;
  private final Set<String> decayed;
  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final Map<String, INDArray> firstMoments = new LinkedHashMap<>();
  private final Map<String, INDArray> secondMoments = new LinkedHashMap<>();
  private long stepCount;

  /**
   * An optimiser over every parameter of {@code params}, with zero moments and step count 0.
   *
   * @param params      the parameters and their gradient accumulators (live arrays, updated in place)
   * @param decayed     names of the parameters that weight decay applies to (see {@link #decayedNames})
   * @param beta1       decay of the first moment, in [0, 1)
   * @param beta2       decay of the second moment, in [0, 1)
   * @param eps         added to the denominator, finite and at least 0
   * @param weightDecay decoupled weight decay coefficient, finite and at least 0
   * @throws IllegalArgumentException for an out-of-range hyper-parameter, a decayed name that is not a
   *     parameter, or a parameter or gradient that is not a C-contiguous FLOAT or DOUBLE array
   */
  public AdamW(ParameterSet params, Set<String> decayed, double beta1, double beta2, double eps, double weightDecay) {
    this(params, params.names(), decayed, beta1, beta2, eps, weightDecay);
  }

  /**
   * An optimiser over the parameters {@code names} of {@code params} only (in that order), with zero moments and
   * step count 0: the others are frozen, neither updated nor decayed, and have no moments (locked-image tuning).
   *
   * @param names the optimised parameters, each in {@code params}; {@code decayed} must be among them
   * @throws IllegalArgumentException as the constructor over every parameter, and for a name not in the set
   */
  public AdamW(ParameterSet params, List<String> names, Set<String> decayed, double beta1, double beta2, double eps,
      double weightDecay) {
    this.params = params;
    for (String name : names) {
      if (!params.contains(name)) {
        throw new IllegalArgumentException(String.format(
            "Cannot optimise parameter %s: not among the %d parameters of the set", name, params.names().size()));
      }
    }
    this.names = List.copyOf(names);
    this.beta1 = unitInterval("beta1", beta1);
    this.beta2 = unitInterval("beta2", beta2);
    this.eps = nonNegative("eps", eps);
    this.weightDecay = nonNegative("weight decay", weightDecay);
    for (String name : decayed) {
      if (!params.contains(name)) {
        throw new IllegalArgumentException(String.format(
            "Cannot decay parameter %s: not among the %d parameters of the set", name, params.names().size()));
      }
      if (!this.names.contains(name)) {
        throw new IllegalArgumentException(String.format(
            "Cannot decay parameter %s: it is frozen (not among the %d optimised parameters)", name, this.names.size()));
      }
    }
    this.decayed = Collections.unmodifiableSet(new LinkedHashSet<>(decayed));
    for (String name : names) {
      INDArray p = params.value(name);
      INDArray g = params.gradient(name);
      NativeArrays.requireUsable(p, "parameter " + name);
      NativeArrays.requireUsable(g, "the gradient of " + name);
      if (g.dataType() != p.dataType() || !Arrays.equals(g.shape(), p.shape())) {
        throw new IllegalArgumentException(String.format(
            "Cannot optimise parameter %s: its gradient is %s %s but the parameter is %s %s", name,
            g.dataType(), Arrays.toString(g.shape()), p.dataType(), Arrays.toString(p.shape())));
      }
      firstMoments.put(name, Nd4j.zeros(p.dataType(), p.shape()));
      secondMoments.put(name, Nd4j.zeros(p.dataType(), p.shape()));
    }
  }

  /** An optimiser with the CLIP paper's defaults ({@code BETA1_DEFAULT} and so on). */
  public AdamW(ParameterSet params, Set<String> decayed) {
    this(params, decayed, BETA1_DEFAULT, BETA2_DEFAULT, EPS_DEFAULT, WEIGHT_DECAY_DEFAULT);
  }

  /**
   * Names of the parameters that weight decay applies to: those whose {@link ParameterSpec#weightDecay()}
   * holds (matrices and convolution kernels; not gains, biases, embeddings or the logit scale).
   */
  public static Set<String> decayedNames(List<ParameterSpec> specs) {
    var out = new LinkedHashSet<String>();
    for (ParameterSpec spec : specs) {
      if (spec.weightDecay()) {
        out.add(spec.name());
      }
    }
    return Collections.unmodifiableSet(out);
  }

  /**
   * Applies one AdamW step with learning rate {@code learningRate} to every parameter from its gradient
   * accumulator (see the class comment) and increments the step count. Gradients are only read.
   *
   * @throws IllegalArgumentException if the learning rate is negative, NaN or infinite
   */
  public void step(double learningRate) {
    if (!(learningRate >= 0) || Double.isInfinite(learningRate)) {
      throw new IllegalArgumentException(
          "Cannot take an AdamW step with learning rate " + learningRate + ": must be finite and at least 0");
    }
    long t = stepCount + 1;
    double stepSize = learningRate / (1 - Math.pow(beta1, t));
    double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, t));
    for (String name : names) {
      double keep = decayed.contains(name) ? 1 - learningRate * weightDecay : 1;
      INDArray p = params.value(name);
      try (var pv = HostMemory.readWrite(p); var gv = HostMemory.read(params.gradient(name));
          var mv = HostMemory.readWrite(firstMoments.get(name));
          var vv = HostMemory.readWrite(secondMoments.get(name))) {
        if (p.dataType() == DataType.FLOAT) {
          updateFloat(pv.floats(), gv.floats(), mv.floats(), vv.floats(), (float) keep, (float) stepSize,
              (float) bc2Sqrt);
        } else {
          updateDouble(pv.doubles(), gv.doubles(), mv.doubles(), vv.doubles(), keep, stepSize, bc2Sqrt);
        }
      }
    }
    stepCount = t;
  }

  private void updateFloat(FloatBuffer p, FloatBuffer g, FloatBuffer m, FloatBuffer v, float keep, float stepSize,
      float bc2Sqrt) {
    float b1 = (float) beta1;
    float b2 = (float) beta2;
    float c1 = (float) (1 - beta1);
    float c2 = (float) (1 - beta2);
    float e = (float) eps;
    for (int i = 0, n = p.limit(); i < n; i++) {
      float gi = g.get(i);
      float mi = b1 * m.get(i) + c1 * gi;
      float vi = b2 * v.get(i) + c2 * gi * gi;
      m.put(i, mi);
      v.put(i, vi);
      p.put(i, p.get(i) * keep - stepSize * (mi / ((float) Math.sqrt(vi) / bc2Sqrt + e)));
    }
  }

  private void updateDouble(DoubleBuffer p, DoubleBuffer g, DoubleBuffer m, DoubleBuffer v, double keep,
      double stepSize, double bc2Sqrt) {
    double c1 = 1 - beta1;
    double c2 = 1 - beta2;
    for (int i = 0, n = p.limit(); i < n; i++) {
      double gi = g.get(i);
      double mi = beta1 * m.get(i) + c1 * gi;
      double vi = beta2 * v.get(i) + c2 * gi * gi;
      m.put(i, mi);
      v.put(i, vi);
      p.put(i, p.get(i) * keep - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + eps)));
    }
  }

  /** Steps taken so far (restored by {@link #restore}); the next step's bias correction uses this plus one. */
  public long stepCount() {
    return stepCount;
  }

  /** Names of the optimised parameters, in the parameter set's order. */
  public List<String> names() {
    return names;
  }

  /** Names of the weight-decayed parameters. */
  public Set<String> decayed() {
    return decayed;
  }

  /** The first moment (running mean of gradients) of a parameter: the live array, for checkpoints. */
  public INDArray firstMoment(String name) {
    return moment(firstMoments, name);
  }

  /** The second moment (running mean of squared gradients) of a parameter: the live array, for checkpoints. */
  public INDArray secondMoment(String name) {
    return moment(secondMoments, name);
  }

  /**
   * Replaces the state with a checkpoint's: the step count and both moments of every parameter, copied
   * (and cast to the parameter's data type if they differ).
   *
   * @throws IllegalArgumentException if the step count is negative, a parameter's moment is missing, a
   *     moment names no parameter, or a shape differs; the state is unchanged then
   */
  public void restore(long stepCount, Map<String, INDArray> firstMoments, Map<String, INDArray> secondMoments) {
    if (stepCount < 0) {
      throw new IllegalArgumentException("Cannot restore AdamW at step count " + stepCount + ": must be at least 0");
    }
    checkMoments("first", firstMoments);
    checkMoments("second", secondMoments);
    for (String name : names) {
      copyInto(this.firstMoments.get(name), firstMoments.get(name));
      copyInto(this.secondMoments.get(name), secondMoments.get(name));
    }
    this.stepCount = stepCount;
  }

  private void checkMoments(String which, Map<String, INDArray> moments) {
    var missing = new TreeSet<String>();
    for (String name : names) {
      INDArray m = moments.get(name);
      if (m == null) {
        missing.add(name);
      } else if (!Arrays.equals(m.shape(), params.value(name).shape())) {
        throw new IllegalArgumentException(String.format(
            "Cannot restore the %s moment of %s: its shape is %s but the parameter's is %s", which, name,
            Arrays.toString(m.shape()), Arrays.toString(params.value(name).shape())));
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(String.format(
          "Cannot restore AdamW: the %s moments lack %d of the %d parameters, e.g. %s", which, missing.size(),
          names.size(), missing.first()));
    }
    for (String name : moments.keySet()) {
      if (!params.contains(name)) {
        throw new IllegalArgumentException(String.format(
            "Cannot restore the %s moment of %s: not among the %d parameters of the set", which, name, names.size()));
      }
    }
  }

  private static void copyInto(INDArray target, INDArray source) {
    target.assign(source.dataType() == target.dataType() ? source : source.castTo(target.dataType()));
  }

  private INDArray moment(Map<String, INDArray> moments, String name) {
    INDArray m = moments.get(name);
    if (m == null) {
      throw new IllegalArgumentException(String.format(
          "Cannot find the moment of parameter %s: not among the %d parameters of this optimiser", name, names.size()));
    }
    return m;
  }

  private static double unitInterval(String what, double value) {
    if (!(value >= 0 && value < 1)) {
      throw new IllegalArgumentException("Cannot set AdamW " + what + " to " + value + ": must be in [0, 1)");
    }
    return value;
  }

  private static double nonNegative(String what, double value) {
    if (!(value >= 0) || Double.isInfinite(value)) {
      throw new IllegalArgumentException(
          "Cannot set AdamW " + what + " to " + value + ": must be finite and at least 0");
    }
    return value;
  }
}
