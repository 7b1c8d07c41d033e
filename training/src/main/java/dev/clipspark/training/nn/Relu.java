package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The rectifier {@code y = max(x, 0)}, element-wise on any shape; no parameters. Its gradient passes
 * where the output is positive (0 at {@code x = 0}, as PyTorch), computed by libnd4j's {@code relu_bp}
 * from the kept output.
 */
public final class Relu implements Layer {

  private INDArray output;

  @Override
  public INDArray forward(INDArray x) {
    output = Transforms.relu(x, true);
    return output;
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (output == null) {
      throw new IllegalStateException("Cannot run backward through Relu: no forward pass");
    }
    INDArray dx = Nd4j.createUninitialized(output.dataType(), output.shape());
    Nd4j.exec(DynamicCustomOp.builder("relu_bp").addInputs(output, Conv2d.contiguous(gradOutput)).addOutputs(dx)
        .addFloatingPointArguments(0.0).build());
    output = null;
    return dx;
  }
}
