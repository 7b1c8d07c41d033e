package dev.clipspark.training.model;

import dev.clipspark.training.collective.Collective;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * {@link ContrastiveLoss} of a global batch of N pairs spread over the K workers of a {@link Collective},
 * exact, with each worker holding {@code n = N / K} rows (rank r: global rows {@code [r n, (r+1) n)}) and
 * never more than {@code n x tile} similarities at once. With {@code u, v} the normalised image and text
 * features and {@code S_ij = exp(t) u_i . v_j}:
 * <pre>
 *   1. all-gather U and V ([N, d] each)
 *   2. a_i = lse_j S_ij for this rank's image rows, b_j = lse_i S_ij for its text rows, tile by tile;
 *      all-gather a and b (N scalars each)
 *   3. G_ij = (exp(S_ij - a_i) + exp(S_ij - b_j) - 2 [i = j]) / (2N), again tile by tile, for this rank's
 *      rows only:  dL/du_i = exp(t) sum_j G_ij v_j,  dL/dv_j = exp(t) sum_i G_ij u_i,
 *      and this rank's share of dL/dt = sum_{i in rank} sum_j G_ij S_ij
 *   L = (1/2N) [ sum_i (a_i - S_ii) + sum_j (b_j - S_jj) ]   (a sum of two scalars over the ranks)
 * </pre>
 * Communication: {@code 2 N d} feature values, {@code 2 N} log-sum-exps and two scalars per step.
 * Summing the returned {@code gradLogitScaleLog} over the ranks (the trainer's gradient all-reduce does)
 * gives the full derivative; the loss and the accuracy are the global batch's on every rank.
 */
public final class ShardedContrastiveLoss {

  private ShardedContrastiveLoss() {}

  /** Working memory of the loss beyond the gathered features: a few {@code n x tile} tiles. */
  public static long workingMemoryBytes(long n, long tile, int bytesPerValue) {
    return 4L * n * tile * bytesPerValue;
  }

  /**
   * This rank's part of the loss.
   *
   * @param imageFeatures this rank's un-normalised image features {@code [n, d]}
   * @param textFeatures this rank's un-normalised text features {@code [n, d]}
   * @param logitScaleLog the stored log of the logit scale
   * @param tile columns of the similarity matrix held at once
   * @return the global loss and accuracy, gradients for this rank's rows, this rank's share of dL/dt
   */
  public static ContrastiveLoss.Result compute(INDArray imageFeatures, INDArray textFeatures, double logitScaleLog,
      Collective collective, int tile) {
    if (imageFeatures.rank() != 2 || !Arrays.equals(imageFeatures.shape(), textFeatures.shape()) || tile < 1) {
      throw new IllegalArgumentException(String.format(
          "Cannot compute the sharded loss of image features %s and text features %s with tile %d: both must be"
              + " [n, d] alike and the tile at least 1", Arrays.toString(imageFeatures.shape()),
          Arrays.toString(textFeatures.shape()), tile));
    }
    long n = imageFeatures.size(0);
    int k = collective.size();
    long big = n * k;
    long offset = collective.rank() * n;
    double scale = Math.exp(logitScaleLog);
    INDArray imageNorms = norms(imageFeatures);
    INDArray textNorms = norms(textFeatures);
    INDArray u = imageFeatures.divColumnVector(imageNorms);
    INDArray v = textFeatures.divColumnVector(textNorms);
    INDArray allU = collective.allGather(u);
    INDArray allV = collective.allGather(v);

    // Row log-sum-exps of this rank's images over all texts, column ones of its texts over all images.
    INDArray a = logSumExp(u, allV, scale, tile, offset);
    INDArray b = logSumExp(v, allU, scale, tile, offset);
    INDArray allA = collective.allGather(a.reshape('c', n, 1)).reshape('c', new long[] {big});
    INDArray allB = collective.allGather(b.reshape('c', n, 1)).reshape('c', new long[] {big});

    double twoN = 2.0 * big;
    INDArray du = Nd4j.zeros(u.dataType(), n, u.size(1));
    INDArray dv = Nd4j.zeros(v.dataType(), n, v.size(1));
    double dScale = 0;
    double correct = 0;
    INDArray bestValue = Nd4j.valueArrayOf(new long[] {n}, Double.NEGATIVE_INFINITY, u.dataType());
    long[] bestIndex = new long[(int) n];
    for (long c0 = 0; c0 < big; c0 += tile) {
      long c1 = Math.min(big, c0 + tile);
      // Image side: rows i of this rank, columns j in [c0, c1).
      INDArray vt = allV.get(NDArrayIndex.interval(c0, c1), NDArrayIndex.all());
      INDArray s = u.mmul(vt.transpose()).muli(scale);
      track(s, c0, bestValue, bestIndex);
      INDArray g = gradientTile(s, a, allB.get(NDArrayIndex.interval(c0, c1)), true, c0, offset, twoN);
      dScale += g.mul(s).sumNumber().doubleValue();
      du.addi(g.mmul(vt));
      // Text side: rows j of this rank, columns i in [c0, c1).
      INDArray ut = allU.get(NDArrayIndex.interval(c0, c1), NDArrayIndex.all());
      INDArray st = v.mmul(ut.transpose()).muli(scale);
      INDArray gt = gradientTile(st, b, allA.get(NDArrayIndex.interval(c0, c1)), false, c0, offset, twoN);
      dv.addi(gt.mmul(ut));
    }
    du.muli(scale);
    dv.muli(scale);
    for (int i = 0; i < n; i++) {
      correct += bestIndex[i] == offset + i ? 1 : 0;
    }
    // This rank's terms of the loss: sum of its a_i + b_j minus twice its diagonal similarities.
    double diagonal = u.mul(v).sumNumber().doubleValue() * scale;
    INDArray sums = Nd4j.createFromArray(a.sumNumber().doubleValue() + b.sumNumber().doubleValue()
        - 2 * diagonal, correct).castTo(u.dataType());
    collective.allReduceSum(sums);
    double loss = sums.getDouble(0) / twoN;
    double accuracy = sums.getDouble(1) / big;
    return new ContrastiveLoss.Result(loss, throughNorm(du, u, imageNorms), throughNorm(dv, v, textNorms),
        dScale, accuracy);
  }

  private static INDArray norms(INDArray x) {
    INDArray n = x.norm2(1).reshape(x.size(0), 1);
    return Transforms.max(n, ContrastiveLoss.NORM_EPS, false);
  }

  /** lse over all N columns of {@code scale * rows . all^T}, tile by tile with a running maximum. */
  private static INDArray logSumExp(INDArray rows, INDArray all, double scale, int tile, long offset) {
    long n = rows.size(0);
    long big = all.size(0);
    INDArray max = Nd4j.valueArrayOf(new long[] {n, 1}, Double.NEGATIVE_INFINITY, rows.dataType());
    INDArray sum = Nd4j.zeros(rows.dataType(), n, 1);
    for (long c0 = 0; c0 < big; c0 += tile) {
      long c1 = Math.min(big, c0 + tile);
      INDArray s = rows.mmul(all.get(NDArrayIndex.interval(c0, c1), NDArrayIndex.all()).transpose()).muli(scale);
      INDArray tileMax = s.max(1).reshape(n, 1);
      INDArray newMax = Transforms.max(max, tileMax, true);
      // sum * exp(max - newMax) + sum_j exp(s_j - newMax)
      sum.muli(Transforms.exp(max.sub(newMax), false));
      sum.addi(Transforms.exp(s.subiColumnVector(newMax), false).sum(1).reshape(n, 1));
      max = newMax;
    }
    return Transforms.log(sum, false).addi(max).reshape('c', new long[] {n});
  }

  /**
   * G for one tile: rows are this rank's (image rows when {@code imageSide}, else text rows), columns the
   * global indices {@code [c0, c0 + width)}; {@code own} is the rows' lse, {@code other} the columns'.
   */
  private static INDArray gradientTile(INDArray s, INDArray own, INDArray other, boolean imageSide, long c0,
      long offset, double twoN) {
    long n = s.size(0);
    INDArray p = Transforms.exp(s.subColumnVector(own.reshape(n, 1)), false);
    p.addi(Transforms.exp(s.subRowVector(other.reshape(1, other.length())), false));
    for (long i = 0; i < n; i++) {
      long j = offset + i - c0;
      if (j >= 0 && j < s.size(1)) {
        p.putScalar(i, j, p.getDouble(i, j) - 2);
      }
    }
    return p.divi(twoN);
  }

  /** Running first maximum of each row over the tiles seen so far. */
  private static void track(INDArray s, long c0, INDArray bestValue, long[] bestIndex) {
    INDArray tileMax = s.max(1);
    INDArray tileArg = s.argMax(1);
    for (int i = 0; i < bestIndex.length; i++) {
      double m = tileMax.getDouble(i);
      if (m > bestValue.getDouble(i)) {
        bestValue.putScalar(i, m);
        bestIndex[i] = c0 + tileArg.getLong(i);
      }
    }
  }

  /** Through u = x / |x|: dx = (du - u (u . du)) / |x|. */
  private static INDArray throughNorm(INDArray du, INDArray u, INDArray norms) {
    INDArray dot = du.mul(u).sum(1).reshape(u.size(0), 1);
    return du.sub(u.mulColumnVector(dot)).diviColumnVector(norms);
  }
}
