package dev.clipspark.jobs;

import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.weights.ExternalWeights;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip export-weights}: a ClipSpark checkpoint as a state dict open_clip and PyTorch load. */
@Command(
    name = "export-weights",
    mixinStandardHelpOptions = true,
    description = {
        "Writes a checkpoint's model as a state dict that PyTorch and open_clip load.",
        "The tensors carry OpenAI's (and open_clip's) names in float32, with logit_scale and, for a ResNet, the"
            + " BatchNorm buffers (num_batches_tracked as int64). Formats:",
        "- safetensors: a .safetensors file (safetensors.torch.load_file, open_clip).",
        "- pytorch: a zip archive as torch.save writes it (torch.load, open_clip).",
        "open_clip loads it with create_model_and_transforms(NAME, pretrained=FILE); ClipSpark's towers use"
            + " QuickGELU, so NAME is the -quickgelu variant (ViT-B-32-quickgelu, RN50-quickgelu, ...)."})
final class ExportWeightsCommand implements Callable<Integer> {

  /** open_clip has -quickgelu variants of these OpenAI models. */
  static final Set<String> OPEN_CLIP_QUICKGELU = Set.of("RN50", "RN101", "ViT-B-32", "ViT-B-16", "ViT-L-14",
      "ViT-L-14-336");

  @Option(names = "--checkpoint", required = true, paramLabel = "DIR",
      description = "A training output directory (its newest checkpoint) or a checkpoints/step-N directory.")
  String checkpoint;

  @Option(names = "--format", required = true, paramLabel = "FORMAT",
      description = "safetensors or pytorch.")
  String format;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "The file to write (local).")
  Path out;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    if (!ExternalWeights.EXPORT_FORMATS.contains(format)) {
      throw new IllegalArgumentException("Cannot export to --format " + format + ": allowed are "
          + String.join(", ", ExternalWeights.EXPORT_FORMATS));
    }
    var conf = new Configuration();
    LoadedCheckpoint c = Checkpoints.loadModel(Checkpoints.resolve(checkpoint, conf), DataType.FLOAT, conf);
    ExternalWeights.write(c.model(), c.parameters(), out, format);
    var printer = spec.commandLine().getOut();
    String name = c.model().name();
    printer.println(String.format(Locale.ROOT, "Exported %s (model %s, step %d) to %s (%s): %d parameter tensors, "
            + "%d buffers, float32", c.directory(), name, c.step(), out, format, c.parameters().names().size(),
        c.parameters().bufferNames().size()));
    if (OPEN_CLIP_QUICKGELU.contains(name) && ModelConfigs.available().contains(name)) {
      printer.println("  open_clip: open_clip.create_model_and_transforms('" + name + "-quickgelu', pretrained='"
          + out + "')");
    } else {
      printer.println("  open_clip: register the architecture of model " + name + " (its model.conf, with"
          + " quick_gelu true) with open_clip.add_model_config, then create_model_and_transforms(NAME, pretrained='"
          + out + "')");
    }
    printer.flush();
    return 0;
  }
}
