package dev.clipspark.training.nn;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A double-precision finite-difference check of a {@link Layer}: with a random upstream gradient G and
 * the scalar loss L(x, params) = sum(forward(x) * G), every element of dL/dx returned by backward and of
 * every accumulated parameter gradient must match the central difference (L(+h) - L(-h)) / 2h.
 */
final class GradientCheck {

  /** Step of the central differences. */
  static final double STEP = 1e-6;

  /** The worst disagreement found. */
  record Result(double maxRelativeError, double maxAbsoluteError, String worst, int checked) {}

  private GradientCheck() {}

  /**
   * Checks every input and parameter element; an element passes if its absolute error is at most
   * {@code absoluteTolerance} or its relative error |a - n| / max(|a|, |n|) at most
   * {@code relativeTolerance}.
   */
  static Result check(Layer layer, ParameterSet params, INDArray input, long seed,
      double relativeTolerance, double absoluteTolerance) {
    assertThat(input.dataType()).isEqualTo(DataType.DOUBLE);
    return check(layer, params, input, true, Integer.MAX_VALUE, seed, relativeTolerance, absoluteTolerance);
  }

  /**
   * As {@link #check}, but compares at most {@code perTensor} elements of the input and of each parameter,
   * a deterministic random subset (all of a tensor that is no larger), to keep large layers fast.
   */
  static Result checkSampled(Layer layer, ParameterSet params, INDArray input, int perTensor, long seed,
      double relativeTolerance, double absoluteTolerance) {
    assertThat(input.dataType()).isEqualTo(DataType.DOUBLE);
    return check(layer, params, input, true, perTensor, seed, relativeTolerance, absoluteTolerance);
  }

  /**
   * As {@link #checkSampled} for a layer whose input has no gradient (integer token ids): only the parameter
   * gradients are compared, and backward must return {@code null}.
   */
  static Result checkParameters(Layer layer, ParameterSet params, INDArray input, int perTensor, long seed,
      double relativeTolerance, double absoluteTolerance) {
    return check(layer, params, input, false, perTensor, seed, relativeTolerance, absoluteTolerance);
  }

  private static Result check(Layer layer, ParameterSet params, INDArray input, boolean inputGradient, int perTensor,
      long seed, double relativeTolerance, double absoluteTolerance) {
    INDArray x = input.dup('c');
    INDArray upstream = NnFixtures.normal(new Random(seed), 0, 1, layer.forward(x.dup()).shape());
    params.zeroGradients();
    INDArray analyticInput = layer.backward(upstream.dup());

    var failures = new ArrayList<String>();
    double[] worst = {0, 0};
    String[] worstName = {""};
    var sampler = new Random(seed + 1);
    int checked = 0;
    if (inputGradient) {
      checked += compare("input", x, analyticInput.dup(), sample(x.length(), perTensor, sampler), layer, upstream, x,
          relativeTolerance, absoluteTolerance, failures, worst, worstName);
    } else {
      assertThat(analyticInput).as("gradient of an input without gradient").isNull();
    }
    for (String name : params.names()) {
      INDArray analytic = params.gradient(name).dup();
      INDArray value = params.value(name);
      checked += compare(name, value, analytic, sample(value.length(), perTensor, sampler), layer, upstream, x,
          relativeTolerance, absoluteTolerance, failures, worst, worstName);
    }
    assertThat(failures).as("gradient mismatches (first 10)").isEmpty();
    var result = new Result(worst[0], worst[1], worstName[0], checked);
    System.out.println("gradient check " + layer.getClass().getSimpleName() + ": " + result);
    return result;
  }

  /** All indices below {@code n}, or {@code count} distinct ones drawn from {@code random}, ascending. */
  private static long[] sample(long n, int count, Random random) {
    if (n <= count) {
      return java.util.stream.LongStream.range(0, n).toArray();
    }
    var chosen = new java.util.TreeSet<Long>();
    while (chosen.size() < count) {
      chosen.add((long) random.nextInt((int) n));
    }
    return chosen.stream().mapToLong(Long::longValue).toArray();
  }

  private static int compare(String name, INDArray perturbed, INDArray analytic, long[] indices, Layer layer,
      INDArray upstream, INDArray x, double rel, double abs, List<String> failures, double[] worst, String[] worstName) {
    INDArray flat = perturbed.reshape('c', new long[] {perturbed.length()});
    INDArray analyticFlat = analytic.reshape('c', new long[] {analytic.length()});
    assertThat(analytic.shape()).as(name).containsExactly(perturbed.shape());
    for (long i : indices) {
      double original = flat.getDouble(i);
      flat.putScalar(i, original + STEP);
      double plus = loss(layer, x, upstream);
      flat.putScalar(i, original - STEP);
      double minus = loss(layer, x, upstream);
      flat.putScalar(i, original);
      double numeric = (plus - minus) / (2 * STEP);
      double a = analyticFlat.getDouble(i);
      double error = Math.abs(a - numeric);
      double relative = error / Math.max(Math.max(Math.abs(a), Math.abs(numeric)), Double.MIN_NORMAL);
      if (error > abs && relative > worst[0]) {
        worst[0] = relative;
        worstName[0] = name + "[" + i + "]";
      }
      worst[1] = Math.max(worst[1], error);
      if (error > abs && relative > rel && failures.size() < 10) {
        failures.add(String.format("%s[%d]: analytic %.12g, numeric %.12g", name, i, a, numeric));
      }
    }
    return indices.length;
  }

  private static double loss(Layer layer, INDArray x, INDArray upstream) {
    return layer.forward(x.dup()).mul(upstream).sumNumber().doubleValue();
  }
}
