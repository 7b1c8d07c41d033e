package dev.clipspark.training.checkpoint;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.fs.Path;

/**
 * A checkpoint read back and verified by {@link Checkpoints}.
 *
 * @param directory    the checkpoint's directory (a Hadoop path string)
 * @param step         the training step it was taken after
 * @param kind         what model it holds
 * @param modelName    the model's name
 * @param modelConf    the text of its {@code model.conf}
 * @param parameters   parameters (with zero gradients) and buffers, in the order they were saved
 * @param optimizer    the optimiser's state; empty for a model-only checkpoint or from
 *                     {@link Checkpoints#loadModel}
 * @param trainerState the trainer's state map (integers as {@code Long}, other numbers as {@code Double})
 * @param files        the checkpoint's extra files (verified): name to location
 */
public record LoadedCheckpoint(String directory, long step, CheckpointKind kind, String modelName, String modelConf,
    ParameterSet parameters, Optional<OptimizerState> optimizer, Map<String, Object> trainerState,
    Map<String, String> files) {

  /** Copies the file map. */
  public LoadedCheckpoint {
    files = Map.copyOf(files);
  }

  /**
   * The CLIP architecture of a CLIP checkpoint.
   *
   * @throws CheckpointException if the checkpoint holds another kind of model, or its {@code model.conf} is not a
   *     valid CLIP model
   */
  public ModelConfig model() {
    requireKind(CheckpointKind.CLIP);
    try {
      return ModelConfText.parse(modelName, modelConf, new Path(directory, Checkpoints.MODEL_CONF).toString());
    } catch (IllegalArgumentException | com.typesafe.config.ConfigException e) {
      throw new CheckpointException("Cannot load checkpoint " + directory + ": " + Checkpoints.MODEL_CONF
          + " is not a valid model: " + e.getMessage(), e);
    }
  }

  /** Location of a CLIP checkpoint's copy of the tokenizer's merges file. */
  public String tokenizerMerges() {
    requireKind(CheckpointKind.CLIP);
    return file(Checkpoints.TOKENIZER);
  }

  /**
   * Location of the extra file {@code name}.
   *
   * @throws CheckpointException if the checkpoint has no such file
   */
  public String file(String name) {
    String location = files.get(name);
    if (location == null) {
      throw new CheckpointException("Cannot load checkpoint " + directory + ": it has no file " + name
          + " (its files: " + files.keySet() + ")", null);
    }
    return location;
  }

  /**
   * Checks the checkpoint holds a model of {@code expected} kind.
   *
   * @throws CheckpointException naming the directory, its kind and the kind wanted
   */
  public LoadedCheckpoint requireKind(CheckpointKind expected) {
    if (kind != expected) {
      throw new CheckpointException(String.format(java.util.Locale.ROOT,
          "Cannot use checkpoint %s as a %s checkpoint: it holds a %s model (%s)", directory, expected.json(),
          kind.json(), modelName), null);
    }
    return this;
  }
}
