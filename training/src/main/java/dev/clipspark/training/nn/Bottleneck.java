package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The bottleneck block of OpenAI's modified ResNet (expansion 4), NCHW in and out:
 * <pre>
 *   out = relu(bn1(conv1(x)))                 1x1, inplanes -> planes
 *   out = relu(bn2(conv2(out)))               3x3, padding 1
 *   out = avgpool(out)                        stride x stride, only if stride > 1
 *   out = bn3(conv3(out))                     1x1, planes -> 4 planes
 *   identity = bn(conv(avgpool(x)))           "downsample", only if stride > 1 or inplanes != 4 planes
 *   y = relu(out + identity)
 * </pre>
 * All convolutions have stride 1: the block downsamples by average pooling, unlike torchvision's.
 * Tensors under {@code prefix.}: {@code conv1}, {@code bn1}, {@code conv2}, {@code bn2}, {@code conv3},
 * {@code bn3}, and {@code downsample.0} (convolution), {@code downsample.1} (BatchNorm), OpenAI's names.
 */
public final class Bottleneck implements Layer {

  /** Output channels over {@code planes}. */
  public static final int EXPANSION = 4;

  private final Conv2d conv1;
  private final BatchNorm2d bn1;
  private final Relu relu1 = new Relu();
  private final Conv2d conv2;
  private final BatchNorm2d bn2;
  private final Relu relu2 = new Relu();
  private final AvgPool2d pool;
  private final Conv2d conv3;
  private final BatchNorm2d bn3;
  private final AvgPool2d downsamplePool;
  private final Conv2d downsampleConv;
  private final BatchNorm2d downsampleBn;
  private final Relu relu3 = new Relu();

  /**
   * The block {@code prefix.*}.
   *
   * @param inplanes input channels
   * @param planes   width inside the block; the output has {@code 4 planes} channels
   * @param stride   spatial downsampling factor, at least 1
   * @throws IllegalArgumentException if a tensor is missing or has another shape
   */
  public Bottleneck(ParameterSet params, String prefix, long inplanes, long planes, int stride) {
    if (stride < 1) {
      throw new IllegalArgumentException("Cannot build bottleneck " + prefix + " with stride " + stride
          + ": must be at least 1");
    }
    long out = planes * EXPANSION;
    params.value(prefix + ".conv1.weight", planes, inplanes, 1, 1);
    params.value(prefix + ".conv2.weight", planes, planes, 3, 3);
    params.value(prefix + ".conv3.weight", out, planes, 1, 1);
    this.conv1 = Conv2d.of(params, prefix + ".conv1", 1, 0);
    this.bn1 = new BatchNorm2d(params, prefix + ".bn1");
    this.conv2 = Conv2d.of(params, prefix + ".conv2", 1, 1);
    this.bn2 = new BatchNorm2d(params, prefix + ".bn2");
    this.pool = stride > 1 ? new AvgPool2d(stride) : null;
    this.conv3 = Conv2d.of(params, prefix + ".conv3", 1, 0);
    this.bn3 = new BatchNorm2d(params, prefix + ".bn3");
    if (stride > 1 || inplanes != out) {
      params.value(prefix + ".downsample.0.weight", out, inplanes, 1, 1);
      this.downsamplePool = stride > 1 ? new AvgPool2d(stride) : null;
      this.downsampleConv = Conv2d.of(params, prefix + ".downsample.0", 1, 0);
      this.downsampleBn = new BatchNorm2d(params, prefix + ".downsample.1");
    } else {
      this.downsamplePool = null;
      this.downsampleConv = null;
      this.downsampleBn = null;
    }
  }

  /** Whether the identity branch is replaced by the downsample branch. */
  public boolean downsamples() {
    return downsampleConv != null;
  }

  @Override
  public INDArray forward(INDArray x) {
    INDArray out = relu2.forward(bn2.forward(conv2.forward(relu1.forward(bn1.forward(conv1.forward(x))))));
    if (pool != null) {
      out = pool.forward(out);
    }
    out = bn3.forward(conv3.forward(out));
    INDArray identity = x;
    if (downsampleConv != null) {
      INDArray pooled = downsamplePool == null ? x : downsamplePool.forward(x);
      identity = downsampleBn.forward(downsampleConv.forward(pooled));
    }
    // bn3's output is this block's own array: add in place.
    return relu3.forward(out.addi(identity));
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    INDArray d = relu3.backward(gradOutput);
    INDArray dIdentity = d;
    if (downsampleConv != null) {
      dIdentity = downsampleConv.backward(downsampleBn.backward(d));
      if (downsamplePool != null) {
        dIdentity = downsamplePool.backward(dIdentity);
      }
    }
    INDArray dOut = conv3.backward(bn3.backward(d));
    if (pool != null) {
      dOut = pool.backward(dOut);
    }
    dOut = conv1.backward(bn1.backward(relu1.backward(conv2.backward(bn2.backward(relu2.backward(dOut))))));
    return dOut.addi(dIdentity);
  }

  @Override
  public void setTraining(boolean training) {
    for (BatchNorm2d bn : new BatchNorm2d[] {bn1, bn2, bn3, downsampleBn}) {
      if (bn != null) {
        bn.setTraining(training);
      }
    }
  }
}
