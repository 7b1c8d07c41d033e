package dev.clipspark.training.nn;

import java.lang.ref.Reference;
import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.BroadcastOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastDivOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Row- and column-vector arithmetic on matrices ({@code x[i, j] op row[j]}, {@code x[i, j] op column[i]}) that keeps
 * ND4J's broadcast op, and with it every buffer the native code reads, reachable until the native call returns.
 *
 * <p>Why not {@code INDArray.addiRowVector} and its kin: in ND4J 1.0.0-M2.1 they build a {@code BroadcastOp} whose
 * dimension array exists only inside the op, and {@code NativeOpExecutioner.exec(BroadcastOp)} uses the op for the
 * last time while it gathers the native pointers, before {@code execBroadcast} runs. Once JIT-compiled, a garbage
 * collection at that moment (another training worker in the same JVM calls {@code System.gc()} every step) lets
 * ND4J's deallocator free the dimension buffer, and often the vector, while the native code still uses them: the JVM
 * dies with SIGSEGV in {@code sd::TadDescriptor::TadDescriptor} (seen once in CI during the demo's language-model
 * training; DL4J issue 9278 shows the same frame). Here the op is fenced with {@link Reference#reachabilityFence}
 * after the call. {@code HostMemoryTest}'s sibling {@code BroadcastsTest} keeps main code off the ND4J methods.
 */
public final class Broadcasts {

  private Broadcasts() {}

  /** {@code x[i, j] += row[j]} in place; returns {@code x}. */
  public static INDArray addiRowVector(INDArray x, INDArray row) {
    return run(new BroadcastAddOp(x, vector(x, row, 1), x, 1));
  }

  /** {@code x[i, j] -= row[j]} in place; returns {@code x}. */
  public static INDArray subiRowVector(INDArray x, INDArray row) {
    return run(new BroadcastSubOp(x, vector(x, row, 1), x, 1));
  }

  /** {@code x[i, j] *= row[j]} in place; returns {@code x}. */
  public static INDArray muliRowVector(INDArray x, INDArray row) {
    return run(new BroadcastMulOp(x, vector(x, row, 1), x, 1));
  }

  /** {@code x[i, j] /= row[j]} in place; returns {@code x}. */
  public static INDArray diviRowVector(INDArray x, INDArray row) {
    return run(new BroadcastDivOp(x, vector(x, row, 1), x, 1));
  }

  /** {@code x[i, j] += column[i]} in place; returns {@code x}. */
  public static INDArray addiColumnVector(INDArray x, INDArray column) {
    return run(new BroadcastAddOp(x, vector(x, column, 0), x, 0));
  }

  /** {@code x[i, j] -= column[i]} in place; returns {@code x}. */
  public static INDArray subiColumnVector(INDArray x, INDArray column) {
    return run(new BroadcastSubOp(x, vector(x, column, 0), x, 0));
  }

  /** {@code x[i, j] *= column[i]} in place; returns {@code x}. */
  public static INDArray muliColumnVector(INDArray x, INDArray column) {
    return run(new BroadcastMulOp(x, vector(x, column, 0), x, 0));
  }

  /** {@code x[i, j] /= column[i]} in place; returns {@code x}. */
  public static INDArray diviColumnVector(INDArray x, INDArray column) {
    return run(new BroadcastDivOp(x, vector(x, column, 0), x, 0));
  }

  /** A new matrix {@code x[i, j] - row[j]}. */
  public static INDArray subRowVector(INDArray x, INDArray row) {
    return subiRowVector(copy(x), row);
  }

  /** A new matrix {@code x[i, j] * row[j]}. */
  public static INDArray mulRowVector(INDArray x, INDArray row) {
    return muliRowVector(copy(x), row);
  }

  /** A new matrix {@code x[i, j] - column[i]}. */
  public static INDArray subColumnVector(INDArray x, INDArray column) {
    return subiColumnVector(copy(x), column);
  }

  /** A new matrix {@code x[i, j] * column[i]}. */
  public static INDArray mulColumnVector(INDArray x, INDArray column) {
    return muliColumnVector(copy(x), column);
  }

  /** A new matrix {@code x[i, j] / column[i]}. */
  public static INDArray divColumnVector(INDArray x, INDArray column) {
    return diviColumnVector(copy(x), column);
  }

  private static INDArray copy(INDArray x) {
    matrix(x);
    return x.dup('c');
  }

  private static void matrix(INDArray x) {
    if (x.rank() != 2) {
      throw new IllegalArgumentException("Cannot broadcast a vector over an array of shape "
          + Arrays.toString(x.shape()) + ": it must be a matrix (rank 2)");
    }
  }

  /** The vector as rank 1, checked against the matrix's size along {@code dimension} (1: a row, 0: a column). */
  private static INDArray vector(INDArray x, INDArray v, int dimension) {
    matrix(x);
    long n = x.size(dimension);
    if (!v.isVectorOrScalar() || v.length() != n) {
      throw new IllegalArgumentException(String.format("Cannot broadcast a %s of shape %s over a matrix of shape %s:"
          + " it must be a vector of %d elements", dimension == 1 ? "row" : "column", Arrays.toString(v.shape()),
          Arrays.toString(x.shape()), n));
    }
    if (v.dataType() != x.dataType()) {
      throw new IllegalArgumentException("Cannot broadcast a " + v.dataType() + " vector over a " + x.dataType()
          + " matrix: cast one of them first");
    }
    return v.rank() == 1 ? v : v.reshape(n);
  }

  private static INDArray run(BroadcastOp op) {
    try {
      Nd4j.getExecutioner().exec(op);
      return op.z();
    } finally {
      Reference.reachabilityFence(op);
    }
  }
}
