package dev.clipspark.training.model;

import dev.clipspark.training.nn.Broadcasts;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.device.HostMemory;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.indexaccum.custom.ArgMax;
import org.nd4j.linalg.api.ops.impl.reduce.same.Max;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
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
 *      and this rank's share of dL/dt = sum_{i in rank} sum_j G_ij S_ij = sum_{i in rank} u_i . dL/du_i
 *   L = (1/2N) [ sum_i (a_i - S_ii) + sum_j (b_j - S_jj) ]   (a sum of two scalars over the ranks)
 * </pre>
 * Communication: {@code 2 N d} feature values, {@code 2 N} log-sum-exps and two scalars per step.
 * Summing the returned {@code gradLogitScaleLog} over the ranks (the trainer's gradient all-reduce does)
 * gives the full derivative; the loss and the accuracy are the global batch's on every rank.
 *
 * <p>Memory: two {@code n x tile} buffers, allocated once per call and reused by every tile (products are
 * written into them by {@code gemm} and the element-wise steps run in place), five {@code [n, d]} arrays
 * (the normalised features, the two gradients, one scratch) and the gathered log-sum-exps; see
 * {@link #workingMemoryBytes}.
 */
public final class ShardedContrastiveLoss {

  private ShardedContrastiveLoss() {}

  /**
   * Working memory of {@link #compute} beyond the two gathered {@code [N, d]} feature arrays, in bytes: two
   * {@code n x min(tile, N)} tiles, five {@code [n, d]} arrays and the two gathered log-sum-exp vectors of
   * {@code N}; the dozen {@code n}-vectors of norms and running maxima are not counted.
   *
   * @param n             rows per worker
   * @param k             workers K ({@code N = n K})
   * @param d             feature dimension
   * @param tile          columns of the similarity matrix held at once
   * @param bytesPerValue 4 for float, 8 for double
   */
  public static long workingMemoryBytes(long n, int k, long d, int tile, int bytesPerValue) {
    long big = n * k;
    return bytesPerValue * (2 * n * Math.min(tile, big) + 5 * n * d + 2 * big);
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
    long d = imageFeatures.size(1);
    int k = collective.size();
    long big = n * k;
    long offset = collective.rank() * n;
    double scale = Math.exp(logitScaleLog);
    DataType type = imageFeatures.dataType();
    INDArray imageNorms = norms(imageFeatures);
    INDArray textNorms = norms(textFeatures);
    INDArray u = Broadcasts.divColumnVector(imageFeatures, imageNorms);
    INDArray v = Broadcasts.divColumnVector(textFeatures, textNorms);
    INDArray allU = collective.allGather(u);
    INDArray allV = collective.allGather(v);

    var tiles = new Tiles(type, n, Math.min(tile, big));
    // Row log-sum-exps of this rank's images over all texts, column ones of its texts over all images.
    long[] best = new long[(int) n];
    INDArray a = logSumExp(u, allV, scale, tiles, best);
    INDArray b = logSumExp(v, allU, scale, tiles, null);
    INDArray allA = collective.allGather(a.reshape('c', n, 1)).reshape('c', new long[] {big});
    INDArray allB = collective.allGather(b.reshape('c', n, 1)).reshape('c', new long[] {big});

    double twoN = 2.0 * big;
    INDArray du = Nd4j.zeros(type, n, d);
    INDArray dv = Nd4j.zeros(type, n, d);
    for (long c0 = 0; c0 < big; c0 += tiles.width) {
      long c1 = Math.min(big, c0 + tiles.width);
      INDArray s = tiles.s(c1 - c0);
      INDArray p = tiles.p(c1 - c0);
      // Image side: rows i of this rank, columns j in [c0, c1); p = 2N G, so the product takes exp(t) / 2N.
      INDArray vt = allV.get(NDArrayIndex.interval(c0, c1), NDArrayIndex.all());
      Nd4j.gemm(u, vt, s, false, true, scale, 0.0);
      gradientTile(s, p, a, allB.get(NDArrayIndex.interval(c0, c1)), c0, offset);
      Nd4j.gemm(p, vt, du, false, false, scale / twoN, 1.0);
      // Text side: rows j of this rank, columns i in [c0, c1).
      INDArray ut = allU.get(NDArrayIndex.interval(c0, c1), NDArrayIndex.all());
      Nd4j.gemm(v, ut, s, false, true, scale, 0.0);
      gradientTile(s, p, b, allA.get(NDArrayIndex.interval(c0, c1)), c0, offset);
      Nd4j.gemm(p, ut, dv, false, false, scale / twoN, 1.0);
    }
    double correct = 0;
    for (int i = 0; i < n; i++) {
      correct += best[i] == offset + i ? 1 : 0;
    }
    // This rank's terms of the loss: sum of its a_i + b_j minus twice its diagonal similarities.
    INDArray scratch = Nd4j.createUninitialized(type, n, d);
    double diagonal = scratch.assign(u).muli(v).sumNumber().doubleValue() * scale;
    INDArray sums = Nd4j.createFromArray(a.sumNumber().doubleValue() + b.sumNumber().doubleValue()
        - 2 * diagonal, correct).castTo(type);
    collective.allReduceSum(sums);
    double loss = sums.getDouble(0) / twoN;
    double accuracy = sums.getDouble(1) / big;
    double dScale = throughNorm(du, u, imageNorms, scratch);
    throughNorm(dv, v, textNorms, scratch);
    return new ContrastiveLoss.Result(loss, du, dv, dScale, accuracy);
  }

  /** The two {@code n x width} buffers every tile reuses, and the {@code n}-vectors of the reductions. */
  private static final class Tiles {
    final long n;
    final long width;
    final INDArray sFlat;
    final INDArray pFlat;
    final INDArray rowMax;
    final INDArray rowSum;
    final INDArray argMax;

    Tiles(DataType type, long n, long width) {
      this.n = n;
      this.width = width;
      this.sFlat = Nd4j.createUninitialized(type, n * width);
      this.pFlat = Nd4j.createUninitialized(type, n * width);
      this.rowMax = Nd4j.createUninitialized(type, n);
      this.rowSum = Nd4j.createUninitialized(type, n);
      this.argMax = Nd4j.createUninitialized(DataType.LONG, n);
    }

    /** The first {@code n w} values of the S buffer as a C-ordered {@code [n, w]} view. */
    INDArray s(long w) {
      return view(sFlat, w);
    }

    INDArray p(long w) {
      return view(pFlat, w);
    }

    private INDArray view(INDArray flat, long w) {
      return (w == width ? flat : flat.get(NDArrayIndex.interval(0, n * w))).reshape('c', n, w);
    }
  }

  private static INDArray norms(INDArray x) {
    INDArray n = x.norm2(1).reshape(x.size(0), 1);
    return Transforms.max(n, ContrastiveLoss.NORM_EPS, false);
  }

  /**
   * lse over all N columns of {@code scale * rows . all^T}, tile by tile with a running maximum; with
   * {@code best}, also each row's first maximal column.
   */
  private static INDArray logSumExp(INDArray rows, INDArray all, double scale, Tiles tiles, long[] best) {
    long n = rows.size(0);
    long big = all.size(0);
    INDArray max = Nd4j.valueArrayOf(new long[] {n}, Double.NEGATIVE_INFINITY, rows.dataType());
    INDArray sum = Nd4j.zeros(rows.dataType(), n);
    double[] bestValue = best == null ? null : new double[(int) n];
    double[] m = best == null ? null : new double[(int) n];
    long[] arg = best == null ? null : new long[(int) n];
    if (bestValue != null) {
      Arrays.fill(bestValue, Double.NEGATIVE_INFINITY);
    }
    INDArray tileMax = tiles.rowMax;
    for (long c0 = 0; c0 < big; c0 += tiles.width) {
      long c1 = Math.min(big, c0 + tiles.width);
      INDArray s = tiles.s(c1 - c0);
      Nd4j.gemm(rows, all.get(NDArrayIndex.interval(c0, c1), NDArrayIndex.all()), s, false, true, scale, 0.0);
      Nd4j.getExecutioner().exec(new Max(s, tileMax, 1));
      if (bestValue != null) {
        Nd4j.exec(new ArgMax(new INDArray[] {s}, new INDArray[] {tiles.argMax}, false, 1));
        // Copied from host memory into reused arrays: toDoubleVector would copy on the native side first.
        HostMemory.copyTo(tileMax, m);
        HostMemory.copyTo(tiles.argMax, arg);
        for (int i = 0; i < n; i++) {
          if (m[i] > bestValue[i]) {
            bestValue[i] = m[i];
            best[i] = c0 + arg[i];
          }
        }
      }
      // newMax = max(max, tileMax);  sum = sum * exp(max - newMax) + sum_j exp(s_j - newMax)
      Transforms.max(tileMax, max, false);
      Transforms.exp(max.subi(tileMax), false);
      sum.muli(max);
      Transforms.exp(Broadcasts.subiColumnVector(s, tileMax.reshape(n, 1)), false);
      Nd4j.getExecutioner().exec(new Sum(s, tiles.rowSum, 1));
      sum.addi(tiles.rowSum);
      max.assign(tileMax);
    }
    return Transforms.log(sum, false).addi(max);
  }

  /**
   * {@code 2N G} for one tile into {@code p}, destroying {@code s}: rows are this rank's (image rows on the
   * image side, text rows on the text side), columns the global indices {@code [c0, c0 + width)}; {@code own}
   * is the rows' lse, {@code other} the columns'.
   */
  private static void gradientTile(INDArray s, INDArray p, INDArray own, INDArray other, long c0, long offset) {
    long n = s.size(0);
    long width = s.size(1);
    // (Broadcast.sub along dimension 0 is ten times slower than these in-place vector ops.)
    Transforms.exp(Broadcasts.subiColumnVector(p.assign(s), own.reshape(n, 1)), false);
    p.addi(Transforms.exp(Broadcasts.subiRowVector(s, other.reshape(1, width)), false));
    // The diagonal, j = offset + i, where it falls in this tile.
    for (long i = Math.max(0, c0 - offset); i < n && offset + i - c0 < width; i++) {
      long j = offset + i - c0;
      p.putScalar(i, j, p.getDouble(i, j) - 2);
    }
  }

  /**
   * Through u = x / |x|, in place: dx = (du - u (u . du)) / |x|. Returns {@code sum_i u_i . du_i}, this
   * rank's share of dL/dt.
   */
  private static double throughNorm(INDArray du, INDArray u, INDArray norms, INDArray scratch) {
    INDArray dot = scratch.assign(u).muli(du).sum(1);
    double total = dot.sumNumber().doubleValue();
    du.subi(Broadcasts.muliColumnVector(scratch.assign(u), dot.reshape(u.size(0), 1)));
    Broadcasts.diviColumnVector(du, norms);
    return total;
  }
}
