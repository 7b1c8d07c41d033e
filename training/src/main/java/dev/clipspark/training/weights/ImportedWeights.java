package dev.clipspark.training.weights;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Weights read from an outside file by {@link ExternalWeights#read}.
 *
 * @param model      the architecture: the one given, or the one inferred from the shapes (named after the
 *                   packaged model it equals, e.g. {@code ViT-B-32}, else after the file)
 * @param parameters every parameter of {@link dev.clipspark.training.model.ClipParameters#specs} in float32 with
 *                   OpenAI's {@code state_dict} names (in that order, {@code logit_scale} included), and for a
 *                   ResNet the BatchNorm buffers ({@code running_mean}, {@code running_var} in float32,
 *                   {@code num_batches_tracked} in int64; 0 where the file has none)
 * @param format     the file's format: {@value ExternalWeights#PYTORCH}, {@value ExternalWeights#TORCHSCRIPT} or
 *                   {@value ExternalWeights#SAFETENSORS}
 * @param source     the file read
 * @param ignored    names of tensors in the file that are not weights and were dropped (OpenAI's
 *                   {@code input_resolution}, {@code context_length}, {@code vocab_size})
 */
public record ImportedWeights(ModelConfig model, ParameterSet parameters, String format, Path source,
    List<String> ignored) {

  /** Validates and copies. */
  public ImportedWeights {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(parameters, "parameters");
    Objects.requireNonNull(format, "format");
    ignored = List.copyOf(ignored);
  }
}
