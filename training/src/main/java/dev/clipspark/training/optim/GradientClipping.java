package dev.clipspark.training.optim;

import dev.clipspark.training.nn.ParameterSet;

/**
 * Gradient clipping by global norm, as PyTorch's {@code torch.nn.utils.clip_grad_norm_} with the L2 norm:
 * the norm of all gradients together is {@code sqrt(sum over every gradient element of g^2)}; when
 * {@code maxNorm / (norm + 1e-6) < 1}, every gradient is multiplied by that factor.
 */
public final class GradientClipping {

  /** Added to the norm before dividing, as PyTorch does. */
  public static final double EPS = 1e-6;

  private GradientClipping() {}

  /**
   * The L2 norm of all gradient accumulators of {@code params} together, accumulated in double precision
   * (ND4J's own {@code norm2} of a FLOAT array accumulates in float and is off by about 0.1% on a tensor of
   * 2.4M elements). About 0.3 s for ViT-B/32's 151M float gradients on one core.
   */
  public static double globalNorm(ParameterSet params) {
    double sum = 0;
    for (String name : params.names()) {
      sum += NativeArrays.sumOfSquares(params.gradient(name));
    }
    return Math.sqrt(sum);
  }

  /**
   * Scales every gradient of {@code params} in place by {@code maxNorm / (norm + 1e-6)} when that is below 1,
   * and returns the norm before clipping. A {@code maxNorm} of 0 or less, or infinite, disables clipping
   * (the norm is still computed and returned). An infinite norm scales the gradients by 0 and a NaN norm
   * leaves them alone; either way the norm returned is not finite, so the caller can skip the step.
   *
   * @throws IllegalArgumentException if {@code maxNorm} is NaN
   */
  public static double clipByGlobalNorm(ParameterSet params, double maxNorm) {
    if (Double.isNaN(maxNorm)) {
      throw new IllegalArgumentException(
          "Cannot clip gradients to a global norm of NaN: give a number (0 or less, or infinity, disables clipping)");
    }
    double norm = globalNorm(params);
    if (maxNorm > 0 && !Double.isInfinite(maxNorm)) {
      double coefficient = maxNorm / (norm + EPS);
      if (coefficient < 1) {
        for (String name : params.names()) {
          params.gradient(name).muli(coefficient);
        }
      }
    }
    return norm;
  }
}
