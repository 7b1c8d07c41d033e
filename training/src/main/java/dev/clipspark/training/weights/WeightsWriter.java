package dev.clipspark.training.weights;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes a state dict as a PyTorch zip archive that {@code torch.load} reads (the layout {@code torch.save} writes:
 * {@code archive/data.pkl}, a protocol-2 pickle of an {@code OrderedDict} whose tensors are
 * {@code torch._utils._rebuild_tensor_v2} calls over persistent storage ids, {@code archive/data/0..N-1} holding
 * the raw little-endian bytes, and {@code archive/version}); records are stored uncompressed and their data aligned
 * to 64 bytes as PyTorch's writer does. Floating tensors are written as float32, integer ones as int64.
 */
final class WeightsWriter {

  /** Folder of the records inside the archive. */
  static final String ARCHIVE = "archive";
  /** Alignment of record data, PyTorch's {@code kFieldAlignment}. */
  static final int ALIGNMENT = 64;
  /** The archive format version PyTorch 1.6 to 2.x write. */
  static final String VERSION = "3\n";

  private WeightsWriter() {}

  static TensorType typeOf(String name, INDArray a) {
    if (a.dataType().isFPType()) {
      return TensorType.F32;
    }
    if (a.dataType().isIntType()) {
      return TensorType.I64;
    }
    throw new IllegalArgumentException("Cannot export tensor " + name + " of type " + a.dataType()
        + ": only floating and integer tensors are exported");
  }

  /** The tensor's elements in C order as float32 or int64 little-endian bytes. */
  static byte[] littleEndianBytes(String name, INDArray a) {
    TensorType type = typeOf(name, a);
    long n = a.length();
    if (n * type.bytes > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("Cannot export tensor " + name + ": larger than 2 GB");
    }
    ByteBuffer out = ByteBuffer.allocate((int) (n * type.bytes)).order(ByteOrder.LITTLE_ENDIAN);
    if (type == TensorType.F32) {
      // ND4J's own vector copy, which synchronises with a GPU copy (HostMemory's rule).
      float[] values = (a.dataType() == DataType.FLOAT ? a : a.castTo(DataType.FLOAT)).dup('c').reshape(n)
          .toFloatVector();
      out.asFloatBuffer().put(values, 0, (int) n);
    } else {
      long[] values = (a.dataType() == DataType.LONG ? a : a.castTo(DataType.LONG)).dup('c').reshape(n)
          .toLongVector();
      out.asLongBuffer().put(values, 0, (int) n);
    }
    return out.array();
  }

  /** Writes {@code tensors} in order as a PyTorch zip archive to {@code out}. */
  static void writePytorch(List<Map.Entry<String, INDArray>> tensors, OutputStream out) throws IOException {
    var counting = new CountingOutputStream(out);
    try (var zip = new ZipOutputStream(counting)) {
      stored(zip, counting, ARCHIVE + "/data.pkl", pickle(tensors));
      stored(zip, counting, ARCHIVE + "/byteorder", "little".getBytes(UTF_8));
      for (int i = 0; i < tensors.size(); i++) {
        var e = tensors.get(i);
        stored(zip, counting, ARCHIVE + "/data/" + i, littleEndianBytes(e.getKey(), e.getValue()));
      }
      stored(zip, counting, ARCHIVE + "/version", VERSION.getBytes(UTF_8));
    }
  }

  /** One uncompressed record whose data starts at a multiple of {@link #ALIGNMENT}. */
  private static void stored(ZipOutputStream zip, CountingOutputStream counting, String name, byte[] data)
      throws IOException {
    var entry = new ZipEntry(name);
    entry.setMethod(ZipEntry.STORED);
    entry.setSize(data.length);
    entry.setCompressedSize(data.length);
    var crc = new CRC32();
    crc.update(data);
    entry.setCrc(crc.getValue());
    entry.setTime(315532800000L + 86_400_000L); // 1980-01-02, a fixed time so exports are reproducible
    // Local header: 30 bytes + name + extra; pad the extra field (id 0x4246 "FB", as PyTorch) to align the data.
    int nameLength = name.getBytes(UTF_8).length;
    long start = counting.count + 30 + nameLength + 4;
    int pad = (int) ((ALIGNMENT - start % ALIGNMENT) % ALIGNMENT);
    byte[] extra = new byte[4 + pad];
    extra[0] = 'F';
    extra[1] = 'B';
    extra[2] = (byte) (pad & 0xff);
    extra[3] = (byte) (pad >>> 8);
    entry.setExtra(extra);
    zip.putNextEntry(entry);
    zip.write(data);
    zip.closeEntry();
  }

  /** The protocol-2 pickle of an {@code OrderedDict} of {@code _rebuild_tensor_v2} calls over storages 0..N-1. */
  static byte[] pickle(List<Map.Entry<String, INDArray>> tensors) {
    var p = new ByteArrayOutputStream();
    p.write(0x80);
    p.write(2);
    global(p, "collections", "OrderedDict");
    p.write(')');
    p.write('R');
    p.write('(');
    for (int i = 0; i < tensors.size(); i++) {
      var e = tensors.get(i);
      INDArray a = e.getValue();
      TensorType type = typeOf(e.getKey(), a);
      unicode(p, e.getKey());
      global(p, "torch._utils", "_rebuild_tensor_v2");
      p.write('(');
      // persistent id ('storage', torch.FloatStorage, 'i', 'cpu', numel)
      p.write('(');
      unicode(p, "storage");
      global(p, "torch", type.storage);
      unicode(p, Integer.toString(i));
      unicode(p, "cpu");
      integer(p, a.length());
      p.write('t');
      p.write('Q');
      integer(p, 0);
      long[] shape = a.shape();
      long[] stride = new long[shape.length];
      long s = 1;
      for (int d = shape.length - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d];
      }
      tuple(p, shape);
      tuple(p, stride);
      p.write(0x89); // requires_grad False
      global(p, "collections", "OrderedDict");
      p.write(')');
      p.write('R');
      p.write('t');
      p.write('R');
    }
    p.write('u');
    p.write('.');
    return p.toByteArray();
  }

  private static void global(ByteArrayOutputStream p, String module, String name) {
    p.write('c');
    p.writeBytes((module + "\n" + name + "\n").getBytes(UTF_8));
  }

  private static void unicode(ByteArrayOutputStream p, String s) {
    byte[] b = s.getBytes(UTF_8);
    p.write('X');
    p.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
    p.writeBytes(b);
  }

  private static void integer(ByteArrayOutputStream p, long v) {
    if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
      p.write('J');
      p.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
    } else {
      p.write(0x8a); // LONG1, 8 bytes little-endian two's complement
      p.write(8);
      p.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }
  }

  private static void tuple(ByteArrayOutputStream p, long[] values) {
    p.write('(');
    for (long v : values) {
      integer(p, v);
    }
    p.write('t');
  }

  /** Counts the bytes written through it. */
  private static final class CountingOutputStream extends java.io.FilterOutputStream {
    long count;

    CountingOutputStream(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count += len;
    }
  }
}
