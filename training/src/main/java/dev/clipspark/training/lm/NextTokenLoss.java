package dev.clipspark.training.lm;

import dev.clipspark.training.nn.Broadcasts;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The next-token cross-entropy of a language model, averaged over the scored positions:
 * <pre>
 *   L = 1/M * sum_{(b,i): y_bi != IGNORE} ( lse_v z_biv - z_bi,y_bi )
 *   dL/dz_biv = 1/M * ( softmax(z_bi)_v - [v = y_bi] )   for scored positions, 0 for ignored ones
 * </pre>
 * with logits {@code z [B, t, V]}, targets {@code y [B, t]} (for training, {@code y_bi} is the token at position
 * {@code i + 1}; padding and the last position carry {@link #IGNORE}) and {@code M} the number of scored
 * positions. Works in the logits' data type.
 */
public final class NextTokenLoss {

  /** The target of a position that is not scored. */
  public static final int IGNORE = -1;

  /**
   * One batch's loss.
   *
   * @param loss      mean cross-entropy in nats over the scored positions
   * @param gradient  dL/dlogits, {@code [B, t, V]}
   * @param scored    number of scored positions {@code M}
   * @param correct   scored positions whose largest logit is the target (first maximum)
   */
  public record Result(double loss, INDArray gradient, long scored, long correct) {
    /** Fraction of scored positions predicted exactly. */
    public double accuracy() {
      return scored == 0 ? 0 : (double) correct / scored;
    }
  }

  private NextTokenLoss() {}

  /**
   * The loss and its gradient.
   *
   * @param logits  {@code [B, t, V]}
   * @param targets {@code [B][t]} ids in {@code [0, V)} or {@link #IGNORE}
   * @throws IllegalArgumentException for mismatched shapes, a target outside the vocabulary, or no scored position
   */
  public static Result compute(INDArray logits, int[][] targets) {
    if (logits.rank() != 3 || targets.length != logits.size(0)) {
      throw new IllegalArgumentException(String.format("Cannot score logits of shape %s against %d target rows:"
          + " expected [batch, t, vocab] with one row per batch entry", Arrays.toString(logits.shape()), targets.length));
    }
    long b = logits.size(0);
    long t = logits.size(1);
    long v = logits.size(2);
    int[] flat = new int[(int) (b * t)];
    long scored = 0;
    for (int i = 0; i < b; i++) {
      if (targets[i].length != t) {
        throw new IllegalArgumentException(String.format(
            "Cannot score target row %d of length %d against %d positions", i, targets[i].length, t));
      }
      for (int j = 0; j < t; j++) {
        int y = targets[i][j];
        if (y != IGNORE && (y < 0 || y >= v)) {
          throw new IllegalArgumentException(String.format("Cannot score target %d at row %d, position %d: ids must"
              + " lie in [0, %d) or be %d (ignored)", y, i, j, v, IGNORE));
        }
        flat[(int) (i * t + j)] = y;
        if (y != IGNORE) {
          scored++;
        }
      }
    }
    if (scored == 0) {
      throw new IllegalArgumentException("Cannot score a batch whose every target is ignored");
    }
    int rows = flat.length;
    // One-hot targets and a mask of scored rows, built in Java and moved once, so the rest is a few whole-array ops.
    double[] hot = new double[Math.multiplyExact(rows, (int) v)];
    double[] keep = new double[rows];
    for (int r = 0; r < rows; r++) {
      if (flat[r] != IGNORE) {
        hot[r * (int) v + flat[r]] = 1;
        keep[r] = 1;
      }
    }
    INDArray z = logits.dup('c').reshape('c', rows, v);
    INDArray oneHot = Nd4j.createFromArray(hot).reshape('c', rows, v).castTo(z.dataType());
    double[] targetLogits = z.mul(oneHot).sum(1).toDoubleVector();
    long[] argmax = z.argMax(1).toLongVector();
    INDArray max = z.max(1).reshape(rows, 1);
    double[] maxima = max.toDoubleVector();
    // softmax in place: z <- exp(z - max) / sum
    Broadcasts.subiColumnVector(z, max);
    Transforms.exp(z, false);
    INDArray sums = z.sum(1).reshape(rows, 1);
    double[] sum = sums.toDoubleVector();
    Broadcasts.diviColumnVector(z, sums);
    double total = 0;
    long correct = 0;
    for (int r = 0; r < rows; r++) {
      if (flat[r] != IGNORE) {
        total += maxima[r] + Math.log(sum[r]) - targetLogits[r];
        if (argmax[r] == flat[r]) {
          correct++;
        }
      }
    }
    INDArray gradient = Broadcasts.muliColumnVector(z, Nd4j.createFromArray(keep).reshape(rows, 1).castTo(z.dataType()))
        .subi(oneHot).muli(1.0 / scored);
    return new Result(total / scored, gradient.reshape('c', b, t, v), scored, correct);
  }

  /**
   * Targets for training on whole token rows: position {@code i} predicts token {@code i + 1}; the last position
   * and positions at or past a row's length are {@link #IGNORE}.
   *
   * @param tokens  {@code [B][t]} ids
   * @param lengths each row's real length (the rest is padding)
   */
  public static int[][] shiftedTargets(int[][] tokens, int[] lengths) {
    int[][] out = new int[tokens.length][];
    for (int i = 0; i < tokens.length; i++) {
      int t = tokens[i].length;
      out[i] = new int[t];
      Arrays.fill(out[i], IGNORE);
      for (int j = 0; j + 1 < Math.min(lengths[i], t); j++) {
        out[i][j] = tokens[i][j + 1];
      }
    }
    return out;
  }
}
