package dev.clipspark.training.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A bias-free 2-D convolution over NCHW images with a square kernel, PyTorch's
 * {@code nn.Conv2d(in, out, k, stride, padding, bias=False)}: weight {@code [out, in, k, k]}, input
 * {@code [batch, in, h, w]}, output {@code [batch, out, (h + 2 pad - k) / stride + 1, ...]} (floored).
 *
 * <p>Per image, the product is one GEMM {@code W [out, in k k] . cols [in k k, oh ow]} written straight
 * into the image's slice of the output. A 1x1 convolution with stride 1 and no padding uses the image
 * itself as {@code cols}; any other shape builds {@code cols} with libnd4j's {@code im2col} into a buffer
 * of one image, rebuilt in the backward pass instead of kept. The backward pass accumulates
 * {@code dW += dY . cols^T} by a GEMM with {@code beta = 1} and folds {@code dcols = W^T . dY} back into
 * the image with {@code col2im}. (libnd4j's own {@code conv2d} / {@code conv2d_bp} are correct but
 * measured two to three times slower on this build, which has no oneDNN.) Works in FLOAT and DOUBLE.
 */
public final class Conv2d implements Layer {

  private final ParameterSet params;
  private final String weightName;
  private final INDArray weight;
  private final int kernel;
  private final int stride;
  private final int padding;
  private INDArray input;

  /**
   * A convolution over the existing weight {@code weightName} of shape {@code [out, in, k, k]}.
   *
   * @param stride  step between windows, at least 1
   * @param padding zeros added on every side, at least 0
   */
  public Conv2d(ParameterSet params, String weightName, int stride, int padding) {
    this.params = params;
    this.weightName = weightName;
    this.weight = params.value(weightName);
    if (weight.rank() != 4 || weight.size(2) != weight.size(3)) {
      throw new IllegalArgumentException("Cannot use " + weightName + " of shape " + Arrays.toString(weight.shape())
          + " as a convolution weight: expected [out, in, k, k]");
    }
    if (stride < 1) {
      throw new IllegalArgumentException("Cannot build convolution " + weightName + " with stride " + stride
          + ": must be at least 1");
    }
    if (padding < 0) {
      throw new IllegalArgumentException("Cannot build convolution " + weightName + " with padding " + padding
          + ": must be at least 0");
    }
    this.kernel = (int) weight.size(2);
    this.stride = stride;
    this.padding = padding;
  }

  /** The convolution {@code prefix.weight} (PyTorch's {@code nn.Conv2d} name). */
  public static Conv2d of(ParameterSet params, String prefix, int stride, int padding) {
    return new Conv2d(params, prefix + ".weight", stride, padding);
  }

  /** Input channels. */
  public long inChannels() {
    return weight.size(1);
  }

  /** Output channels. */
  public long outChannels() {
    return weight.size(0);
  }

  /** Output side for an input side of {@code size} pixels. */
  public long outputSize(long size) {
    return (size + 2L * padding - kernel) / stride + 1;
  }

  @Override
  public INDArray forward(INDArray x) {
    if (x.rank() != 4 || x.size(1) != inChannels() || outputSize(x.size(2)) < 1 || outputSize(x.size(3)) < 1) {
      throw new IllegalArgumentException(String.format(
          "Cannot apply convolution %s to input of shape %s: expected [batch, %d, h, w] with h, w >= %d",
          weightName, Arrays.toString(x.shape()), inChannels(), kernel - 2 * padding));
    }
    input = contiguous(x);
    long batch = x.size(0);
    long oh = outputSize(x.size(2));
    long ow = outputSize(x.size(3));
    INDArray out = Nd4j.createUninitialized(x.dataType(), batch, outChannels(), oh, ow);
    INDArray out3 = out.reshape('c', batch, outChannels(), oh * ow);
    INDArray w2 = weightMatrix(weight);
    if (pointwise()) {
      INDArray x3 = input.reshape('c', batch, inChannels(), oh * ow);
      for (long b = 0; b < batch; b++) {
        Nd4j.gemm(w2, x3.slice(b), out3.slice(b), false, false, 1.0, 0.0);
      }
    } else {
      INDArray cols = columnBuffer(oh, ow);
      INDArray cols2 = cols.reshape('c', w2.size(1), oh * ow);
      for (long b = 0; b < batch; b++) {
        im2col(image(input, b), cols);
        Nd4j.gemm(w2, cols2, out3.slice(b), false, false, 1.0, 0.0);
      }
    }
    return out;
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (input == null) {
      throw new IllegalStateException("Cannot run backward through " + weightName + ": no forward pass");
    }
    long batch = input.size(0);
    long oh = outputSize(input.size(2));
    long ow = outputSize(input.size(3));
    long[] expected = {batch, outChannels(), oh, ow};
    if (!Arrays.equals(gradOutput.shape(), expected)) {
      throw new IllegalArgumentException(String.format("Cannot run backward through %s: gradient of shape %s,"
          + " expected %s", weightName, Arrays.toString(gradOutput.shape()), Arrays.toString(expected)));
    }
    INDArray dy3 = contiguous(gradOutput).reshape('c', batch, outChannels(), oh * ow);
    INDArray w2 = weightMatrix(weight);
    INDArray dw2 = weightMatrix(params.gradient(weightName));
    INDArray dx = Nd4j.createUninitialized(input.dataType(), input.shape());
    if (pointwise()) {
      INDArray x3 = input.reshape('c', batch, inChannels(), oh * ow);
      INDArray dx3 = dx.reshape('c', batch, inChannels(), oh * ow);
      for (long b = 0; b < batch; b++) {
        INDArray dy = dy3.slice(b);
        Nd4j.gemm(dy, x3.slice(b), dw2, false, true, 1.0, 1.0);
        Nd4j.gemm(w2, dy, dx3.slice(b), true, false, 1.0, 0.0);
      }
    } else {
      INDArray cols = columnBuffer(oh, ow);
      INDArray cols2 = cols.reshape('c', w2.size(1), oh * ow);
      INDArray dcols = cols.ulike();
      INDArray dcols2 = dcols.reshape('c', w2.size(1), oh * ow);
      for (long b = 0; b < batch; b++) {
        INDArray dy = dy3.slice(b);
        im2col(image(input, b), cols);
        Nd4j.gemm(dy, cols2, dw2, false, true, 1.0, 1.0);
        Nd4j.gemm(w2, dy, dcols2, true, false, 1.0, 0.0);
        col2im(dcols, image(dx, b));
      }
    }
    input = null;
    return dx;
  }

  private boolean pointwise() {
    return kernel == 1 && stride == 1 && padding == 0;
  }

  /** {@code [1, in, k, k, oh, ow]}: the windows of one image. */
  private INDArray columnBuffer(long oh, long ow) {
    return Nd4j.createUninitialized(input.dataType(), 1, inChannels(), kernel, kernel, oh, ow);
  }

  private void im2col(INDArray image, INDArray cols) {
    Nd4j.exec(DynamicCustomOp.builder("im2col").addInputs(image).addOutputs(cols)
        .addIntegerArguments(kernel, kernel, stride, stride, padding, padding, 1, 1, 0).build());
  }

  /** Sums every window's gradient back onto its pixels; overwrites {@code image}. */
  private void col2im(INDArray cols, INDArray image) {
    Nd4j.exec(DynamicCustomOp.builder("col2im").addInputs(cols).addOutputs(image)
        .addIntegerArguments(stride, stride, padding, padding, (int) image.size(2), (int) image.size(3), 1, 1, 0)
        .build());
  }

  /** The {@code [out, in k k]} view of a C-ordered {@code [out, in, k, k]} tensor. */
  private static INDArray weightMatrix(INDArray w) {
    INDArray m = w.reshape('c', w.size(0), w.size(1) * w.size(2) * w.size(3));
    if (m.data().address() != w.data().address() || m.offset() != w.offset()) {
      throw new IllegalStateException("Cannot view a convolution weight of shape " + Arrays.toString(w.shape())
          + " as a matrix: it is not C-contiguous");
    }
    return m;
  }

  /** Image {@code b} of a batch as a {@code [1, c, h, w]} view. */
  private static INDArray image(INDArray batch, long b) {
    return batch.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
  }

  /** {@code a} itself if it is C-contiguous, else a C-ordered copy. */
  static INDArray contiguous(INDArray a) {
    return a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) ? a : a.dup('c');
  }
}
