package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Layer normalisation over the last dimension with a gain and a bias, as PyTorch's {@code nn.LayerNorm}
 * (biased variance, {@code eps} inside the square root):
 * {@code y = (x - mean) / sqrt(var + eps) * weight + bias}. Input and output {@code [..., width]}.
 */
public final class LayerNorm implements Layer {

  /** PyTorch's default epsilon, which CLIP uses. */
  public static final double EPS_DEFAULT = 1e-5;

  private final ParameterSet params;
  private final String prefix;
  private final INDArray gain;
  private final INDArray bias;
  private final double eps;
  private INDArray normalized;
  private INDArray inverseStd;
  private long[] inputShape;

  /** The layer {@code prefix.weight}, {@code prefix.bias} with {@link #EPS_DEFAULT}. */
  public LayerNorm(ParameterSet params, String prefix) {
    this(params, prefix, EPS_DEFAULT);
  }

  /** The layer {@code prefix.weight}, {@code prefix.bias} with the given epsilon. */
  public LayerNorm(ParameterSet params, String prefix, double eps) {
    this.params = params;
    this.prefix = prefix;
    this.gain = params.value(prefix + ".weight");
    this.bias = params.value(prefix + ".bias", gain.shape());
    this.eps = eps;
    if (gain.rank() != 1) {
      throw new IllegalArgumentException("Cannot use " + prefix + ".weight as a LayerNorm gain: expected rank 1");
    }
  }

  @Override
  public INDArray forward(INDArray input) {
    long width = gain.size(0);
    if (input.size(-1) != width) {
      throw new IllegalArgumentException(String.format("Cannot apply %s to input whose last dimension is %d: expected %d",
          prefix, input.size(-1), width));
    }
    inputShape = input.shape();
    INDArray x = Linear.rows(input, width);
    long n = x.size(0);
    INDArray centered = Broadcasts.subColumnVector(x, x.mean(1).reshape(n, 1));
    // Biased variance as |centered|^2 / width: one reduction, no squared temporary.
    INDArray norms = centered.norm2(1).reshape(n, 1);
    inverseStd = Transforms.pow(norms.muli(norms).divi(width).addi(eps), -0.5, false);
    normalized = Broadcasts.muliColumnVector(centered, inverseStd);
    return Broadcasts.addiRowVector(Broadcasts.mulRowVector(normalized, gain), bias).reshape('c', inputShape);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (normalized == null) {
      throw new IllegalStateException("Cannot run backward through " + prefix + ": no forward pass");
    }
    long width = gain.size(0);
    INDArray dy = Linear.rows(gradOutput, width);
    long n = dy.size(0);
    params.gradient(prefix + ".bias").addi(dy.sum(0));
    // dx = inverseStd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gain; one scratch array serves
    // as dy * xhat (the gain's gradient), then g * xhat = (dy * xhat) * gain, then xhat * mean(g * xhat).
    INDArray scratch = dy.mul(normalized);
    params.gradient(prefix + ".weight").addi(scratch.sum(0));
    INDArray meanGx = Broadcasts.muliRowVector(scratch, gain).mean(1).reshape(n, 1);
    INDArray g = Broadcasts.mulRowVector(dy, gain);
    INDArray meanG = g.mean(1).reshape(n, 1);
    Broadcasts.subiColumnVector(g, meanG).subi(Broadcasts.muliColumnVector(scratch.assign(normalized), meanGx));
    INDArray dx = Broadcasts.muliColumnVector(g, inverseStd);
    normalized = null;
    inverseStd = null;
    return dx.reshape('c', inputShape);
  }
}
