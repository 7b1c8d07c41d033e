package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * GPT-2's activation, GELU with the tanh approximation (Hugging Face's {@code gelu_new}, PyTorch's
 * {@code gelu(x, approximate="tanh")}), element-wise on any shape; no parameters:
 * <pre>
 *   y = 0.5 x (1 + tanh(u)),   u = sqrt(2 / pi) (x + 0.044715 x^3)
 *   dy/dx = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2)
 * </pre>
 */
public final class GeluTanh implements Layer {

  /** {@code sqrt(2 / pi)}. */
  public static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
  /** The cubic coefficient. */
  public static final double CUBIC = 0.044715;

  private INDArray input;
  private INDArray tanh;

  @Override
  public INDArray forward(INDArray x) {
    input = x;
    // u = sqrt(2/pi) * x * (1 + c x^2)
    INDArray u = x.mul(x).muli(CUBIC).addi(1.0).muli(x).muli(SQRT_2_OVER_PI);
    tanh = Transforms.tanh(u, false);
    return tanh.add(1.0).muli(x).muli(0.5);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (tanh == null) {
      throw new IllegalStateException("Cannot run backward through GeluTanh: no forward pass");
    }
    INDArray x = input;
    // 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3c x^2) + 0.5 (1 + t)
    INDArray inner = x.mul(x).muli(3 * CUBIC).addi(1.0).muli(SQRT_2_OVER_PI);
    INDArray slope = tanh.mul(tanh).rsubi(1.0).muli(inner).muli(x).muli(0.5).addi(tanh.add(1.0).muli(0.5));
    input = null;
    tanh = null;
    return slope.muli(gradOutput);
  }

  /** The value at one point, in double precision: the definition above. */
  public static double apply(double x) {
    return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + CUBIC * x * x * x)));
  }
}
