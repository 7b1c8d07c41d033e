package dev.clipspark.training.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * OpenAI's attention pooling, the head of the modified ResNet: input {@code [batch, c, h, w]}, output
 * {@code [batch, output_dim]}.
 * <pre>
 *   x = tokens(x)                       [batch, hw, c]
 *   x = concat(mean over tokens, x)     [batch, hw + 1, c]
 *   x = x + positional_embedding
 *   y = c_proj(attention(q = q_proj(x[:, 0]), k = k_proj(x), v = v_proj(x)))
 * </pre>
 * Only the mean token queries: with {@code d = c / heads}, head {@code j} computes
 * {@code softmax(q_j k_j^T / sqrt(d)) v_j} over all {@code hw + 1} tokens, the heads are concatenated
 * and projected by {@code c_proj}. Tensors under {@code prefix.}: {@code positional_embedding}
 * {@code [hw + 1, c]}; {@code q_proj}, {@code k_proj}, {@code v_proj} ({@code [c, c]} weights with
 * biases) and {@code c_proj} ({@code [output_dim, c]} with bias), OpenAI's names.
 */
public final class AttentionPool2d implements Layer {

  private final ParameterSet params;
  private final String prefix;
  private final INDArray positional;
  private final Linear qProj;
  private final Linear kProj;
  private final Linear vProj;
  private final Linear cProj;
  private final int heads;
  private final long width;
  private long[] inputShape;
  private INDArray q;
  private INDArray k;
  private INDArray v;
  private INDArray probabilities;

  /**
   * The pooling {@code prefix.*}.
   *
   * @param heads attention heads; must divide the channel count
   * @throws IllegalArgumentException if a tensor is missing or the shapes disagree
   */
  public AttentionPool2d(ParameterSet params, String prefix, int heads) {
    this.params = params;
    this.prefix = prefix;
    this.positional = params.value(prefix + ".positional_embedding");
    if (positional.rank() != 2) {
      throw new IllegalArgumentException("Cannot use " + prefix + ".positional_embedding of shape "
          + Arrays.toString(positional.shape()) + ": expected [tokens, channels]");
    }
    this.width = positional.size(1);
    for (String proj : new String[] {"q_proj", "k_proj", "v_proj"}) {
      params.value(prefix + "." + proj + ".weight", width, width);
    }
    this.qProj = Linear.of(params, prefix + ".q_proj");
    this.kProj = Linear.of(params, prefix + ".k_proj");
    this.vProj = Linear.of(params, prefix + ".v_proj");
    this.cProj = Linear.of(params, prefix + ".c_proj");
    if (cProj.inFeatures() != width) {
      throw new IllegalArgumentException(String.format("Cannot build attention pooling %s: c_proj.weight must be"
          + " [output_dim, %d]", prefix, width));
    }
    if (heads < 1 || width % heads != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot build attention pooling %s with %d heads: must divide the width %d", prefix, heads, width));
    }
    this.heads = heads;
  }

  /** Input channels {@code c}. */
  public long inputWidth() {
    return width;
  }

  /** Output features. */
  public long outputDim() {
    return cProj.outFeatures();
  }

  @Override
  public INDArray forward(INDArray x) {
    long tokens = positional.size(0);
    if (x.rank() != 4 || x.size(1) != width || x.size(2) * x.size(3) + 1 != tokens) {
      throw new IllegalArgumentException(String.format("Cannot apply attention pooling %s to input of shape %s:"
          + " expected [batch, %d, h, w] with h w = %d", prefix, Arrays.toString(x.shape()), width, tokens - 1));
    }
    inputShape = x.shape();
    long b = x.size(0);
    long d = width / heads;
    // [b, c, hw] -> [b, hw + 1, c] with the mean token first, plus the positional embedding.
    INDArray seq = Nd4j.createUninitialized(x.dataType(), b, tokens, width);
    INDArray spatial = seq.get(NDArrayIndex.all(), NDArrayIndex.interval(1, tokens), NDArrayIndex.all());
    spatial.assign(x.reshape('c', b, width, tokens - 1).permute(0, 2, 1));
    seq.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).assign(spatial.mean(1));
    Broadcasts.addiRowVector(seq.reshape('c', b, tokens * width), positional.reshape('c', new long[] {tokens * width}));
    INDArray first = seq.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).dup('c');
    // q [b h, 1, d] (scaled), k and v [b h, t, d].
    q = qProj.forward(first).reshape('c', b * heads, 1, d).muli(1.0 / Math.sqrt(d));
    k = headsFirst(kProj.forward(seq), b, tokens, d);
    v = headsFirst(vProj.forward(seq), b, tokens, d);
    INDArray scores = Nd4j.matmul(q, k, null, false, true, false).reshape('c', b * heads, tokens);
    Broadcasts.subiColumnVector(scores, scores.max(1).reshape(b * heads, 1));
    Transforms.exp(scores, false);
    Broadcasts.diviColumnVector(scores, scores.sum(1).reshape(b * heads, 1));
    probabilities = scores.reshape('c', b * heads, 1, tokens);
    INDArray attended = Nd4j.matmul(probabilities, v).reshape('c', b, width);
    return cProj.forward(attended);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (probabilities == null) {
      throw new IllegalStateException("Cannot run backward through attention pooling " + prefix + ": no forward pass");
    }
    long b = inputShape[0];
    long tokens = positional.size(0);
    long d = width / heads;
    INDArray dAttended = cProj.backward(gradOutput).reshape('c', b * heads, 1, d);
    INDArray dProbabilities = Nd4j.matmul(dAttended, v, null, false, true, false);
    INDArray dv = Nd4j.matmul(probabilities, dAttended, null, true, false, false);
    // softmax backward: dS = P * (dP - rowsum(P * dP)).
    INDArray p2 = probabilities.reshape('c', b * heads, tokens);
    INDArray dp2 = dProbabilities.reshape('c', b * heads, tokens);
    INDArray rowDot = p2.mul(dp2).sum(1).reshape(b * heads, 1);
    INDArray dScores = Broadcasts.subiColumnVector(dp2, rowDot).muli(p2).reshape('c', b * heads, 1, tokens);
    INDArray dq = Nd4j.matmul(dScores, k).muli(1.0 / Math.sqrt(d)).reshape('c', b, width);
    INDArray dk = Nd4j.matmul(dScores, q, null, true, false, false);
    INDArray dSeq = kProj.backward(tokensFirst(dk, b, tokens, d));
    dSeq.addi(vProj.backward(tokensFirst(dv, b, tokens, d)));
    INDArray dFirst = dSeq.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all());
    dFirst.addi(qProj.backward(dq));
    params.gradient(prefix + ".positional_embedding").addi(dSeq.sum(0));
    // The mean token spreads its gradient evenly over the spatial tokens.
    INDArray dSpatial = dSeq.get(NDArrayIndex.all(), NDArrayIndex.interval(1, tokens), NDArrayIndex.all());
    INDArray meanShare = dFirst.mul(1.0 / (tokens - 1)).reshape('c', b, 1, width);
    dSpatial.addi(meanShare.broadcast(b, tokens - 1, width));
    INDArray dx = Nd4j.createUninitialized(gradOutput.dataType(), inputShape);
    dx.reshape('c', b, width, tokens - 1).assign(dSpatial.permute(0, 2, 1));
    q = null;
    k = null;
    v = null;
    probabilities = null;
    return dx;
  }

  /** {@code [b, t, h d]} to {@code [b h, t, d]}. */
  private INDArray headsFirst(INDArray a, long b, long t, long d) {
    return a.reshape('c', b, t, heads, d).permute(0, 2, 1, 3).dup('c').reshape('c', b * heads, t, d);
  }

  /** {@code [b h, t, d]} to {@code [b, t, h d]}. */
  private INDArray tokensFirst(INDArray a, long b, long t, long d) {
    return a.reshape('c', b, heads, t, d).permute(0, 2, 1, 3).dup('c').reshape('c', b, t, width);
  }
}
