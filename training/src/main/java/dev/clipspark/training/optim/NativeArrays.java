package dev.clipspark.training.optim;

import dev.clipspark.training.device.HostMemory;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Checks and loops over the memory of contiguous FLOAT and DOUBLE arrays, read and written through
 * {@link HostMemory} views.
 */
final class NativeArrays {

  private NativeArrays() {}

  /**
   * Whether the array's elements lie in C order, one after another, in its data buffer (so element
   * {@code i} of the flattened array is buffer element {@code offset + i}).
   */
  static boolean isContiguous(INDArray a) {
    return a.length() <= 1 || (a.ordering() == 'c' && a.elementWiseStride() == 1);
  }

  /** Fails unless the array is contiguous and FLOAT or DOUBLE; {@code what} names it in the message. */
  static void requireUsable(INDArray a, String what) {
    DataType type = a.dataType();
    if (type != DataType.FLOAT && type != DataType.DOUBLE) {
      throw new IllegalArgumentException(
          "Cannot optimise " + what + " of type " + type + ": only FLOAT and DOUBLE are supported");
    }
    if (!isContiguous(a)) {
      throw new IllegalArgumentException("Cannot optimise " + what + ": its array is not C-contiguous (order "
          + a.ordering() + ", element-wise stride " + a.elementWiseStride() + "); use dup('c')");
    }
  }

  /** The sum of the squares of the elements, accumulated in double precision. */
  static double sumOfSquares(INDArray a) {
    INDArray c = isContiguous(a) ? a : a.dup('c');
    switch (c.dataType()) {
      case FLOAT -> {
        try (var view = HostMemory.read(c)) {
          return sumOfSquares(view.floats());
        }
      }
      case DOUBLE -> {
        try (var view = HostMemory.read(c)) {
          return sumOfSquares(view.doubles());
        }
      }
      default -> {
        double norm = c.norm2Number().doubleValue();
        return norm * norm;
      }
    }
  }

  private static double sumOfSquares(FloatBuffer b) {
    // Four independent sums, so the loop is not bound by the latency of one chain of additions.
    double s0 = 0;
    double s1 = 0;
    double s2 = 0;
    double s3 = 0;
    int n = b.limit();
    int i = 0;
    for (; i + 3 < n; i += 4) {
      double x0 = b.get(i);
      double x1 = b.get(i + 1);
      double x2 = b.get(i + 2);
      double x3 = b.get(i + 3);
      s0 += x0 * x0;
      s1 += x1 * x1;
      s2 += x2 * x2;
      s3 += x3 * x3;
    }
    for (; i < n; i++) {
      double x = b.get(i);
      s0 += x * x;
    }
    return (s0 + s1) + (s2 + s3);
  }

  private static double sumOfSquares(DoubleBuffer b) {
    double sum = 0;
    for (int i = 0, n = b.limit(); i < n; i++) {
      double x = b.get(i);
      sum += x * x;
    }
    return sum;
  }
}
