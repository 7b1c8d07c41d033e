package dev.clipspark.training.checkpoint;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint read back and verified by {@link Checkpoints}.
 *
 * @param directory       the checkpoint's directory (a Hadoop path string)
 * @param step            the training step it was taken after
 * @param model           the model architecture, parsed from {@code model.conf}
 * @param parameters      parameters (with zero gradients) and buffers, in the order they were saved
 * @param optimizer       the optimiser's state; empty for a model-only checkpoint or from
 *                        {@link Checkpoints#loadModel}
 * @param trainerState    the trainer's state map (integers as {@code Long}, other numbers as {@code Double})
 * @param tokenizerMerges location of the checkpoint's copy of the tokenizer's merges file
 */
public record LoadedCheckpoint(String directory, long step, ModelConfig model, ParameterSet parameters,
    Optional<OptimizerState> optimizer, Map<String, Object> trainerState, String tokenizerMerges) {
}
