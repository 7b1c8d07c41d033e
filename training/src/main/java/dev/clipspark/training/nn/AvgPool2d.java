package dev.clipspark.training.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Average pooling over non-overlapping square windows of NCHW images, PyTorch's
 * {@code nn.AvgPool2d(k)} (stride {@code k}, no padding; a remainder that does not fill a window is
 * dropped): input {@code [batch, c, h, w]}, output {@code [batch, c, h / k, w / k]}. No parameters.
 * Runs libnd4j's {@code avgpool2d} and {@code avgpool2d_bp}, which spread each output gradient evenly
 * ({@code 1 / k^2}) over its window.
 */
public final class AvgPool2d implements Layer {

  private final int kernel;
  private INDArray input;

  /**
   * Pooling over {@code kernel x kernel} windows with stride {@code kernel}.
   *
   * @param kernel window side, at least 1
   */
  public AvgPool2d(int kernel) {
    if (kernel < 1) {
      throw new IllegalArgumentException("Cannot build average pooling with kernel " + kernel + ": must be at least 1");
    }
    this.kernel = kernel;
  }

  /** The window side (and stride). */
  public int kernel() {
    return kernel;
  }

  @Override
  public INDArray forward(INDArray x) {
    if (x.rank() != 4 || x.size(2) < kernel || x.size(3) < kernel) {
      throw new IllegalArgumentException(String.format(
          "Cannot apply %dx%d average pooling to input of shape %s: expected [batch, c, h, w] with h, w >= %d",
          kernel, kernel, Arrays.toString(x.shape()), kernel));
    }
    input = Conv2d.contiguous(x);
    INDArray out = Nd4j.createUninitialized(x.dataType(), x.size(0), x.size(1), x.size(2) / kernel, x.size(3) / kernel);
    Nd4j.exec(DynamicCustomOp.builder("avgpool2d").addInputs(input).addOutputs(out).addIntegerArguments(args()).build());
    return out;
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (input == null) {
      throw new IllegalStateException("Cannot run backward through average pooling: no forward pass");
    }
    long[] expected = {input.size(0), input.size(1), input.size(2) / kernel, input.size(3) / kernel};
    if (!Arrays.equals(gradOutput.shape(), expected)) {
      throw new IllegalArgumentException(String.format("Cannot run backward through average pooling: gradient of"
          + " shape %s, expected %s", Arrays.toString(gradOutput.shape()), Arrays.toString(expected)));
    }
    INDArray dx = Nd4j.createUninitialized(input.dataType(), input.shape());
    Nd4j.exec(DynamicCustomOp.builder("avgpool2d_bp").addInputs(input, Conv2d.contiguous(gradOutput)).addOutputs(dx)
        .addIntegerArguments(args()).build());
    input = null;
    return dx;
  }

  /** kH, kW, sH, sW, pH, pW, dH, dW, same mode, divisor mode (include padding), NHWC. */
  private int[] args() {
    return new int[] {kernel, kernel, kernel, kernel, 0, 0, 1, 1, 0, 0, 0};
  }
}
