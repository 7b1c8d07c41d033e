package dev.clipspark.training.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
 * and byte range, then the raw little-endian data.
 */
final class Safetensors {

  /** Bytes of the length prefix. */
  static final int PREFIX = 8;
  /** Largest header accepted (the format's own limit). */
  static final long MAX_HEADER = 100L << 20;

  private static final ObjectMapper JSON = new ObjectMapper();

  private Safetensors() {}

  /** Whether {@code head} (the file's first bytes) looks like safetensors: a sane length then '{'. */
  static boolean looksLike(byte[] head, long fileSize) {
    if (head.length < PREFIX + 1) {
      return false;
    }
    long n = ByteBuffer.wrap(head, 0, PREFIX).order(ByteOrder.LITTLE_ENDIAN).getLong();
    return n > 1 && n <= MAX_HEADER && head[PREFIX] == '{';
  }

  /**
   * The tensors of {@code file} by name, read lazily.
   *
   * @throws WeightsException if the header is damaged or a tensor's bytes lie outside the file
   */
  static Map<String, StoredTensor> read(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      ByteBuffer len = ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, len, 0, file);
      long headerLength = len.flip().getLong();
      if (headerLength < 2 || headerLength > MAX_HEADER || PREFIX + headerLength > size) {
        throw new WeightsException(String.format("Cannot read %s: its safetensors header claims %d bytes but the "
            + "file has %d (a truncated or damaged file)", file, headerLength, size));
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLength);
      readFully(ch, header, PREFIX, file);
      JsonNode root;
      try {
        root = JSON.readTree(header.array());
      } catch (IOException e) {
        throw new WeightsException("Cannot read " + file + ": its safetensors header is not valid JSON ("
            + e.getMessage() + ")", e);
      }
      long dataStart = PREFIX + headerLength;
      long dataSize = size - dataStart;
      var out = new LinkedHashMap<String, StoredTensor>();
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        var e = it.next();
        if (e.getKey().equals("__metadata__")) {
          continue;
        }
        out.put(e.getKey(), tensor(file, e.getKey(), e.getValue(), dataStart, dataSize));
      }
      return out;
    } catch (IOException e) {
      throw new WeightsException("Cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  private static StoredTensor tensor(Path file, String name, JsonNode node, long dataStart, long dataSize) {
    String what = file + ": tensor " + name;
    TensorType type = TensorType.ofSafetensors(node.path("dtype").asText());
    if (type == null) {
      throw new WeightsException(String.format("Cannot read %s: dtype '%s' is not supported (supported: %s)", what,
          node.path("dtype").asText(), TensorType.safetensorsNames()));
    }
    JsonNode shapeNode = node.path("shape");
    JsonNode offsets = node.path("data_offsets");
    if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
      throw new WeightsException("Cannot read " + what + ": its header entry needs a shape and two data_offsets, "
          + "not " + node);
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shapeNode.get(i).asLong(-1);
      if (shape[i] < 0) {
        throw new WeightsException("Cannot read " + what + ": its shape " + shapeNode + " is not a list of sizes");
      }
    }
    long begin = offsets.get(0).asLong(-1);
    long end = offsets.get(1).asLong(-1);
    long bytes = Math.multiplyExact(StoredTensor.count(shape), type.bytes);
    if (begin < 0 || end - begin != bytes) {
      throw new WeightsException(String.format("Cannot read %s: its byte range [%d, %d) does not hold %s %s "
          + "(%d bytes)", what, begin, end, type.safetensors, Arrays.toString(shape), bytes));
    }
    if (end > dataSize) {
      throw new WeightsException(String.format("Cannot read %s: its bytes [%d, %d) lie past the end of the data "
          + "(%d bytes; a truncated file)", what, begin, end, dataSize));
    }
    if (bytes > Integer.MAX_VALUE - 16) {
      throw new WeightsException("Cannot read " + what + ": larger than 2 GB");
    }
    return new StoredTensor() {
      @Override
      public TensorType type() {
        return type;
      }

      @Override
      public long[] shape() {
        return shape.clone();
      }

      @Override
      public INDArray load() {
        byte[] data = new byte[(int) bytes];
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
          readFully(ch, ByteBuffer.wrap(data), dataStart + begin, file);
        } catch (IOException e) {
          throw new WeightsException("Cannot read " + what + ": " + e.getMessage(), e);
        }
        long[] stride = new long[shape.length];
        long s = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
          stride[d] = s;
          s *= shape[d];
        }
        return StoredTensor.gather(what, type, data, 0, shape, stride);
      }
    };
  }

  private static void readFully(FileChannel ch, ByteBuffer into, long position, Path file) throws IOException {
    long at = position;
    while (into.hasRemaining()) {
      int n = ch.read(into, at);
      if (n < 0) {
        throw new WeightsException("Cannot read " + file + ": the file ends early (a truncated file)");
      }
      at += n;
    }
  }

  /**
   * Writes named tensors (FLOAT as F32, LONG as I64) in order, with {@code {"format": "pt"}} metadata; the header
   * is padded with spaces to a multiple of 8 bytes as the reference writer does.
   */
  static void write(List<Map.Entry<String, INDArray>> tensors, OutputStream out) throws IOException {
    ObjectNode header = JSON.createObjectNode();
    header.putObject("__metadata__").put("format", "pt");
    long offset = 0;
    for (var e : tensors) {
      TensorType type = WeightsWriter.typeOf(e.getKey(), e.getValue());
      long bytes = e.getValue().length() * type.bytes;
      ObjectNode n = header.putObject(e.getKey());
      n.put("dtype", type.safetensors);
      ArrayNode shape = n.putArray("shape");
      for (long d : e.getValue().shape()) {
        shape.add(d);
      }
      n.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    byte[] json = JSON.writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    byte[] head = Arrays.copyOf(json, padded);
    Arrays.fill(head, json.length, padded, (byte) ' ');
    out.write(ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
    out.write(head);
    for (var e : tensors) {
      out.write(WeightsWriter.littleEndianBytes(e.getKey(), e.getValue()));
    }
  }
}
