package dev.clipspark.training.model;

import dev.clipspark.training.nn.Broadcasts;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * CLIP's symmetric contrastive (InfoNCE) loss over a batch of N matching image-text pairs, dense, with
 * its gradients. With {@code x_i} the image and {@code y_i} the text features (un-normalised, rows of
 * {@code [N, d]}), {@code s} the stored log-scale:
 * <pre>
 *   u_i = x_i / |x_i|,  v_j = y_j / |y_j|,  L_ij = exp(s) u_i . v_j
 *   loss = ( CE(L, arange N) + CE(L^T, arange N) ) / 2
 *   CE(L, arange N) = (1/N) sum_i ( log sum_j exp L_ij  -  L_ii )
 * </pre>
 * Gradients: with {@code P} the row-wise and {@code Q} the column-wise softmax of {@code L},
 * {@code G = dloss/dL = (P + Q - 2 I) / (2N)}; {@code dloss/du = exp(s) G v}, {@code dloss/dv = exp(s) G^T u},
 * {@code dloss/ds = sum(G * L)}; through the normalisation {@code dloss/dx = (dloss/du - u (u . dloss/du)) / |x|}.
 * The log-sum-exps are shifted by the row (column) maximum. Norms are floored at {@link #NORM_EPS} as in
 * PyTorch's {@code F.normalize}. Everything is computed in the features' data type.
 */
public final class ContrastiveLoss {

  /** Lower bound on a feature norm, PyTorch's {@code F.normalize} default. */
  public static final double NORM_EPS = 1e-12;

  /**
   * The loss and its gradients.
   *
   * @param loss                 the symmetric cross-entropy
   * @param gradImage            dloss/d(image features), {@code [N, d]}, un-normalised features
   * @param gradText             dloss/d(text features), {@code [N, d]}
   * @param gradLogitScaleLog    dloss/d(stored log-scale)
   * @param imageToTextAccuracy  fraction of images whose highest logit is their own text (first maximum wins)
   */
  public record Result(double loss, INDArray gradImage, INDArray gradText, double gradLogitScaleLog,
      double imageToTextAccuracy) {}

  private ContrastiveLoss() {}

  /**
   * Working memory of {@link #compute} beyond its two {@code [N, d]} inputs, in bytes: four {@code N x N}
   * matrices (the logits, the row and the column softmax, the product {@code G * L}) and eight {@code [N, d]}
   * arrays (normalised features, their gradients, the temporaries of the normalisation's backward); the
   * {@code N}-vectors are not counted. At N = 32,768 in float that is 16.5 GiB.
   */
  public static long workingMemoryBytes(long n, long d, int bytesPerValue) {
    return bytesPerValue * (4 * n * n + 8 * n * d);
  }

  /**
   * Computes the loss of N pairs, row i of each input belonging together.
   *
   * @param imageFeatures un-normalised image features {@code [N, d]}, floating point
   * @param textFeatures  un-normalised text features of the same shape and data type
   * @param logitScaleLog the stored log of the logit scale (CLIP's {@code logit_scale} parameter)
   * @throws IllegalArgumentException if the shapes or data types differ, or are not floating {@code [N, d]}
   */
  public static Result compute(INDArray imageFeatures, INDArray textFeatures, double logitScaleLog) {
    if (imageFeatures.rank() != 2 || !Arrays.equals(imageFeatures.shape(), textFeatures.shape())
        || imageFeatures.size(0) < 1) {
      throw new IllegalArgumentException(String.format(
          "Cannot compute the contrastive loss of image features %s and text features %s: both must be [N, d]"
              + " with the same N >= 1 and d", Arrays.toString(imageFeatures.shape()),
          Arrays.toString(textFeatures.shape())));
    }
    if (!imageFeatures.dataType().isFPType() || imageFeatures.dataType() != textFeatures.dataType()) {
      throw new IllegalArgumentException(String.format(
          "Cannot compute the contrastive loss of %s image and %s text features: both must have one floating"
              + " point data type", imageFeatures.dataType(), textFeatures.dataType()));
    }
    if (!Double.isFinite(logitScaleLog)) {
      throw new IllegalArgumentException(
          "Cannot compute the contrastive loss with logit scale log " + logitScaleLog + ": must be finite");
    }
    long n = imageFeatures.size(0);
    double scale = Math.exp(logitScaleLog);
    INDArray imageNorms = norms(imageFeatures);
    INDArray textNorms = norms(textFeatures);
    INDArray u = Broadcasts.divColumnVector(imageFeatures, imageNorms);
    INDArray v = Broadcasts.divColumnVector(textFeatures, textNorms);
    INDArray logits = Nd4j.createUninitialized(imageFeatures.dataType(), n, n);
    Nd4j.gemm(u, v, logits, false, true, scale, 0.0);

    INDArray diagonal = diagonal(logits);
    double diagonalSum = diagonal.sumNumber().doubleValue();
    double accuracy = accuracy(logits);
    INDArray rowMax = logits.max(1).reshape(n, 1);
    INDArray colMax = logits.max(0).reshape(1, n);
    // P = softmax over each row, Q = softmax over each column; lse = max + log(sum exp(L - max)).
    INDArray p = Transforms.exp(Broadcasts.subColumnVector(logits, rowMax), false);
    INDArray rowSums = p.sum(1).reshape(n, 1);
    INDArray q = Transforms.exp(Broadcasts.subRowVector(logits, colMax), false);
    INDArray colSums = q.sum(0).reshape(1, n);
    double rowLse = rowMax.sumNumber().doubleValue() + Transforms.log(rowSums, true).sumNumber().doubleValue();
    double colLse = colMax.sumNumber().doubleValue() + Transforms.log(colSums, true).sumNumber().doubleValue();
    double loss = (rowLse + colLse - 2 * diagonalSum) / (2.0 * n);

    // G = (P + Q - 2 I) / (2N), written over P.
    INDArray g = Broadcasts.diviColumnVector(p, rowSums.muli(2.0 * n))
        .addi(Broadcasts.diviRowVector(q, colSums.muli(2.0 * n)));
    diagonal(g).subi(1.0 / n);
    double gradLogitScaleLog = g.mul(logits).sumNumber().doubleValue();

    INDArray gradU = Nd4j.createUninitialized(u.dataType(), n, u.size(1));
    Nd4j.gemm(g, v, gradU, false, false, scale, 0.0);
    INDArray gradV = Nd4j.createUninitialized(v.dataType(), n, v.size(1));
    Nd4j.gemm(g, u, gradV, true, false, scale, 0.0);
    return new Result(loss, throughNormalization(gradU, u, imageNorms), throughNormalization(gradV, v, textNorms),
        gradLogitScaleLog, accuracy);
  }

  /** Row norms {@code [N, 1]}, floored at {@link #NORM_EPS}. */
  private static INDArray norms(INDArray x) {
    return Transforms.max(x.norm2(1), NORM_EPS, false).reshape(x.size(0), 1);
  }

  /** {@code (dU - U rowdot(U, dU)) / norms}: the gradient with respect to the un-normalised rows. */
  private static INDArray throughNormalization(INDArray gradNormalized, INDArray normalized, INDArray norms) {
    INDArray dot = gradNormalized.mul(normalized).sum(1).reshape(normalized.size(0), 1);
    return Broadcasts.diviColumnVector(gradNormalized.subi(Broadcasts.mulColumnVector(normalized, dot)), norms);
  }

  /** The diagonal of a C-ordered square matrix, as a strided view (writes go through). */
  private static INDArray diagonal(INDArray square) {
    long n = square.size(0);
    return square.reshape('c', new long[] {n * n}).get(NDArrayIndex.interval(0, n + 1, n * n));
  }

  /** Fraction of rows whose first maximum lies on the diagonal. */
  private static double accuracy(INDArray logits) {
    long[] best = Nd4j.argMax(logits, 1).toLongVector();
    long hits = 0;
    for (int i = 0; i < best.length; i++) {
      if (best[i] == i) {
        hits++;
      }
    }
    return (double) hits / best.length;
  }
}
