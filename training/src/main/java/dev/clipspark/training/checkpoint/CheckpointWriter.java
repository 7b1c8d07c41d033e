package dev.clipspark.training.checkpoint;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.clipspark.training.checkpoint.Manifest.FileEntry;
import dev.clipspark.training.checkpoint.Manifest.Kind;
import dev.clipspark.training.checkpoint.Manifest.TensorEntry;
import dev.clipspark.training.nn.ParameterSet;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.DigestOutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Writes a checkpoint into a temporary directory, verifies it, renames it into place and moves the pointer. */
final class CheckpointWriter {

  private static final Logger LOG = LoggerFactory.getLogger(CheckpointWriter.class);

  private CheckpointWriter() {}

  static Path save(String outDir, Checkpoint checkpoint, int keep, Configuration conf) {
    if (keep < 0) {
      throw new IllegalArgumentException("Cannot keep " + keep + " checkpoints: must be at least 0 (0 keeps all)");
    }
    Path root = new Path(outDir, Checkpoints.CHECKPOINTS_DIR);
    String name = Checkpoints.directoryName(checkpoint.step());
    Path target = new Path(root, name);
    Path tmp = new Path(root, Checkpoints.TMP_PREFIX + name + "-" + UUID.randomUUID());
    FileSystem fs = null;
    boolean renamed = false;
    try {
      fs = root.getFileSystem(conf);
      if (!fs.mkdirs(tmp)) {
        throw new IOException("cannot create directory " + tmp);
      }
      var files = new ArrayList<FileEntry>();
      var tensors = new ArrayList<TensorEntry>();
      files.add(writeTensors(fs, tmp, Checkpoints.MODEL, modelTensors(checkpoint.parameters()), tensors));
      if (checkpoint.optimizer() != null) {
        files.add(writeTensors(fs, tmp, Checkpoints.OPTIMIZER, optimizerTensors(checkpoint.optimizer()), tensors));
      }
      files.add(writeBytes(fs, tmp, Checkpoints.STATE, stateJson(checkpoint)));
      files.add(writeBytes(fs, tmp, Checkpoints.MODEL_CONF, ModelConfText.render(checkpoint.model()).getBytes(UTF_8)));
      files.add(copy(fs, tmp, Checkpoints.TOKENIZER, new Path(checkpoint.tokenizerMerges()), conf));
      var manifest = new Manifest(checkpoint.step(), checkpoint.model().name(), files, tensors);
      writeBytes(fs, tmp, Checkpoints.MANIFEST, manifest.toJson());
      try {
        CheckpointReader.verify(fs, tmp);
      } catch (CheckpointException e) {
        throw new IOException("reading it back failed: " + e.getMessage(), e);
      }
      if (fs.exists(target)) {
        LOG.warn("Replacing the existing checkpoint {}", target);
        fs.delete(target, true);
      }
      if (!fs.rename(tmp, target)) {
        throw new IOException("cannot rename " + tmp + " to " + target);
      }
      renamed = true;
      writePointer(fs, root, name);
      if (keep > 0) {
        retain(fs, root, keep, checkpoint.step());
      }
      return fs.makeQualified(target);
    } catch (IOException e) {
      throw new UncheckedIOException(String.format("Cannot save the checkpoint of step %d to %s: %s",
          checkpoint.step(), target, e.getMessage()), e);
    } finally {
      if (!renamed && fs != null) {
        try {
          fs.delete(tmp, true);
        } catch (IOException e) {
          LOG.warn("Cannot delete the unfinished checkpoint {}: {}", tmp, e.getMessage());
        }
      }
    }
  }

  private static Map<TensorEntry, INDArray> modelTensors(ParameterSet parameters) {
    var out = new LinkedHashMap<TensorEntry, INDArray>();
    for (String name : parameters.names()) {
      out.put(entry(Checkpoints.MODEL, name, Kind.PARAMETER, parameters.value(name)), parameters.value(name));
    }
    for (String name : parameters.bufferNames()) {
      out.put(entry(Checkpoints.MODEL, name, Kind.BUFFER, parameters.buffer(name)), parameters.buffer(name));
    }
    return out;
  }

  private static Map<TensorEntry, INDArray> optimizerTensors(OptimizerState state) {
    var out = new LinkedHashMap<TensorEntry, INDArray>();
    state.firstMoments().forEach((name, m) -> out.put(entry(Checkpoints.OPTIMIZER, name, Kind.FIRST_MOMENT, m), m));
    state.secondMoments().forEach((name, v) -> out.put(entry(Checkpoints.OPTIMIZER, name, Kind.SECOND_MOMENT, v), v));
    return out;
  }

  /** An entry without its position yet. */
  private static TensorEntry entry(String file, String name, Kind kind, INDArray a) {
    return new TensorEntry(file, name, kind, a.dataType(), a.shape(), -1, -1);
  }

  private static FileEntry writeTensors(FileSystem fs, Path dir, String file, Map<TensorEntry, INDArray> tensors,
      List<TensorEntry> index) throws IOException {
    Path path = new Path(dir, file);
    byte[] chunk = new byte[TensorIo.CHUNK];
    var digest = Sha256.digest();
    long offset = 0;
    try (FSDataOutputStream raw = fs.create(path, false);
        var out = new DigestOutputStream(raw, digest)) {
      for (var e : tensors.entrySet()) {
        TensorEntry t = e.getKey();
        long bytes = TensorIo.write(e.getValue(), out, chunk);
        index.add(new TensorEntry(file, t.name(), t.kind(), t.dataType(), t.shape(), offset, bytes));
        offset += bytes;
      }
      out.flush();
      raw.hsync();
    }
    return new FileEntry(file, offset, Sha256.hex(digest));
  }

  private static FileEntry writeBytes(FileSystem fs, Path dir, String file, byte[] content) throws IOException {
    try (FSDataOutputStream out = fs.create(new Path(dir, file), false)) {
      out.write(content);
      out.hsync();
    }
    return new FileEntry(file, content.length, Sha256.hex(content));
  }

  private static FileEntry copy(FileSystem fs, Path dir, String file, Path source, Configuration conf)
      throws IOException {
    var digest = Sha256.digest();
    byte[] chunk = new byte[1 << 16];
    long size = 0;
    try (InputStream in = source.getFileSystem(conf).open(source);
        FSDataOutputStream raw = fs.create(new Path(dir, file), false);
        var out = new DigestOutputStream(raw, digest)) {
      int n;
      while ((n = in.read(chunk)) >= 0) {
        out.write(chunk, 0, n);
        size += n;
      }
      out.flush();
      raw.hsync();
    } catch (FileNotFoundException e) {
      throw new IOException("the tokenizer merges file " + source + " does not exist", e);
    }
    return new FileEntry(file, size, Sha256.hex(digest));
  }

  private static byte[] stateJson(Checkpoint checkpoint) throws IOException {
    var state = new LinkedHashMap<String, Object>();
    state.put("step", checkpoint.step());
    state.put("optimizer_step_count", checkpoint.optimizer() == null ? null : checkpoint.optimizer().stepCount());
    state.put("trainer_state", checkpoint.trainerState());
    try {
      return Manifest.JSON.writeValueAsBytes(state);
    } catch (JsonProcessingException e) {
      throw new IOException("the trainer state cannot be written as JSON: " + e.getOriginalMessage(), e);
    }
  }

  /** Replaces {@code root/latest} by writing a temporary file and renaming it over the old one. */
  private static void writePointer(FileSystem fs, Path root, String name) throws IOException {
    Path latest = new Path(root, Checkpoints.LATEST);
    Path tmp = new Path(root, Checkpoints.TMP_PREFIX + Checkpoints.LATEST + "-" + UUID.randomUUID());
    try (FSDataOutputStream out = fs.create(tmp, false)) {
      out.write((name + "\n").getBytes(UTF_8));
      out.hsync();
    }
    if (!fs.rename(tmp, latest)) {
      // File systems whose rename does not replace: a crash between these two calls leaves no pointer,
      // and loading then scans the step directories.
      fs.delete(latest, false);
      if (!fs.rename(tmp, latest)) {
        fs.delete(tmp, false);
        throw new IOException("cannot rename " + tmp + " to " + latest);
      }
    }
  }

  /** Deletes complete checkpoints beyond the newest {@code keep}, and unfinished ones older than {@code step}. */
  private static void retain(FileSystem fs, Path root, int keep, long step) throws IOException {
    List<Checkpoints.StepDir> dirs = Checkpoints.stepDirs(fs, root);
    dirs.sort(Comparator.comparingLong(Checkpoints.StepDir::step).reversed());
    int kept = 0;
    for (Checkpoints.StepDir d : dirs) {
      boolean complete = fs.exists(new Path(d.path(), Checkpoints.MANIFEST));
      if (d.step() == step) {
        continue;
      }
      if (complete && kept < keep - 1) {
        kept++;
        continue;
      }
      if (complete || d.step() < step) {
        LOG.info("Deleting checkpoint {} (keeping the newest {})", d.path(), keep);
        fs.delete(d.path(), true);
      }
    }
  }
}
