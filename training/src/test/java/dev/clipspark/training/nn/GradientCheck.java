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
    INDArray x = input.dup('c');
    INDArray upstream = NnFixtures.normal(new Random(seed), 0, 1, layer.forward(x.dup()).shape());
    params.zeroGradients();
    INDArray analyticInput = layer.backward(upstream.dup()).dup();

    var failures = new ArrayList<String>();
    double[] worst = {0, 0};
    String[] worstName = {""};
    int checked = 0;
    checked += compare("input", x, analyticInput, layer, upstream, x, relativeTolerance, absoluteTolerance,
        failures, worst, worstName);
    for (String name : params.names()) {
      INDArray analytic = params.gradient(name).dup();
      checked += compare(name, params.value(name), analytic, layer, upstream, x, relativeTolerance,
          absoluteTolerance, failures, worst, worstName);
    }
    assertThat(failures).as("gradient mismatches (first 10)").isEmpty();
    var result = new Result(worst[0], worst[1], worstName[0], checked);
    System.out.println("gradient check " + layer.getClass().getSimpleName() + ": " + result);
    return result;
  }

  private static int compare(String name, INDArray perturbed, INDArray analytic, Layer layer, INDArray upstream,
      INDArray x, double rel, double abs, List<String> failures, double[] worst, String[] worstName) {
    INDArray flat = perturbed.reshape('c', new long[] {perturbed.length()});
    INDArray analyticFlat = analytic.reshape('c', new long[] {analytic.length()});
    assertThat(analytic.shape()).as(name).containsExactly(perturbed.shape());
    for (long i = 0; i < flat.length(); i++) {
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
    return (int) flat.length();
  }

  private static double loss(Layer layer, INDArray x, INDArray upstream) {
    return layer.forward(x.dup()).mul(upstream).sumNumber().doubleValue();
  }
}
