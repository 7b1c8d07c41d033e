package dev.clipspark.training.nn;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A table lookup, PyTorch's {@code nn.Embedding}: integer ids {@code [...]} in, rows of the weight
 * {@code [vocab, width]} out as {@code [..., width]}. Ids have no gradient, so {@link #backward} returns
 * {@code null}; it scatter-<em>adds</em> each position's gradient into the weight gradient's row of its id,
 * so an id repeated within a batch collects the sum of its positions' gradients.
 */
public final class TokenEmbedding implements Layer {

  private final ParameterSet params;
  private final String weightName;
  private final INDArray weight;
  private int[] ids;
  private long[] inputShape;

  /**
   * The lookup over the existing parameter {@code weightName} ({@code [vocab, width]}).
   *
   * @throws IllegalArgumentException if that parameter is not a matrix
   */
  public TokenEmbedding(ParameterSet params, String weightName) {
    this.params = params;
    this.weightName = weightName;
    this.weight = params.value(weightName);
    if (weight.rank() != 2) {
      throw new IllegalArgumentException("Cannot use " + weightName + " of shape " + Arrays.toString(weight.shape())
          + " as an embedding table: expected [vocab, width]");
    }
  }

  /** Rows of the table. */
  public long vocabSize() {
    return weight.size(0);
  }

  /** Width of a row. */
  public long width() {
    return weight.size(1);
  }

  /**
   * Looks the ids up.
   *
   * @param tokens integer ids (INT or LONG, any shape), each in {@code [0, vocab)}
   * @throws IllegalArgumentException naming the first id out of range, or for a non-integer array
   */
  @Override
  public INDArray forward(INDArray tokens) {
    ids = ids(tokens, weightName, vocabSize());
    inputShape = tokens.shape();
    long[] outShape = Arrays.copyOf(inputShape, inputShape.length + 1);
    outShape[inputShape.length] = width();
    return Nd4j.pullRows(weight, 1, ids).reshape('c', outShape);
  }

  /** Adds the gradient of every position into its id's row of the weight gradient; returns {@code null}. */
  @Override
  public INDArray backward(INDArray gradOutput) {
    if (ids == null) {
      throw new IllegalStateException("Cannot run backward through " + weightName + ": no forward pass");
    }
    long w = width();
    if (gradOutput.length() != ids.length * w || gradOutput.size(-1) != w) {
      throw new IllegalArgumentException(String.format("Cannot run backward through %s: gradient of shape %s"
          + " for ids of shape %s", weightName, Arrays.toString(gradOutput.shape()), Arrays.toString(inputShape)));
    }
    // Sum the rows of each distinct id first, then one row update per distinct id.
    double[][] rows = Linear.rows(gradOutput, w).toDoubleMatrix();
    Map<Integer, double[]> sums = new LinkedHashMap<>();
    for (int i = 0; i < ids.length; i++) {
      double[] row = rows[i];
      double[] sum = sums.get(ids[i]);
      if (sum == null) {
        sums.put(ids[i], row);
      } else {
        for (int j = 0; j < row.length; j++) {
          sum[j] += row[j];
        }
      }
    }
    INDArray gradient = params.gradient(weightName);
    for (Map.Entry<Integer, double[]> e : sums.entrySet()) {
      gradient.getRow(e.getKey()).addi(Nd4j.createFromArray(e.getValue()).castTo(gradient.dataType()));
    }
    ids = null;
    return null;
  }

  /** The ids of {@code tokens} in C order, checked to lie in {@code [0, vocab)}. */
  static int[] ids(INDArray tokens, String what, long vocab) {
    if (!tokens.dataType().isIntType()) {
      throw new IllegalArgumentException(String.format(
          "Cannot look up tokens of type %s in %s: expected an integer type (INT or LONG)", tokens.dataType(), what));
    }
    long[] values = tokens.dup('c').reshape('c', new long[] {tokens.length()}).toLongVector();
    int[] ids = new int[values.length];
    for (int i = 0; i < ids.length; i++) {
      if (values[i] < 0 || values[i] >= vocab) {
        throw new IllegalArgumentException(String.format(
            "Cannot look up token id %d at flat position %d in %s: ids must lie in [0, %d)", values[i], i, what, vocab));
      }
      ids[i] = (int) values[i];
    }
    return ids;
  }
}
