package dev.clipspark.training.model;

import dev.clipspark.training.nn.Broadcasts;
import dev.clipspark.training.collective.Collective;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.indexaccum.custom.ArgMax;
import org.nd4j.linalg.api.ops.impl.reduce.same.Max;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * {@link ContrastiveLoss} of a global batch of N pairs spread over K workers as open_clip computes it with
 * {@code ClipLoss(local_loss=True, gather_with_grad=True)}: the comparison for {@link ShardedContrastiveLoss}.
 * Rank r holds rows {@code [r n, (r+1) n)}, {@code n = N / K}; with {@code u, v} the normalised image and
 * text features and {@code t} the stored log-scale:
 * <pre>
 *   1. all-gather U and V ([N, d] each)
 *   2. this rank's logits both ways, A = exp(t) u V^T and B = exp(t) v U^T ([n, N] each), labels y_i = r n + i
 *   3. local loss  L_r = ( CE(A, y) + CE(B, y) ) / 2,  CE(A, y) = (1/n) sum_i ( lse_j A_ij - A_i,y_i )
 *   4. dL_r/dA = (softmax_rows(A) - onehot(y)) / (2n), likewise for B; through the products, gradients for
 *      this rank's own u and v and for all N gathered rows, [N, d] each, which are reduce-scattered to
 *      their owners (the backward of all-gather) and added to the owners' own terms
 * </pre>
 * <b>Scaling.</b> Each local loss is a mean over its own n rows, so the K local losses add up to K times
 * the global loss: {@code sum_r L_r = (N / n) L = K L}, and the global mean is the mean of the local losses,
 * {@code L = (1/K) sum_r L_r}. open_clip returns {@code L_r} and relies on DistributedDataParallel's
 * averaging of the gradients over the ranks for the factor {@code 1/K}; this class applies it itself before
 * the reduce-scatter ({@code dL/dA = (softmax - onehot) / (2N)}, as {@code 2 n K = 2 N}), so its gradients
 * are those of the global loss and equal {@link ContrastiveLoss}'s on the concatenated batch, and the
 * returned loss is {@code (1/K) sum_r L_r}, all-reduced: the global loss on every rank. As with
 * {@link ShardedContrastiveLoss}, {@code gradLogitScaleLog} is this rank's share, {@code (1/K) dL_r/dt};
 * the sum over the ranks is dL/dt.
 *
 * <p>Communication per step: {@code 2 N d} values gathered and {@code 2 N d} reduce-scattered (twice the
 * sharded loss's), and two scalars. Memory: one {@code n x N} logits matrix at a time (the image side's,
 * then the text side's in the same buffer), the two {@code [N, d]} gradients of the gathered features and
 * seven {@code [n, d]} arrays; see {@link #workingMemoryBytes}. The arithmetic is the sharded loss's: six
 * products of {@code n N d} multiply-adds.
 */
public final class GatherWithGradientLoss {

  private GatherWithGradientLoss() {}

  /**
   * Working memory of {@link #compute} beyond the two gathered {@code [N, d]} feature arrays, in bytes: the
   * {@code n x N} logits, the two {@code [N, d]} gradients of the gathered features and seven {@code [n, d]}
   * arrays (normalised features, their gradients, the two reduce-scattered shares, one scratch); the
   * {@code n}-vectors are not counted.
   *
   * @param n             rows per worker
   * @param k             workers K ({@code N = n K})
   * @param d             feature dimension
   * @param bytesPerValue 4 for float, 8 for double
   */
  public static long workingMemoryBytes(long n, int k, long d, int bytesPerValue) {
    long big = n * k;
    return bytesPerValue * (n * big + 2 * big * d + 7 * n * d);
  }

  /**
   * This rank's part of the loss.
   *
   * @param imageFeatures this rank's un-normalised image features {@code [n, d]}
   * @param textFeatures  this rank's un-normalised text features {@code [n, d]}
   * @param logitScaleLog the stored log of the logit scale
   * @return the global loss and accuracy, gradients of the global loss for this rank's rows, this rank's
   *         share of dL/dt
   */
  public static ContrastiveLoss.Result compute(INDArray imageFeatures, INDArray textFeatures, double logitScaleLog,
      Collective collective) {
    if (imageFeatures.rank() != 2 || !Arrays.equals(imageFeatures.shape(), textFeatures.shape())) {
      throw new IllegalArgumentException(String.format(
          "Cannot compute the gather-with-gradient loss of image features %s and text features %s: both must be"
              + " [n, d] alike", Arrays.toString(imageFeatures.shape()), Arrays.toString(textFeatures.shape())));
    }
    long n = imageFeatures.size(0);
    long d = imageFeatures.size(1);
    int k = collective.size();
    long big = n * k;
    long offset = collective.rank() * n;
    double scale = Math.exp(logitScaleLog);
    double twoN = 2.0 * big;
    DataType type = imageFeatures.dataType();
    INDArray imageNorms = norms(imageFeatures);
    INDArray textNorms = norms(textFeatures);
    INDArray u = Broadcasts.divColumnVector(imageFeatures, imageNorms);
    INDArray v = Broadcasts.divColumnVector(textFeatures, textNorms);
    INDArray allU = collective.allGather(u);
    INDArray allV = collective.allGather(v);

    var rows = new Rows(type, n);
    INDArray logits = Nd4j.createUninitialized(type, n, big);
    // Image side: A = exp(t) u V^T; its gradient gives this rank's du and every rank's dV.
    Nd4j.gemm(u, allV, logits, false, true, scale, 0.0);
    Nd4j.exec(new ArgMax(new INDArray[] {logits}, new INDArray[] {rows.argMax}, false, 1));
    long[] best = rows.argMax.toLongVector();
    double terms = softmaxGradient(logits, offset, twoN, rows);
    INDArray du = Nd4j.createUninitialized(type, n, d);
    Nd4j.gemm(logits, allV, du, false, false, scale, 0.0);
    INDArray dAllV = Nd4j.createUninitialized(type, big, d);
    Nd4j.gemm(logits, u, dAllV, true, false, scale, 0.0);
    // Text side: B = exp(t) v U^T, in the same buffer.
    Nd4j.gemm(v, allU, logits, false, true, scale, 0.0);
    terms += softmaxGradient(logits, offset, twoN, rows);
    INDArray dv = Nd4j.createUninitialized(type, n, d);
    Nd4j.gemm(logits, allU, dv, false, false, scale, 0.0);
    INDArray dAllU = Nd4j.createUninitialized(type, big, d);
    Nd4j.gemm(logits, v, dAllU, true, false, scale, 0.0);

    // This rank's share of dL/dt: sum G * A + sum G' * B = u . du + v . dv over its own (local) terms.
    INDArray scratch = Nd4j.createUninitialized(type, n, d);
    double dScale = scratch.assign(u).muli(du).sumNumber().doubleValue()
        + scratch.assign(v).muli(dv).sumNumber().doubleValue();
    du.addi(collective.reduceScatterSum(dAllU));
    dv.addi(collective.reduceScatterSum(dAllV));

    double correct = 0;
    for (int i = 0; i < n; i++) {
      correct += best[i] == offset + i ? 1 : 0;
    }
    INDArray sums = Nd4j.createFromArray(terms, correct).castTo(type);
    collective.allReduceSum(sums);
    double loss = sums.getDouble(0) / twoN;
    double accuracy = sums.getDouble(1) / big;
    throughNorm(du, u, imageNorms, scratch);
    throughNorm(dv, v, textNorms, scratch);
    return new ContrastiveLoss.Result(loss, du, dv, dScale, accuracy);
  }

  /** The {@code n}-vectors of the row reductions, shared by the two sides. */
  private static final class Rows {
    final INDArray max;
    final INDArray sum;
    final INDArray argMax;

    Rows(DataType type, long n) {
      max = Nd4j.createUninitialized(type, n);
      sum = Nd4j.createUninitialized(type, n);
      argMax = Nd4j.createUninitialized(DataType.LONG, n);
    }
  }

  /**
   * Turns logits {@code [n, N]} into {@code (softmax_rows - onehot(offset + i)) / twoN} in place and returns
   * {@code sum_i (lse_i - logits_i,offset+i)}, this rank's cross-entropy terms.
   */
  private static double softmaxGradient(INDArray logits, long offset, double twoN, Rows rows) {
    long n = logits.size(0);
    Nd4j.getExecutioner().exec(new Max(logits, rows.max, 1));
    Broadcasts.subiColumnVector(logits, rows.max.reshape(n, 1));
    // lse_i - L_i,y_i = log(sum_j exp(L_ij - max_i)) - (L_i,y_i - max_i)
    double terms = 0;
    for (long i = 0; i < n; i++) {
      terms -= logits.getDouble(i, offset + i);
    }
    Transforms.exp(logits, false);
    Nd4j.getExecutioner().exec(new Sum(logits, rows.sum, 1));
    terms += Transforms.log(rows.sum, true).sumNumber().doubleValue();
    Broadcasts.diviColumnVector(logits, rows.sum.muli(twoN).reshape(n, 1));
    for (long i = 0; i < n; i++) {
      logits.putScalar(i, offset + i, logits.getDouble(i, offset + i) - 1 / twoN);
    }
    return terms;
  }

  private static INDArray norms(INDArray x) {
    return Transforms.max(x.norm2(1), ContrastiveLoss.NORM_EPS, false).reshape(x.size(0), 1);
  }

  /** Through u = x / |x|, in place: dx = (du - u (u . du)) / |x|. */
  private static void throughNorm(INDArray du, INDArray u, INDArray norms, INDArray scratch) {
    INDArray dot = scratch.assign(u).muli(du).sum(1);
    du.subi(Broadcasts.muliColumnVector(scratch.assign(u), dot.reshape(u.size(0), 1)));
    Broadcasts.diviColumnVector(du, norms);
  }
}
