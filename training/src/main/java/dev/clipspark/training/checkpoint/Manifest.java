package dev.clipspark.training.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The content of {@code checkpoint.json}: the step, the checkpoint's kind (absent in checkpoints written before kinds
 * existed, which are CLIP checkpoints), the model's name, every other file's size and SHA-256,
 * and the index of the tensors in {@code model.bin} and {@code optimizer.bin}.
 */
record Manifest(long step, CheckpointKind kind, String modelName, List<FileEntry> files, List<TensorEntry> tensors) {

  /** Value of the {@code format} field. */
  static final String FORMAT = "clipspark-checkpoint";
  /** Version of this layout. */
  static final int VERSION = 1;

  /**
   * JSON with NaN and infinities written as bare tokens (read back as doubles) and integers read as longs,
   * so trainer state round-trips exactly.
   */
  static final ObjectMapper JSON = JsonMapper.builder()
      .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
      .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
      .enable(DeserializationFeature.USE_LONG_FOR_INTS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .build();

  Manifest {
    files = List.copyOf(files);
    tensors = List.copyOf(tensors);
  }

  /** What a tensor is. */
  enum Kind {
    PARAMETER("parameter"), BUFFER("buffer"), FIRST_MOMENT("first_moment"), SECOND_MOMENT("second_moment");

    final String json;

    Kind(String json) {
      this.json = json;
    }

    static Kind of(String json) {
      for (Kind k : values()) {
        if (k.json.equals(json)) {
          return k;
        }
      }
      throw new IllegalArgumentException("unknown tensor kind " + json);
    }
  }

  /** A file of the checkpoint with its size in bytes and lower-case hex SHA-256. */
  record FileEntry(String name, long size, String sha256) {}

  /** A tensor stored in {@code file} at byte {@code offset}, {@code bytes} long, raw little-endian. */
  record TensorEntry(String file, String name, Kind kind, DataType dataType, long[] shape, long offset, long bytes) {
    TensorEntry {
      shape = shape.clone();
    }

    @Override
    public long[] shape() {
      return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof TensorEntry t && file.equals(t.file) && name.equals(t.name) && kind == t.kind
          && dataType == t.dataType && Arrays.equals(shape, t.shape) && offset == t.offset && bytes == t.bytes;
    }

    @Override
    public int hashCode() {
      return name.hashCode() * 31 + Long.hashCode(offset);
    }
  }

  /** The entry of file {@code name}, or null. */
  FileEntry file(String name) {
    return files.stream().filter(f -> f.name().equals(name)).findFirst().orElse(null);
  }

  /** The tensors stored in file {@code name}, in file order. */
  List<TensorEntry> tensorsIn(String name) {
    return tensors.stream().filter(t -> t.file().equals(name)).toList();
  }

  byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT);
    root.put("version", VERSION);
    root.put("step", step);
    root.put("kind", kind.json());
    root.put("model", modelName);
    ArrayNode fileArray = root.putArray("files");
    for (FileEntry f : files) {
      fileArray.addObject().put("name", f.name()).put("size", f.size()).put("sha256", f.sha256());
    }
    ArrayNode tensorArray = root.putArray("tensors");
    for (TensorEntry t : tensors) {
      ObjectNode n = tensorArray.addObject();
      n.put("file", t.file()).put("name", t.name()).put("kind", t.kind().json)
          .put("dtype", TensorIo.dtypeName(t.dataType()));
      ArrayNode shape = n.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      n.put("offset", t.offset()).put("bytes", t.bytes());
    }
    try {
      return JSON.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("Cannot write checkpoint.json: " + e.getMessage(), e);
    }
  }

  /**
   * Parses {@code checkpoint.json}.
   *
   * @throws IllegalArgumentException saying what is wrong with it
   */
  static Manifest parse(byte[] json) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("it is not valid JSON (" + e.getMessage() + ")", e);
    }
    if (root == null || !FORMAT.equals(root.path("format").asText())) {
      throw new IllegalArgumentException("its format is not " + FORMAT);
    }
    if (root.path("version").asInt() != VERSION) {
      throw new IllegalArgumentException("its version " + root.path("version") + " is not " + VERSION);
    }
    var files = new ArrayList<FileEntry>();
    for (JsonNode f : required(root, "files")) {
      files.add(new FileEntry(required(f, "name").asText(), required(f, "size").asLong(),
          required(f, "sha256").asText()));
    }
    var tensors = new ArrayList<TensorEntry>();
    for (JsonNode t : required(root, "tensors")) {
      JsonNode shapeNode = required(t, "shape");
      long[] shape = new long[shapeNode.size()];
      for (int i = 0; i < shape.length; i++) {
        shape[i] = shapeNode.get(i).asLong();
      }
      tensors.add(new TensorEntry(required(t, "file").asText(), required(t, "name").asText(),
          Kind.of(required(t, "kind").asText()), TensorIo.dataType(required(t, "dtype").asText()), shape,
          required(t, "offset").asLong(), required(t, "bytes").asLong()));
    }
    JsonNode kindNode = root.get("kind");
    CheckpointKind kind = kindNode == null || kindNode.isNull() ? CheckpointKind.CLIP : CheckpointKind.of(kindNode.asText());
    return new Manifest(required(root, "step").asLong(), kind, required(root, "model").asText(), files, tensors);
  }

  private static JsonNode required(JsonNode node, String field) {
    JsonNode value = node.get(field);
    if (value == null || value.isNull()) {
      throw new IllegalArgumentException("field " + field + " is missing");
    }
    return value;
  }
}
