package dev.clipspark.training.checkpoint;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.util.regex.Pattern;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a checkpoint saves, as handed to {@link Checkpoints#save}. Tensors are written from the live
 * arrays, so they must not change while the save runs.
 *
 * @param step         the training step the checkpoint is taken after (names its directory)
 * @param trainerState the trainer's own state (epoch, sample position in the epoch, RNG state,
 *                     metrics): JSON values only (numbers, strings, booleans, null, lists and maps of
 *                     them). Loaded back with integers as {@code Long} and other numbers as
 *                     {@code Double}.
 * @param kind         what model the checkpoint holds
 * @param modelName    the model's name (recorded in {@code checkpoint.json})
 * @param modelConf    the model's architecture as HOCON, written to {@code model.conf}
 * @param files        extra files copied byte for byte into the checkpoint: the name inside the checkpoint
 *                     (a plain file name, not one of the checkpoint's own files) to the location (local path or
 *                     Hadoop URI) to copy it from; for a CLIP checkpoint the tokenizer's merges file as
 *                     {@value Checkpoints#TOKENIZER}
 * @param parameters   parameters and buffers of the model (gradients are not saved)
 * @param optimizer    the optimiser's state, or null for a model-only checkpoint
 */
public record Checkpoint(long step, Map<String, Object> trainerState, CheckpointKind kind, String modelName,
    String modelConf, Map<String, String> files, ParameterSet parameters, OptimizerState optimizer) {

  private static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

  /** Validates and copies the trainer state map (not its nested values) and the file map. */
  public Checkpoint {
    if (step < 0) {
      throw new IllegalArgumentException("Cannot checkpoint step " + step + ": must be at least 0");
    }
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(modelName, "modelName");
    Objects.requireNonNull(modelConf, "modelConf");
    Objects.requireNonNull(parameters, "parameters");
    trainerState = Collections.unmodifiableMap(new LinkedHashMap<>(trainerState == null ? Map.of() : trainerState));
    files = Collections.unmodifiableMap(new LinkedHashMap<>(files == null ? Map.of() : files));
    for (var e : files.entrySet()) {
      if (!FILE_NAME.matcher(e.getKey()).matches() || Checkpoints.OWN_FILES.contains(e.getKey())) {
        throw new IllegalArgumentException("Cannot checkpoint the extra file '" + e.getKey() + "': its name must be a"
            + " plain file name (letters, digits, '.', '_', '-') other than " + Checkpoints.OWN_FILES);
      }
      Objects.requireNonNull(e.getValue(), "location of " + e.getKey());
    }
    if (kind == CheckpointKind.CLIP && !files.containsKey(Checkpoints.TOKENIZER)) {
      throw new IllegalArgumentException("Cannot checkpoint a CLIP model without its tokenizer "
          + Checkpoints.TOKENIZER);
    }
  }

  /**
   * A CLIP checkpoint.
   *
   * @param model           the model architecture
   * @param tokenizerMerges location (local path or Hadoop URI) of the tokenizer's merges file, copied byte for byte
   */
  public Checkpoint(long step, Map<String, Object> trainerState, ModelConfig model, String tokenizerMerges,
      ParameterSet parameters, OptimizerState optimizer) {
    this(step, trainerState, CheckpointKind.CLIP, Objects.requireNonNull(model, "model").name(),
        ModelConfText.render(model), Map.of(Checkpoints.TOKENIZER, Objects.requireNonNull(tokenizerMerges,
            "tokenizerMerges")), parameters, optimizer);
  }
}
