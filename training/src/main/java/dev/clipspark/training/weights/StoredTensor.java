package dev.clipspark.training.weights;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A tensor in a weights file, read only when {@link #load} is called. */
interface StoredTensor {

  /** Its element type in the file. */
  TensorType type();

  /** Its shape ({@code []} for a scalar). */
  long[] shape();

  /** Reads it as FLOAT (floating types) or LONG (integer types), C order. */
  INDArray load();

  /** Number of elements of {@code shape}. */
  static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /**
   * The elements of a strided view of {@code storage} (raw little-endian bytes of {@code type}) as a C-order array:
   * FLOAT for floating types (fp16 and bf16 exactly), LONG for integer types.
   *
   * @throws WeightsException naming {@code what} if the view reaches past the storage
   */
  static INDArray gather(String what, TensorType type, byte[] storage, long offset, long[] shape, long[] stride) {
    long n = count(shape);
    long storageElements = storage.length / type.bytes;
    long last = offset;
    for (int d = 0; d < shape.length; d++) {
      if (shape[d] > 0) {
        last += (shape[d] - 1) * stride[d];
      }
    }
    if (n > 0 && (offset < 0 || last >= storageElements)) {
      throw new WeightsException(String.format("Cannot read %s: its view (offset %d, shape %s, stride %s) reaches "
          + "past its storage of %d elements (a damaged file)", what, offset, Arrays.toString(shape),
          Arrays.toString(stride), storageElements));
    }
    if (n > Integer.MAX_VALUE) {
      throw new WeightsException("Cannot read " + what + ": " + n + " elements is more than one array can hold");
    }
    var bytes = TensorType.little(storage);
    int[] index = new int[shape.length];
    boolean contiguous = isContiguous(shape, stride);
    if (type.floating) {
      float[] out = new float[(int) n];
      for (int i = 0; i < out.length; i++) {
        out[i] = type.readFloat(bytes, contiguous ? offset + i : position(offset, index, shape, stride, i));
      }
      return shaped(Nd4j.createFromArray(out), shape, DataType.FLOAT);
    }
    long[] out = new long[(int) n];
    for (int i = 0; i < out.length; i++) {
      out[i] = type.readLong(bytes, contiguous ? offset + i : position(offset, index, shape, stride, i));
    }
    return shaped(Nd4j.createFromArray(out), shape, DataType.LONG);
  }

  private static boolean isContiguous(long[] shape, long[] stride) {
    long expected = 1;
    for (int d = shape.length - 1; d >= 0; d--) {
      if (shape[d] != 1 && stride[d] != expected) {
        return false;
      }
      expected *= shape[d];
    }
    return true;
  }

  /** The storage element of C-order element {@code i}; {@code index} is scratch space. */
  private static long position(long offset, int[] index, long[] shape, long[] stride, long i) {
    long rest = i;
    long at = offset;
    for (int d = shape.length - 1; d >= 0; d--) {
      at += (rest % shape[d]) * stride[d];
      rest /= shape[d];
    }
    return at;
  }

  private static INDArray shaped(INDArray flat, long[] shape, DataType type) {
    INDArray typed = flat.dataType() == type ? flat : flat.castTo(type);
    return shape.length == 0 ? typed.reshape() : typed.reshape('c', shape);
  }
}
