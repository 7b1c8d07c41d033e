package dev.clipspark.training.checkpoint;

import dev.clipspark.training.device.HostMemory;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Streams tensors to and from raw little-endian bytes in fixed-size chunks, straight from and into the
 * arrays' native memory: no tensor-sized heap copy is made.
 */
final class TensorIo {

  /** Bytes copied per chunk. */
  static final int CHUNK = 1 << 20;

  private static final Map<DataType, String> NAMES = Map.of(
      DataType.FLOAT, "float32", DataType.DOUBLE, "float64", DataType.HALF, "float16",
      DataType.BFLOAT16, "bfloat16", DataType.LONG, "int64", DataType.INT, "int32", DataType.SHORT, "int16",
      DataType.BYTE, "int8", DataType.UBYTE, "uint8", DataType.BOOL, "bool");

  private TensorIo() {}

  /** The checkpoint's (NumPy-style) name of a data type. */
  static String dtypeName(DataType type) {
    String name = NAMES.get(type);
    if (name == null) {
      throw new IllegalArgumentException("Cannot store a tensor of type " + type + ": supported are " + NAMES.keySet());
    }
    return name;
  }

  /** The data type of a checkpoint dtype name. */
  static DataType dataType(String name) {
    for (var e : NAMES.entrySet()) {
      if (e.getValue().equals(name)) {
        return e.getKey();
      }
    }
    throw new IllegalArgumentException("unknown dtype " + name);
  }

  /** Bytes taken by a tensor of this type and shape. */
  static long byteSize(DataType type, long[] shape) {
    long n = type.width();
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** Writes the array's elements in C order as raw little-endian bytes; returns the bytes written. */
  static long write(INDArray array, OutputStream out, byte[] chunk) throws IOException {
    requireLittleEndian();
    dtypeName(array.dataType());
    INDArray c = isContiguous(array) ? array : array.dup('c');
    try (var view = HostMemory.read(c)) {
      ByteBuffer bytes = view.bytes();
      long total = bytes.remaining();
      while (bytes.hasRemaining()) {
        int n = Math.min(chunk.length, bytes.remaining());
        bytes.get(chunk, 0, n);
        out.write(chunk, 0, n);
      }
      return total;
    }
  }

  /**
   * Reads a tensor of the given type and shape from its raw little-endian bytes.
   *
   * @throws EOFException if the stream ends first
   */
  static INDArray read(InputStream in, DataType type, long[] shape, byte[] chunk) throws IOException {
    requireLittleEndian();
    INDArray array = Nd4j.createUninitialized(type, shape, 'c');
    try (var view = HostMemory.readWrite(array)) {
      ByteBuffer bytes = view.bytes();
      while (bytes.hasRemaining()) {
        int n = Math.min(chunk.length, bytes.remaining());
        readFully(in, chunk, n);
        bytes.put(chunk, 0, n);
      }
    }
    return array;
  }

  /** Reads exactly {@code n} bytes into the start of {@code chunk}. */
  static void readFully(InputStream in, byte[] chunk, int n) throws IOException {
    int done = 0;
    while (done < n) {
      int r = in.read(chunk, done, n - done);
      if (r < 0) {
        throw new EOFException("the file ends early");
      }
      done += r;
    }
  }

  private static boolean isContiguous(INDArray a) {
    return a.length() <= 1 || (a.ordering() == 'c' && a.elementWiseStride() == 1);
  }

  private static void requireLittleEndian() {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new IllegalStateException(
          "Cannot read or write checkpoint tensors on this " + ByteOrder.nativeOrder() + " machine: only little-endian is supported");
    }
  }
}
