package dev.clipspark.training.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A fully connected layer on the last dimension, {@code y = x W^T + b}, with PyTorch's weight layout
 * {@code [out, in]}; or, built by {@link #conv1D}, {@code y = x W + b} with the layout {@code [in, out]} of
 * Hugging Face's GPT-2 {@code Conv1D} (a linear layer despite its name), so that GPT-2's weights are stored
 * exactly as its {@code state_dict} holds them. Input {@code [..., in]}, output {@code [..., out]}; the
 * leading dimensions are flattened into the rows of one GEMM, which writes straight into the output array,
 * and the weight gradient is accumulated by a GEMM into its accumulator ({@code beta = 1}).
 */
public final class Linear implements Layer {

  private final ParameterSet params;
  private final String weightName;
  private final String biasName;
  private final INDArray weight;
  private final INDArray bias;
  /** Whether the weight is {@code [in, out]} (Hugging Face's {@code Conv1D}) rather than {@code [out, in]}. */
  private final boolean inputMajor;
  private INDArray input2d;
  private long[] inputShape;

  /**
   * A layer over existing parameters.
   *
   * @param weightName name of the {@code [out, in]} weight
   * @param biasName   name of the {@code [out]} bias, or {@code null} for none
   */
  public Linear(ParameterSet params, String weightName, String biasName) {
    this(params, weightName, biasName, false);
  }

  private Linear(ParameterSet params, String weightName, String biasName, boolean inputMajor) {
    this.params = params;
    this.inputMajor = inputMajor;
    this.weightName = weightName;
    this.biasName = biasName;
    this.weight = params.value(weightName);
    if (weight.rank() != 2) {
      throw new IllegalArgumentException("Cannot use " + weightName + " of shape " + Arrays.toString(weight.shape())
          + " as a linear weight: expected " + (inputMajor ? "[in, out]" : "[out, in]"));
    }
    this.bias = biasName == null ? null : params.value(biasName, outFeatures());
  }

  /** The layer {@code prefix.weight}, {@code prefix.bias} (PyTorch's {@code nn.Linear} names). */
  public static Linear of(ParameterSet params, String prefix) {
    return new Linear(params, prefix + ".weight", prefix + ".bias");
  }

  /**
   * Hugging Face's GPT-2 {@code Conv1D} {@code prefix.weight} {@code [in, out]}, {@code prefix.bias}
   * {@code [out]}: {@code y = x W + b}.
   */
  public static Linear conv1D(ParameterSet params, String prefix) {
    return new Linear(params, prefix + ".weight", prefix + ".bias", true);
  }

  /** Input features. */
  public long inFeatures() {
    return weight.size(inputMajor ? 0 : 1);
  }

  /** Output features. */
  public long outFeatures() {
    return weight.size(inputMajor ? 1 : 0);
  }

  @Override
  public INDArray forward(INDArray input) {
    long in = inFeatures();
    if (input.size(-1) != in) {
      throw new IllegalArgumentException(String.format("Cannot apply %s to input of shape %s: last dimension must be %d",
          weightName, Arrays.toString(input.shape()), in));
    }
    inputShape = input.shape();
    input2d = rows(input, in);
    INDArray out = Nd4j.createUninitialized(input.dataType(), input2d.size(0), outFeatures());
    Nd4j.gemm(input2d, weight, out, false, !inputMajor, 1.0, 0.0);
    if (bias != null) {
      Broadcasts.addiRowVector(out, bias);
    }
    long[] outShape = inputShape.clone();
    outShape[outShape.length - 1] = outFeatures();
    return out.reshape('c', outShape);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (input2d == null) {
      throw new IllegalStateException("Cannot run backward through " + weightName + ": no forward pass");
    }
    INDArray dy = rows(gradOutput, outFeatures());
    if (dy.size(0) != input2d.size(0)) {
      throw new IllegalArgumentException(String.format("Cannot run backward through %s: gradient of shape %s"
          + " for an input of shape %s", weightName, Arrays.toString(gradOutput.shape()), Arrays.toString(inputShape)));
    }
    if (inputMajor) {
      Nd4j.gemm(input2d, dy, params.gradient(weightName), true, false, 1.0, 1.0);
    } else {
      Nd4j.gemm(dy, input2d, params.gradient(weightName), true, false, 1.0, 1.0);
    }
    if (bias != null) {
      params.gradient(biasName).addi(dy.sum(0));
    }
    INDArray dx = Nd4j.createUninitialized(dy.dataType(), dy.size(0), inFeatures());
    Nd4j.gemm(dy, weight, dx, false, inputMajor, 1.0, 0.0);
    input2d = null;
    return dx.reshape('c', inputShape);
  }

  /** A C-ordered {@code [rows, width]} view of {@code a} (a copy only if {@code a} is not C-contiguous). */
  static INDArray rows(INDArray a, long width) {
    INDArray c = a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) ? a : a.dup('c');
    return c.reshape('c', c.length() / width, width);
  }
}
