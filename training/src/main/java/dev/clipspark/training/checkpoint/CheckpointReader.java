package dev.clipspark.training.checkpoint;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.type.TypeReference;
import com.typesafe.config.ConfigException;
import dev.clipspark.training.checkpoint.Manifest.FileEntry;
import dev.clipspark.training.checkpoint.Manifest.Kind;
import dev.clipspark.training.checkpoint.Manifest.TensorEntry;
import dev.clipspark.training.nn.ParameterSet;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.security.DigestInputStream;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Reads a checkpoint directory, checking every file it reads against {@code checkpoint.json}. */
final class CheckpointReader {

  private static final List<String> REQUIRED = List.of(Checkpoints.MODEL, Checkpoints.STATE, Checkpoints.MODEL_CONF);

  private final FileSystem fs;
  private final Path dir;

  private CheckpointReader(FileSystem fs, Path dir) {
    this.fs = fs;
    this.dir = dir;
  }

  /**
   * Loads a checkpoint.
   *
   * @param dataType      floating-point tensors are cast to it; null keeps the stored types
   * @param withOptimizer whether to read {@code optimizer.bin}
   */
  static LoadedCheckpoint load(String directory, DataType dataType, boolean withOptimizer, Configuration conf) {
    Path dir = new Path(directory);
    FileSystem fs;
    try {
      fs = dir.getFileSystem(conf);
    } catch (IOException e) {
      throw new CheckpointException("Cannot load checkpoint " + directory + ": " + e.getMessage(), e);
    }
    return new CheckpointReader(fs, dir).load(dataType, withOptimizer);
  }

  /** Re-reads every file of the checkpoint in {@code dir} and checks its size and SHA-256. */
  static void verify(FileSystem fs, Path dir) {
    var reader = new CheckpointReader(fs, dir);
    Manifest manifest = reader.manifest();
    for (FileEntry f : manifest.files()) {
      reader.readFile(f, List.of(), null);
    }
  }

  private LoadedCheckpoint load(DataType dataType, boolean withOptimizer) {
    Manifest manifest = manifest();
    byte[] stateBytes = readSmall(Checkpoints.STATE, manifest);
    byte[] confBytes = readSmall(Checkpoints.MODEL_CONF, manifest);
    var extra = new LinkedHashMap<String, String>();
    for (FileEntry f : manifest.files()) {
      if (!Checkpoints.OWN_FILES.contains(f.name())) {
        readFile(f, List.of(), null);
        extra.put(f.name(), new Path(dir, f.name()).toString());
      }
    }

    Map<String, Object> state;
    try {
      state = Manifest.JSON.readValue(stateBytes, new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw fail(Checkpoints.STATE + " is not a JSON object: " + e.getMessage(), e);
    }
    String modelConf = new String(confBytes, UTF_8);
    if (manifest.kind() == CheckpointKind.CLIP) {
      if (!extra.containsKey(Checkpoints.TOKENIZER)) {
        throw fail(Checkpoints.MANIFEST + " does not list " + Checkpoints.TOKENIZER, null);
      }
      try {
        ModelConfText.parse(manifest.modelName(), modelConf, new Path(dir, Checkpoints.MODEL_CONF).toString());
      } catch (IllegalArgumentException | ConfigException e) {
        throw fail(Checkpoints.MODEL_CONF + " is not a valid model: " + e.getMessage(), e);
      }
    }

    var params = new ParameterSet();
    readFile(manifest.file(Checkpoints.MODEL), manifest.tensorsIn(Checkpoints.MODEL), (t, a) -> {
      INDArray value = cast(a, dataType);
      if (t.kind() == Kind.PARAMETER) {
        params.add(t.name(), value);
      } else if (t.kind() == Kind.BUFFER) {
        params.addBuffer(t.name(), value);
      } else {
        throw fail(Checkpoints.MODEL + " holds tensor " + t.name() + " of kind " + t.kind().json, null);
      }
    });

    Optional<OptimizerState> optimizer = Optional.empty();
    FileEntry optimizerFile = manifest.file(Checkpoints.OPTIMIZER);
    if (withOptimizer && optimizerFile != null) {
      var m = new LinkedHashMap<String, INDArray>();
      var v = new LinkedHashMap<String, INDArray>();
      readFile(optimizerFile, manifest.tensorsIn(Checkpoints.OPTIMIZER), (t, a) -> {
        INDArray value = cast(a, dataType);
        if (t.kind() == Kind.FIRST_MOMENT) {
          m.put(t.name(), value);
        } else if (t.kind() == Kind.SECOND_MOMENT) {
          v.put(t.name(), value);
        } else {
          throw fail(Checkpoints.OPTIMIZER + " holds tensor " + t.name() + " of kind " + t.kind().json, null);
        }
      });
      Object count = state.get("optimizer_step_count");
      if (!(count instanceof Long)) {
        throw fail(Checkpoints.STATE + " has no optimizer_step_count though the checkpoint has " + Checkpoints.OPTIMIZER, null);
      }
      try {
        optimizer = Optional.of(new OptimizerState((Long) count, m, v));
      } catch (IllegalArgumentException e) {
        throw fail(Checkpoints.OPTIMIZER + " is inconsistent: " + e.getMessage(), e);
      }
    }

    Object step = state.get("step");
    if (!(step instanceof Long) || (Long) step != manifest.step()) {
      throw fail(Checkpoints.STATE + " has step " + step + " but " + Checkpoints.MANIFEST + " has " + manifest.step(), null);
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> trainer = state.get("trainer_state") instanceof Map<?, ?> t
        ? (Map<String, Object>) t : Map.of();
    return new LoadedCheckpoint(dir.toString(), manifest.step(), manifest.kind(), manifest.modelName(), modelConf,
        params, optimizer, trainer, extra);
  }

  private static INDArray cast(INDArray a, DataType dataType) {
    return dataType == null || !a.dataType().isFPType() || a.dataType() == dataType ? a : a.castTo(dataType);
  }

  /** Reads and parses {@code checkpoint.json}, and checks it lists the required files. */
  private Manifest manifest() {
    Path path = new Path(dir, Checkpoints.MANIFEST);
    byte[] bytes;
    try {
      if (!fs.exists(dir)) {
        throw fail("no such directory", null);
      }
      if (!fs.exists(path)) {
        throw fail(Checkpoints.MANIFEST + " is missing, so the checkpoint is incomplete", null);
      }
      try (InputStream in = fs.open(path)) {
        bytes = in.readAllBytes();
      }
    } catch (IOException e) {
      throw fail("cannot read " + Checkpoints.MANIFEST + ": " + e.getMessage(), e);
    }
    Manifest manifest;
    try {
      manifest = Manifest.parse(bytes);
    } catch (IllegalArgumentException e) {
      throw fail(Checkpoints.MANIFEST + " is unreadable: " + e.getMessage(), e);
    }
    for (String file : REQUIRED) {
      if (manifest.file(file) == null) {
        throw fail(Checkpoints.MANIFEST + " does not list " + file, null);
      }
    }
    return manifest;
  }

  private byte[] readSmall(String file, Manifest manifest) {
    var out = new ByteArrayOutputStream();
    readFile(manifest.file(file), List.of(), null, out);
    return out.toByteArray();
  }

  private interface TensorSink {
    void accept(TensorEntry entry, INDArray value);
  }

  private void readFile(FileEntry file, List<TensorEntry> tensors, TensorSink sink) {
    readFile(file, tensors, sink, null);
  }

  /**
   * Streams one file once: decodes its tensors into {@code sink}, copies the rest to {@code copy} (if not
   * null), and checks the size and SHA-256 against {@code file}.
   */
  private void readFile(FileEntry file, List<TensorEntry> tensors, TensorSink sink, ByteArrayOutputStream copy) {
    Path path = new Path(dir, file.name());
    var digest = Sha256.digest();
    byte[] chunk = new byte[TensorIo.CHUNK];
    try {
      long length;
      try {
        length = fs.getFileStatus(path).getLen();
      } catch (FileNotFoundException e) {
        throw fail(file.name() + " is missing", e);
      }
      if (length != file.size()) {
        throw fail(String.format("%s has %d bytes, expected %d: the file is truncated or corrupt",
            file.name(), length, file.size()), null);
      }
      try (InputStream in = new DigestInputStream(fs.open(path), digest)) {
        long position = 0;
        for (TensorEntry t : tensors.stream().sorted(Comparator.comparingLong(TensorEntry::offset)).toList()) {
          long expected = TensorIo.byteSize(t.dataType(), t.shape());
          if (t.offset() < position || t.bytes() != expected || t.offset() + t.bytes() > file.size()) {
            throw fail(String.format("%s lists tensor %s at bytes %d to %d of %s, which does not fit",
                Checkpoints.MANIFEST, t.name(), t.offset(), t.offset() + t.bytes(), file.name()), null);
          }
          position += skip(in, t.offset() - position, chunk);
          INDArray value = TensorIo.read(in, t.dataType(), t.shape(), chunk);
          position += t.bytes();
          sink.accept(t, value);
        }
        int n;
        while ((n = in.read(chunk)) >= 0) {
          if (copy != null) {
            copy.write(chunk, 0, n);
          }
        }
      }
    } catch (IOException e) {
      throw fail("cannot read " + file.name() + ": " + e.getMessage(), e);
    }
    String actual = Sha256.hex(digest);
    if (!actual.equals(file.sha256())) {
      throw fail(String.format("%s fails its SHA-256 check (%s, expected %s): the file is corrupt",
          file.name(), actual, file.sha256()), null);
    }
  }

  private static long skip(InputStream in, long bytes, byte[] chunk) throws IOException {
    long left = bytes;
    while (left > 0) {
      int n = (int) Math.min(left, chunk.length);
      TensorIo.readFully(in, chunk, n);
      left -= n;
    }
    return bytes;
  }

  private CheckpointException fail(String problem, Throwable cause) {
    return new CheckpointException("Cannot load checkpoint " + dir + ": " + problem, cause);
  }
}
