package dev.clipspark.training.weights;

import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The one place that turns a location given for a model's weights ({@code train --init}, {@code bench embed})
 * into a model and its parameters, in memory: a ClipSpark checkpoint, as a {@code step-*}
 * directory or a training output directory (its newest complete checkpoint, {@link Checkpoints#resolve}), or a
 * released weights file read by {@link ExternalWeights#read} (OpenAI's TorchScript archives, PyTorch zip archives
 * of state dicts, safetensors). A file on another file system (e.g. {@code hdfs:}) is copied to a local temporary
 * file first.
 */
public final class ModelWeights {

  /**
   * Weights read from a location.
   *
   * @param source what was read: the checkpoint directory, or the file
   * @param model the architecture
   * @param parameters parameters (with zero gradients) and buffers
   * @param tokenizerMerges the checkpoint's copy of its tokenizer's merges; null for a weights file, which
   *     carries none
   * @param tokenizerVocabSize that tokenizer's vocabulary; 0 when there is none
   * @param step the training step of a checkpoint; 0 for a file
   */
  public record Loaded(String source, ModelConfig model, ParameterSet parameters, String tokenizerMerges,
      int tokenizerVocabSize, long step) {}

  private ModelWeights() {}

  /**
   * Reads the weights at {@code location} (a local path or Hadoop URI).
   *
   * @param expected the architecture the caller wants, or null for the weights' own; when given, the weights'
   *     architecture must equal it (names aside)
   * @param dataType floating-point tensors are cast to it (weights files are read as FLOAT)
   * @throws IllegalArgumentException when nothing is there, a directory holds no complete checkpoint, a file
   *     cannot be read as weights ({@link WeightsException}), or the architecture differs from {@code expected}
   */
  public static Loaded load(String location, ModelConfig expected, DataType dataType, Configuration conf) {
    Objects.requireNonNull(location, "location");
    Path path = new Path(location);
    FileStatus status;
    try {
      status = path.getFileSystem(conf).getFileStatus(path);
    } catch (FileNotFoundException e) {
      throw new IllegalArgumentException("Cannot read model weights from " + location + ": nothing is there (give a"
          + " ClipSpark checkpoint directory, a training output directory, or a released weights file)");
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read model weights from " + location + ": " + e.getMessage(), e);
    }
    if (status.isDirectory()) {
      String dir = Checkpoints.resolve(location, conf);
      LoadedCheckpoint c = Checkpoints.loadModel(dir, dataType, conf);
      requireArchitecture(dir, c.model(), expected);
      Object vocab = c.trainerState().get("tokenizer_vocab_size");
      return new Loaded(dir, c.model(), c.parameters(), c.tokenizerMerges(),
          vocab instanceof Number n ? n.intValue() : 0, c.step());
    }
    ImportedWeights imported = readFile(path, expected, conf);
    ParameterSet params = imported.parameters();
    if (dataType != null && dataType != DataType.FLOAT) {
      var cast = new ParameterSet();
      for (String name : params.names()) {
        cast.add(name, params.value(name).castTo(dataType));
      }
      for (String name : params.bufferNames()) {
        INDArray b = params.buffer(name);
        cast.addBuffer(name, b.dataType().isFPType() ? b.castTo(dataType) : b);
      }
      params = cast;
    }
    return new Loaded(location, imported.model(), params, null, 0, 0);
  }

  private static ImportedWeights readFile(Path path, ModelConfig expected, Configuration conf) {
    String scheme = path.toUri().getScheme();
    if (scheme == null || "file".equals(scheme)) {
      return ExternalWeights.read(java.nio.file.Path.of(path.toUri().getPath()), expected);
    }
    java.nio.file.Path local = null;
    try {
      local = Files.createTempFile("clipspark-weights-", "-" + path.getName());
      path.getFileSystem(conf).copyToLocalFile(false, path, new Path(local.toUri()), true);
      return ExternalWeights.read(local, expected);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot copy the weights " + path + " to a local file: " + e.getMessage(), e);
    } finally {
      if (local != null) {
        try {
          Files.deleteIfExists(local);
        } catch (IOException e) {
          // a temporary file left behind is harmless
        }
      }
    }
  }

  /** Whether two architectures are the same, their names aside. */
  public static boolean sameArchitecture(ModelConfig a, ModelConfig b) {
    return a.embedDim() == b.embedDim() && a.vision().equals(b.vision()) && a.text().equals(b.text());
  }

  private static void requireArchitecture(String source, ModelConfig actual, ModelConfig expected) {
    if (expected != null && !sameArchitecture(actual, expected)) {
      throw new IllegalArgumentException(String.format(
          "Cannot use the weights in %s as model %s: they are model %s (%s), not %s; leave --model out to take"
              + " theirs", source, expected.name(), actual.name(), actual, expected));
    }
  }
}
