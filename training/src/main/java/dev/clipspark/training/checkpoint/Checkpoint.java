package dev.clipspark.training.checkpoint;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a checkpoint saves, as handed to {@link Checkpoints#save}. Tensors are written from the live
 * arrays, so they must not change while the save runs.
 *
 * @param step            the training step the checkpoint is taken after (names its directory)
 * @param trainerState    the trainer's own state (epoch, sample position in the epoch, RNG state,
 *                        metrics): JSON values only (numbers, strings, booleans, null, lists and maps of
 *                        them). Loaded back with integers as {@code Long} and other numbers as
 *                        {@code Double}.
 * @param model           the model architecture
 * @param tokenizerMerges location (local path or Hadoop URI) of the tokenizer's merges file, copied byte
 *                        for byte
 * @param parameters      parameters and buffers of the model (gradients are not saved)
 * @param optimizer       the optimiser's state, or null for a model-only checkpoint
 */
public record Checkpoint(long step, Map<String, Object> trainerState, ModelConfig model, String tokenizerMerges,
    ParameterSet parameters, OptimizerState optimizer) {

  /** Validates and copies the trainer state map (not its nested values). */
  public Checkpoint {
    if (step < 0) {
      throw new IllegalArgumentException("Cannot checkpoint step " + step + ": must be at least 0");
    }
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(tokenizerMerges, "tokenizerMerges");
    Objects.requireNonNull(parameters, "parameters");
    trainerState = Collections.unmodifiableMap(new LinkedHashMap<>(trainerState == null ? Map.of() : trainerState));
  }
}
