package dev.clipspark.jobs;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.weights.ExternalWeights;
import dev.clipspark.training.weights.ImportedWeights;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip import-weights}: released CLIP weights (OpenAI, open_clip) into an ordinary ClipSpark checkpoint. */
@Command(
    name = "import-weights",
    mixinStandardHelpOptions = true,
    description = {
        "Reads released CLIP weights (OpenAI, open_clip) into an ordinary ClipSpark checkpoint.",
        "The checkpoint (step 0, no optimiser state) goes to OUT/checkpoints/, where evaluate --checkpoint OUT finds"
            + " it. Accepted: OpenAI's TorchScript archives (ViT-B-32.pt, RN50.pt, ...), PyTorch zip archives of a"
            + " state dict (open_clip_pytorch_model.bin, open_clip's epoch_N.pt) and .safetensors files; float16 and"
            + " bfloat16 become float32.",
        "Pickles are read without running any code: a file naming any global other than PyTorch's tensor and"
            + " container builders is refused. Runs on this machine, without Spark."})
final class ImportWeightsCommand implements Callable<Integer> {

  @Option(names = "--from", required = true, paramLabel = "FILE", description = "The weights file (local).")
  Path from;

  @Option(names = "--out", required = true, paramLabel = "DIR",
      description = "Output directory; the checkpoint goes to DIR/checkpoints/step-0000000000 (local path or Hadoop URI).")
  String out;

  @Option(names = "--model", paramLabel = "NAME|FILE",
      description = "The architecture the file must match (a conf/models name or a .conf file). Default: inferred"
          + " from the tensor shapes as OpenAI's build_model does (attention heads of width 64).")
  String model;

  @Option(names = "--tokenizer", required = true, paramLabel = "FILE",
      description = "The merges file the weights were trained with, copied into the checkpoint: OpenAI's"
          + " bpe_simple_vocab_16e6.txt.gz for OpenAI's and open_clip's models, or a learned one; it must provide"
          + " the model's text.vocab_size tokens.")
  String tokenizer;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    ModelConfig given = model == null ? null : ModelConfigs.load(model);
    Inputs.requireLocalExists("--tokenizer", tokenizer);
    ImportedWeights w = ExternalWeights.read(from, given);
    var dir = ExternalWeights.saveCheckpoint(w, tokenizer, out, new Configuration());
    var printer = spec.commandLine().getOut();
    printer.println(summary(w, dir.toString()));
    printer.println("  evaluate it with: bin/clip evaluate --checkpoint " + out + " --dataset KIND:PATH --out DIR");
    printer.flush();
    return 0;
  }

  static String summary(ImportedWeights w, String dir) {
    long elements = w.parameters().elementCount();
    return String.format(Locale.ROOT, "Imported %s (%s) as model %s: %d parameter tensors (%,d values), %d buffers%s%n"
            + "  wrote checkpoint %s",
        w.source(), w.format(), w.model().name(), w.parameters().names().size(), elements,
        w.parameters().bufferNames().size(),
        w.ignored().isEmpty() ? "" : "; ignored " + String.join(", ", w.ignored()), dir);
  }
}
