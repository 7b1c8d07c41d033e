package dev.clipspark.training.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.reduce3.Dot;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Batch normalisation of NCHW images per channel, PyTorch's {@code nn.BatchNorm2d(c)} with
 * {@code eps = 1e-5} and {@code momentum = 0.1}: {@code y = (x - mean) / sqrt(var + eps) * weight + bias}.
 *
 * <p>In training mode (the default) {@code mean} and {@code var} are the batch statistics over
 * {@code batch x h x w} (biased variance), the gradient flows through them, and every forward pass
 * updates the running statistics: {@code running_mean = 0.9 running_mean + 0.1 mean},
 * {@code running_var = 0.9 running_var + 0.1 var n / (n - 1)} (unbiased, as PyTorch) and
 * {@code num_batches_tracked += 1}. In evaluation mode ({@link #setTraining setTraining(false)}) the
 * running statistics are used and left alone.
 *
 * <p>Tensors under {@code prefix.}: parameters {@code weight} and {@code bias} {@code [c]}; buffers
 * {@code running_mean}, {@code running_var} {@code [c]} and the scalar {@code num_batches_tracked}
 * (see {@code ClipParameters.buffers}). Both modes apply {@code y = x a + s} with per-channel
 * {@code a = weight / sqrt(var + eps)} and {@code s = bias - mean a}, and keep only the input and
 * per-channel vectors for the backward pass, which rebuilds what it needs from per-channel sums
 * {@code sum(dy)} and {@code sum(dy x)}.
 */
public final class BatchNorm2d implements Layer {

  /** PyTorch's default epsilon, which CLIP uses. */
  public static final double EPS_DEFAULT = 1e-5;
  /** PyTorch's default momentum of the running statistics. */
  public static final double MOMENTUM_DEFAULT = 0.1;

  private final ParameterSet params;
  private final String prefix;
  private final INDArray gain;
  private final INDArray bias;
  private final INDArray runningMean;
  private final INDArray runningVar;
  private final INDArray batchesTracked;
  private boolean training = true;
  private INDArray input3;
  private long[] inputShape;
  private INDArray mean;
  private INDArray inverseStd;
  private INDArray scale;
  private boolean batchStatistics;

  /** The layer over {@code prefix.weight}, {@code prefix.bias} and the buffers {@code prefix.running_*}. */
  public BatchNorm2d(ParameterSet params, String prefix) {
    this.params = params;
    this.prefix = prefix;
    this.gain = params.value(prefix + ".weight");
    if (gain.rank() != 1) {
      throw new IllegalArgumentException("Cannot use " + prefix + ".weight of shape " + Arrays.toString(gain.shape())
          + " as a BatchNorm gain: expected [channels]");
    }
    this.bias = params.value(prefix + ".bias", gain.shape());
    this.runningMean = buffer(params, prefix + ".running_mean", gain.shape());
    this.runningVar = buffer(params, prefix + ".running_var", gain.shape());
    this.batchesTracked = buffer(params, prefix + ".num_batches_tracked");
  }

  /** Channels. */
  public long channels() {
    return gain.size(0);
  }

  /** Whether forward uses batch statistics and updates the running ones. */
  public boolean training() {
    return training;
  }

  @Override
  public void setTraining(boolean training) {
    this.training = training;
  }

  @Override
  public INDArray forward(INDArray x) {
    long c = channels();
    if (x.rank() != 4 || x.size(1) != c) {
      throw new IllegalArgumentException(String.format("Cannot apply BatchNorm %s to input of shape %s: expected"
          + " [batch, %d, h, w]", prefix, Arrays.toString(x.shape()), c));
    }
    inputShape = x.shape();
    long n = x.size(0) * x.size(2) * x.size(3);
    input3 = Conv2d.contiguous(x).reshape('c', x.size(0), c, x.size(2) * x.size(3));
    batchStatistics = training;
    INDArray variance;
    if (training) {
      if (n < 2) {
        throw new IllegalArgumentException(String.format("Cannot apply BatchNorm %s in training mode to input of"
            + " shape %s: needs more than 1 value per channel", prefix, Arrays.toString(inputShape)));
      }
      mean = input3.mean(0, 2);
      variance = input3.var(false, 0, 2);
      runningMean.muli(1 - MOMENTUM_DEFAULT).addi(mean.mul(MOMENTUM_DEFAULT).castTo(runningMean.dataType()));
      runningVar.muli(1 - MOMENTUM_DEFAULT)
          .addi(variance.mul(MOMENTUM_DEFAULT * n / (n - 1)).castTo(runningVar.dataType()));
      batchesTracked.addi(1);
    } else {
      mean = runningMean.castTo(x.dataType());
      variance = runningVar.castTo(x.dataType());
    }
    inverseStd = Transforms.pow(variance.add(EPS_DEFAULT), -0.5, false);
    scale = gain.mul(inverseStd);
    INDArray shift = bias.sub(mean.mul(scale));
    return affine(input3, scale, shift).reshape('c', inputShape);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (input3 == null) {
      throw new IllegalStateException("Cannot run backward through " + prefix + ": no forward pass");
    }
    if (!Arrays.equals(gradOutput.shape(), inputShape)) {
      throw new IllegalArgumentException(String.format("Cannot run backward through %s: gradient of shape %s for an"
          + " input of shape %s", prefix, Arrays.toString(gradOutput.shape()), Arrays.toString(inputShape)));
    }
    INDArray dy3 = Conv2d.contiguous(gradOutput).reshape('c', input3.shape());
    long n = input3.size(0) * input3.size(2);
    // dbeta = sum(dy); dgamma = sum(dy xhat) = inverseStd (sum(dy x) - mean sum(dy)).
    INDArray sumDy = dy3.sum(0, 2);
    INDArray sumDyX = Nd4j.getExecutioner().exec(new Dot(dy3, input3, 0, 2));
    INDArray dGain = sumDyX.subi(mean.mul(sumDy)).muli(inverseStd);
    params.gradient(prefix + ".weight").addi(dGain);
    params.gradient(prefix + ".bias").addi(sumDy);
    INDArray dx;
    if (batchStatistics) {
      // dx = a (dy - dbeta / n - xhat dgamma / n) = a dy + x k + s with a = gain inverseStd,
      // k = -a inverseStd dgamma / n and s = -a dbeta / n - mean k.
      INDArray k = scale.mul(inverseStd).muli(dGain).muli(-1.0 / n);
      INDArray s = scale.mul(sumDy).muli(-1.0 / n).subi(mean.mul(k));
      dx = affine(input3, k, s);
      INDArray scaled = Nd4j.createUninitialized(dy3.dataType(), dy3.shape());
      Nd4j.getExecutioner().exec(new BroadcastMulOp(dy3, scale, scaled, 1));
      dx.addi(scaled);
    } else {
      dx = Nd4j.createUninitialized(dy3.dataType(), dy3.shape());
      Nd4j.getExecutioner().exec(new BroadcastMulOp(dy3, scale, dx, 1));
    }
    input3 = null;
    mean = null;
    inverseStd = null;
    scale = null;
    return dx.reshape('c', inputShape);
  }

  /** {@code x3 * a + s} with per-channel vectors on dimension 1 of {@code [batch, c, hw]}, as a new array. */
  private static INDArray affine(INDArray x3, INDArray a, INDArray s) {
    INDArray out = Nd4j.createUninitialized(x3.dataType(), x3.shape());
    Nd4j.getExecutioner().exec(new BroadcastMulOp(x3, a, out, 1));
    Nd4j.getExecutioner().exec(new BroadcastAddOp(out, s, out, 1));
    return out;
  }

  private static INDArray buffer(ParameterSet params, String name, long... shape) {
    INDArray b = params.buffer(name);
    if (!Arrays.equals(b.shape(), shape)) {
      throw new IllegalArgumentException(String.format("Cannot use buffer %s of shape %s: expected %s",
          name, Arrays.toString(b.shape()), Arrays.toString(shape)));
    }
    return b;
  }
}
