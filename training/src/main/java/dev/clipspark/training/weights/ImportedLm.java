package dev.clipspark.training.weights;

import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * GPT-2-family language-model weights read from an outside file by {@link Gpt2Weights#read}.
 *
 * @param model        the architecture: the shapes' sizes with the attention heads and LayerNorm epsilon of
 *                     {@code config.json} or of the given model; named after the packaged model it equals (e.g.
 *                     {@code gpt2}), else after the given model, else after the file's folder or name
 * @param parameters   every parameter of {@link dev.clipspark.training.lm.Gpt2Parameters#specs} in float32 with
 *                     Hugging Face's {@code GPT2Model} names, in that order
 * @param format       the file's format: {@value ExternalWeights#PYTORCH}, {@value ExternalWeights#TORCHSCRIPT} or
 *                     {@value ExternalWeights#SAFETENSORS}
 * @param source       the file read
 * @param architecture where the attention heads came from: the {@code config.json} read, or the given model
 * @param ignored      names (as in the file) of tensors that are not parameters and were dropped: the
 *                     {@code h.N.attn.bias} / {@code h.N.attn.masked_bias} buffers of older files, and
 *                     {@code lm_head.weight} once checked equal to {@code wte.weight}
 */
public record ImportedLm(LmConfig model, ParameterSet parameters, String format, Path source, String architecture,
    List<String> ignored) {

  /** Validates and copies. */
  public ImportedLm {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(parameters, "parameters");
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(architecture, "architecture");
    ignored = List.copyOf(ignored);
  }
}
