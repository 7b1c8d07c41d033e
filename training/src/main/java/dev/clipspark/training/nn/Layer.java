package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A differentiable layer: one forward pass, then at most one backward pass over the same activations.
 * See the package documentation for the layout and the gradient-accumulation contract.
 */
public interface Layer {

  /** Computes the output for {@code input} and keeps what {@link #backward} needs. */
  INDArray forward(INDArray input);

  /**
   * Given dLoss/dOutput of the last {@link #forward}, adds the parameter gradients into their
   * accumulators and returns dLoss/dInput (same shape as that input).
   *
   * @throws IllegalStateException if no forward pass preceded it
   */
  INDArray backward(INDArray gradOutput);

  /**
   * Switches between training behaviour (the default: BatchNorm uses batch statistics and updates its
   * running statistics) and evaluation behaviour (BatchNorm uses its running statistics). Layers without
   * such a difference ignore it; composite layers pass it on to their parts.
   */
  default void setTraining(boolean training) {}
}
