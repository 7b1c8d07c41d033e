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
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a checkpoint and commits it: {@link CommitMode#RENAME} writes into a temporary directory, verifies it,
 * renames it into place and moves the pointer by rename; {@link CommitMode#POINTER} writes into the final
 * directory, verifies it and publishes it by overwriting the pointer in one create.
 */
final class CheckpointWriter {

  private static final Logger LOG = LoggerFactory.getLogger(CheckpointWriter.class);

  private CheckpointWriter() {}

  static Path save(String outDir, Checkpoint checkpoint, int keep, CommitMode mode, Configuration conf) {
    if (keep < 0) {
      throw new IllegalArgumentException("Cannot keep " + keep + " checkpoints: must be at least 0 (0 keeps all)");
    }
    if (mode == null) {
      throw new IllegalArgumentException("Cannot save a checkpoint without a commit mode");
    }
    Path root = new Path(outDir, Checkpoints.CHECKPOINTS_DIR);
    String name = Checkpoints.directoryName(checkpoint.step());
    Path target = new Path(root, name);
    CommitMode commit = mode.resolve(root, conf);
    try {
      FileSystem fs = root.getFileSystem(conf);
      Path saved = commit == CommitMode.POINTER
          ? commitByPointer(fs, root, target, checkpoint, conf)
          : commitByRename(fs, root, target, checkpoint, conf);
      LOG.debug("Saved checkpoint {} ({} commit)", saved, commit.name().toLowerCase(Locale.ROOT));
      if (keep > 0) {
        retain(fs, root, keep, checkpoint.step());
      }
      return fs.makeQualified(target);
    } catch (IOException e) {
      throw new UncheckedIOException(String.format("Cannot save the checkpoint of step %d to %s: %s",
          checkpoint.step(), target, e.getMessage()), e);
    }
  }

  /** Writes into a temporary sibling, verifies, renames it to {@code target}, then renames a new pointer in place. */
  private static Path commitByRename(FileSystem fs, Path root, Path target, Checkpoint checkpoint, Configuration conf)
      throws IOException {
    Path tmp = new Path(root, Checkpoints.TMP_PREFIX + target.getName() + "-" + UUID.randomUUID());
    boolean renamed = false;
    try {
      writeAndVerify(fs, tmp, checkpoint, conf);
      if (fs.exists(target)) {
        LOG.warn("Replacing the existing checkpoint {}", target);
        fs.delete(target, true);
      }
      if (!fs.rename(tmp, target)) {
        throw new IOException("cannot rename " + tmp + " to " + target);
      }
      renamed = true;
      renamePointer(fs, root, target.getName());
      return target;
    } finally {
      if (!renamed) {
        deleteUnfinished(fs, tmp);
      }
    }
  }

  /**
   * Writes straight into {@code target} (deleting what an earlier attempt at this step left there first),
   * verifies, then publishes it by overwriting the pointer in a single create; never renames.
   */
  private static Path commitByPointer(FileSystem fs, Path root, Path target, Checkpoint checkpoint,
      Configuration conf) throws IOException {
    if (fs.exists(target)) {
      LOG.warn("Deleting the existing {} (an earlier save of this step) before writing it again", target);
      if (!fs.delete(target, true)) {
        throw new IOException("cannot delete the existing " + target);
      }
    }
    boolean published = false;
    try {
      writeAndVerify(fs, target, checkpoint, conf);
      overwritePointer(fs, root, target.getName());
      published = true;
      return target;
    } finally {
      if (!published) {
        // The pointer still names the previous checkpoint; without this delete (a crash) loading skips the
        // directory as incomplete and the next save of this step deletes it.
        deleteUnfinished(fs, target);
      }
    }
  }

  /** Writes every file into {@code dir}, {@code checkpoint.json} last, then re-reads them all against it. */
  private static void writeAndVerify(FileSystem fs, Path dir, Checkpoint checkpoint, Configuration conf)
      throws IOException {
    if (!fs.mkdirs(dir)) {
      throw new IOException("cannot create directory " + dir);
    }
    var files = new ArrayList<FileEntry>();
    var tensors = new ArrayList<TensorEntry>();
    files.add(writeTensors(fs, dir, Checkpoints.MODEL, modelTensors(checkpoint.parameters()), tensors));
    if (checkpoint.optimizer() != null) {
      files.add(writeTensors(fs, dir, Checkpoints.OPTIMIZER, optimizerTensors(checkpoint.optimizer()), tensors));
    }
    files.add(writeBytes(fs, dir, Checkpoints.STATE, stateJson(checkpoint)));
    files.add(writeBytes(fs, dir, Checkpoints.MODEL_CONF, checkpoint.modelConf().getBytes(UTF_8)));
    for (var extra : checkpoint.files().entrySet()) {
      files.add(copy(fs, dir, extra.getKey(), new Path(extra.getValue()), conf));
    }
    var manifest = new Manifest(checkpoint.step(), checkpoint.kind(), checkpoint.modelName(), files, tensors);
    writeBytes(fs, dir, Checkpoints.MANIFEST, manifest.toJson());
    try {
      CheckpointReader.verify(fs, dir);
    } catch (CheckpointException e) {
      throw new IOException("reading it back failed: " + e.getMessage(), e);
    }
  }

  private static void deleteUnfinished(FileSystem fs, Path dir) {
    try {
      fs.delete(dir, true);
    } catch (IOException e) {
      LOG.warn("Cannot delete the unfinished checkpoint {}: {}", dir, e.getMessage());
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
      sync(raw);
    }
    return new FileEntry(file, offset, Sha256.hex(digest));
  }

  private static FileEntry writeBytes(FileSystem fs, Path dir, String file, byte[] content) throws IOException {
    try (FSDataOutputStream out = fs.create(new Path(dir, file), false)) {
      out.write(content);
      sync(out);
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
      sync(raw);
    } catch (FileNotFoundException e) {
      throw new IOException("the file " + source + " to save as " + file + " does not exist", e);
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

  /**
   * Flushes {@code out} to stable storage where the stream can ({@code hdfs:}); object stores cannot (their
   * data becomes durable and visible at close) and S3A may reject or warn on {@code hsync}, so they only flush.
   */
  private static void sync(FSDataOutputStream out) throws IOException {
    if (out.hasCapability(StreamCapabilities.HSYNC)) {
      out.hsync();
    } else {
      out.flush();
    }
  }

  /** Replaces {@code root/latest} by writing a temporary file and renaming it over the old one. */
  private static void renamePointer(FileSystem fs, Path root, String name) throws IOException {
    Path latest = new Path(root, Checkpoints.LATEST);
    Path tmp = new Path(root, Checkpoints.TMP_PREFIX + Checkpoints.LATEST + "-" + UUID.randomUUID());
    try (FSDataOutputStream out = fs.create(tmp, false)) {
      out.write(pointerBytes(name));
      sync(out);
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

  /**
   * Replaces {@code root/latest} with one create-with-overwrite: on an object store one PUT, so readers see
   * the old pointer or the new one, never a mix. (On a file system the overwrite truncates first; a crash then
   * leaves an empty or partial pointer, which loading ignores before scanning the step directories.)
   */
  private static void overwritePointer(FileSystem fs, Path root, String name) throws IOException {
    try (FSDataOutputStream out = fs.create(new Path(root, Checkpoints.LATEST), true)) {
      out.write(pointerBytes(name));
      sync(out);
    }
  }

  private static byte[] pointerBytes(String name) {
    return (name + "\n").getBytes(UTF_8);
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
