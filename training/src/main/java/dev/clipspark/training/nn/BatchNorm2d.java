package dev.clipspark.training.nn;

import dev.clipspark.training.device.HostMemory;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
 * (see {@code ClipParameters.buffers}).
 *
 * <p>Implementation: both modes apply {@code y = x a + s} with per-channel {@code a = weight / sqrt(var + eps)}
 * and {@code s = bias - mean a}; the backward pass needs only the input and per-channel sums
 * {@code sum(dy)} and {@code sum(dy x)}. Each pass is a plain loop over the contiguous {@code h x w}
 * plane of one image and channel, in double precision whatever the tensor type (two reads for the
 * statistics, one read and one write for the output; one read of {@code dy} and {@code x} for the sums
 * and one more for {@code dx}): measured several times faster than chains of ND4J broadcast and
 * reduction ops, which pass over the tensor once per operation.
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
  private INDArray input;
  private double[] mean;
  private double[] inverseStd;
  private double[] scale;
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
    int c = (int) channels();
    if (x.rank() != 4 || x.size(1) != c) {
      throw new IllegalArgumentException(String.format("Cannot apply BatchNorm %s to input of shape %s: expected"
          + " [batch, %d, h, w]", prefix, Arrays.toString(x.shape()), c));
    }
    if (x.length() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(String.format("Cannot apply BatchNorm %s to input of shape %s: more than"
          + " 2^31 - 1 elements", prefix, Arrays.toString(x.shape())));
    }
    long n = x.size(0) * x.size(2) * x.size(3);
    batchStatistics = training;
    if (training && n < 2) {
      throw new IllegalArgumentException(String.format("Cannot apply BatchNorm %s in training mode to input of"
          + " shape %s: needs more than 1 value per channel", prefix, Arrays.toString(x.shape())));
    }
    input = Conv2d.contiguous(x);
    try (var inView = HostMemory.read(input)) {
      return forward(x, c, n, new Planes(inView));
    }
  }

  private INDArray forward(INDArray x, int c, long n, Planes in) {
    int plane = (int) (x.size(2) * x.size(3));
    double[] variance;
    if (training) {
      mean = in.channelMeans(c, plane, null);
      variance = in.channelMeans(c, plane, mean);
      double[] rm = runningMean.toDoubleVector();
      double[] rv = runningVar.toDoubleVector();
      for (int ch = 0; ch < c; ch++) {
        rm[ch] = (1 - MOMENTUM_DEFAULT) * rm[ch] + MOMENTUM_DEFAULT * mean[ch];
        rv[ch] = (1 - MOMENTUM_DEFAULT) * rv[ch] + MOMENTUM_DEFAULT * variance[ch] * n / (n - 1);
      }
      runningMean.assign(Nd4j.createFromArray(rm).castTo(runningMean.dataType()));
      runningVar.assign(Nd4j.createFromArray(rv).castTo(runningVar.dataType()));
      batchesTracked.addi(1);
    } else {
      mean = runningMean.toDoubleVector();
      variance = runningVar.toDoubleVector();
    }
    double[] g = gain.toDoubleVector();
    double[] b = bias.toDoubleVector();
    inverseStd = new double[c];
    scale = new double[c];
    double[] shift = new double[c];
    for (int ch = 0; ch < c; ch++) {
      inverseStd[ch] = 1 / Math.sqrt(variance[ch] + EPS_DEFAULT);
      scale[ch] = g[ch] * inverseStd[ch];
      shift[ch] = b[ch] - mean[ch] * scale[ch];
    }
    INDArray out = Nd4j.createUninitialized(x.dataType(), x.shape());
    try (var outView = HostMemory.readWrite(out)) {
      new Planes(outView).affine(c, plane, in, scale, null, null, shift);
    }
    return out;
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (input == null) {
      throw new IllegalStateException("Cannot run backward through " + prefix + ": no forward pass");
    }
    if (!Arrays.equals(gradOutput.shape(), input.shape())) {
      throw new IllegalArgumentException(String.format("Cannot run backward through %s: gradient of shape %s for an"
          + " input of shape %s", prefix, Arrays.toString(gradOutput.shape()), Arrays.toString(input.shape())));
    }
    int c = (int) channels();
    int plane = (int) (input.size(2) * input.size(3));
    long n = input.size(0) * plane;
    try (var dyView = HostMemory.read(Conv2d.contiguous(gradOutput)); var xView = HostMemory.read(input)) {
      return backward(c, plane, n, new Planes(dyView), new Planes(xView));
    }
  }

  private INDArray backward(int c, int plane, long n, Planes dy, Planes x) {
    double[][] sums = dy.channelSums(c, plane, x);
    double[] sumDy = sums[0];
    // dbeta = sum(dy); dgamma = sum(dy xhat) = inverseStd (sum(dy x) - mean sum(dy)).
    double[] dGain = new double[c];
    for (int ch = 0; ch < c; ch++) {
      dGain[ch] = inverseStd[ch] * (sums[1][ch] - mean[ch] * sumDy[ch]);
    }
    params.gradient(prefix + ".weight").addi(Nd4j.createFromArray(dGain).castTo(gain.dataType()));
    params.gradient(prefix + ".bias").addi(Nd4j.createFromArray(sumDy).castTo(bias.dataType()));
    INDArray dx = Nd4j.createUninitialized(input.dataType(), input.shape());
    try (var dxView = HostMemory.readWrite(dx)) {
      affineGradient(c, plane, n, new Planes(dxView), dy, x, sumDy, dGain);
    }
    input = null;
    mean = null;
    inverseStd = null;
    scale = null;
    return dx;
  }

  private void affineGradient(int c, int plane, long n, Planes dx, Planes dy, Planes x, double[] sumDy,
      double[] dGain) {
    if (batchStatistics) {
      // dx = a (dy - dbeta / n - xhat dgamma / n) = a dy + x k + s with a = gain inverseStd,
      // k = -a inverseStd dgamma / n and s = -a dbeta / n - mean k.
      double[] k = new double[c];
      double[] s = new double[c];
      for (int ch = 0; ch < c; ch++) {
        k[ch] = -scale[ch] * inverseStd[ch] * dGain[ch] / n;
        s[ch] = -scale[ch] * sumDy[ch] / n - mean[ch] * k[ch];
      }
      dx.affine(c, plane, dy, scale, x, k, s);
    } else {
      dx.affine(c, plane, dy, scale, null, null, new double[c]);
    }
  }

  private static INDArray buffer(ParameterSet params, String name, long... shape) {
    INDArray b = params.buffer(name);
    if (!Arrays.equals(b.shape(), shape)) {
      throw new IllegalArgumentException(String.format("Cannot use buffer %s of shape %s: expected %s",
          name, Arrays.toString(b.shape()), Arrays.toString(shape)));
    }
    return b;
  }

  /**
   * The {@code [batch, c, plane]} elements of a C-contiguous FLOAT or DOUBLE tensor, read and written one
   * plane at a time through a {@link HostMemory} view, as doubles.
   */
  private static final class Planes {
    private final FloatBuffer floats;
    private final DoubleBuffer doubles;
    private final int length;
    private float[] floatScratch;

    Planes(HostMemory.View view) {
      INDArray a = view.array();
      this.length = view.length();
      if (a.dataType() == DataType.FLOAT) {
        floats = view.floats();
        doubles = null;
      } else if (a.dataType() == DataType.DOUBLE) {
        floats = null;
        doubles = view.doubles();
      } else {
        throw new IllegalArgumentException("Cannot apply BatchNorm to " + a.dataType() + " data: FLOAT or DOUBLE only");
      }
    }

    void read(int start, double[] dst, int n) {
      if (doubles != null) {
        doubles.get(start, dst, 0, n);
      } else {
        if (floatScratch == null || floatScratch.length < n) {
          floatScratch = new float[n];
        }
        floats.get(start, floatScratch, 0, n);
        for (int i = 0; i < n; i++) {
          dst[i] = floatScratch[i];
        }
      }
    }

    void write(int start, double[] src, int n) {
      if (doubles != null) {
        doubles.put(start, src, 0, n);
      } else {
        if (floatScratch == null || floatScratch.length < n) {
          floatScratch = new float[n];
        }
        for (int i = 0; i < n; i++) {
          floatScratch[i] = (float) src[i];
        }
        floats.put(start, floatScratch, 0, n);
      }
    }

    /** Per-channel means of the elements, or with {@code center} of their squared deviations from it. */
    double[] channelMeans(int c, int plane, double[] center) {
      double[] acc = new double[c];
      double[] v = new double[plane];
      int batch = length / (c * plane);
      for (int b = 0; b < batch; b++) {
        for (int ch = 0; ch < c; ch++) {
          read((b * c + ch) * plane, v, plane);
          double s = 0;
          if (center == null) {
            for (int i = 0; i < plane; i++) {
              s += v[i];
            }
          } else {
            double m = center[ch];
            for (int i = 0; i < plane; i++) {
              double d = v[i] - m;
              s += d * d;
            }
          }
          acc[ch] += s;
        }
      }
      for (int ch = 0; ch < c; ch++) {
        acc[ch] /= (double) batch * plane;
      }
      return acc;
    }

    /** Per-channel {@code sum(this)} and {@code sum(this * other)}. */
    double[][] channelSums(int c, int plane, Planes other) {
      double[] sum = new double[c];
      double[] dot = new double[c];
      double[] u = new double[plane];
      double[] v = new double[plane];
      int batch = length / (c * plane);
      for (int b = 0; b < batch; b++) {
        for (int ch = 0; ch < c; ch++) {
          int start = (b * c + ch) * plane;
          read(start, u, plane);
          other.read(start, v, plane);
          double s = 0;
          double d = 0;
          for (int i = 0; i < plane; i++) {
            s += u[i];
            d += u[i] * v[i];
          }
          sum[ch] += s;
          dot[ch] += d;
        }
      }
      return new double[][] {sum, dot};
    }

    /** Writes {@code p a + q k + s} per channel into this tensor ({@code q} may be null). */
    void affine(int c, int plane, Planes p, double[] a, Planes q, double[] k, double[] s) {
      double[] u = new double[plane];
      double[] v = q == null ? null : new double[plane];
      int batch = length / (c * plane);
      for (int b = 0; b < batch; b++) {
        for (int ch = 0; ch < c; ch++) {
          int start = (b * c + ch) * plane;
          p.read(start, u, plane);
          double ac = a[ch];
          double sc = s[ch];
          if (q == null) {
            for (int i = 0; i < plane; i++) {
              u[i] = u[i] * ac + sc;
            }
          } else {
            q.read(start, v, plane);
            double kc = k[ch];
            for (int i = 0; i < plane; i++) {
              u[i] = u[i] * ac + v[i] * kc + sc;
            }
          }
          write(start, u, plane);
        }
      }
    }
  }
}
