package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * CLIP's activation, {@code y = x * sigmoid(1.702 x)}, element-wise on any shape; no parameters.
 * Its derivative is {@code s + 1.702 x s (1 - s)} with {@code s = sigmoid(1.702 x)}.
 */
public final class QuickGelu implements Layer {

  /** The slope inside the sigmoid. */
  public static final double ALPHA = 1.702;

  private INDArray input;
  private INDArray sigmoid;

  @Override
  public INDArray forward(INDArray x) {
    input = x;
    sigmoid = Transforms.sigmoid(x.mul(ALPHA), false);
    return x.mul(sigmoid);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (sigmoid == null) {
      throw new IllegalStateException("Cannot run backward through QuickGelu: no forward pass");
    }
    // s + alpha * x * s * (1 - s)
    INDArray slope = sigmoid.rsub(1.0).muli(sigmoid).muli(input).muli(ALPHA).addi(sigmoid);
    input = null;
    sigmoid = null;
    return slope.muli(gradOutput);
  }
}
