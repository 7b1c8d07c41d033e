package dev.clipspark.jobs;

import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.LmConfigs;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.weights.ExternalWeights;
import dev.clipspark.training.weights.Gpt2Weights;
import dev.clipspark.training.weights.ImportedLm;
import dev.clipspark.training.weights.ImportedWeights;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code clip import-weights}: released CLIP weights (OpenAI, open_clip) or GPT-2-family language-model weights
 * (Hugging Face) into an ordinary ClipSpark checkpoint.
 */
@Command(
    name = "import-weights",
    mixinStandardHelpOptions = true,
    description = {
        "Reads released CLIP weights (OpenAI, open_clip) or GPT-2-family language-model weights (Hugging Face's"
            + " gpt2 to gpt2-xl files) into an ordinary ClipSpark checkpoint.",
        "The checkpoint (step 0, no optimiser state) goes to OUT/checkpoints/, where evaluate --checkpoint OUT finds"
            + " it. Accepted: OpenAI's TorchScript archives (ViT-B-32.pt, RN50.pt, ...), PyTorch zip archives of a"
            + " state dict (open_clip_pytorch_model.bin, open_clip's epoch_N.pt) and .safetensors files; float16 and"
            + " bfloat16 become float32.",
        "A GPT-2 file is recognised by its tensor names (wte.weight, h.N.*; GPT2LMHeadModel's transformer. prefix"
            + " and tied lm_head.weight are accepted) or chosen with --kind lm; its attention heads come from the"
            + " config.json beside it or from --model (a conf/models/lm name or file), and --tokenizer names the"
            + " folder with its vocab.json and merges.txt. The checkpoint (kind gpt2) is what train-limber --lm reads.",
        "Pickles are read without running any code: a file naming any global other than PyTorch's tensor and"
            + " container builders is refused. Runs on this machine, without Spark."})
final class ImportWeightsCommand implements Callable<Integer> {

  @Option(names = "--from", required = true, paramLabel = "FILE", description = "The weights file (local).")
  Path from;

  @Option(names = "--out", required = true, paramLabel = "DIR",
      description = "Output directory; the checkpoint goes to DIR/checkpoints/step-0000000000 (local path or Hadoop URI).")
  String out;

  @Option(names = "--model", paramLabel = "NAME|FILE",
      description = "The architecture the file must match: for CLIP a conf/models name or .conf file (default:"
          + " inferred from the tensor shapes as OpenAI's build_model does, attention heads of width 64); for a"
          + " language model a conf/models/lm name or .conf file (default: Hugging Face's config.json beside the"
          + " weights file; one of the two is required, as the shapes do not give the number of heads).")
  String model;

  @Option(names = "--tokenizer", required = true, paramLabel = "FILE|DIR",
      description = "CLIP: the merges file the weights were trained with, copied into the checkpoint (OpenAI's"
          + " bpe_simple_vocab_16e6.txt.gz for OpenAI's and open_clip's models, or a learned one); it may have fewer"
          + " tokens than the model's text.vocab_size (a model trained with a small tokenizer: the extra embedding"
          + " rows are never used), never more. Language model: the folder holding its GPT-2 tokenizer's vocab.json"
          + " and merges.txt (at most vocab_size tokens), copied into the checkpoint.")
  String tokenizer;

  @Option(names = "--tokenizer-vocab-size", paramLabel = "N",
      description = "CLIP: tokens of the tokenizer (its first N - 514 merges), at most the model's text.vocab_size."
          + " Default: as many as the merges file provides, up to text.vocab_size.")
  int tokenizerVocabSize;

  /** What the weights are. */
  enum Kind {
    /** A CLIP model. */
    CLIP,
    /** A GPT-2-family language model. */
    LM
  }

  @Option(names = "--kind", paramLabel = "KIND",
      description = "clip or lm. Default: lm when the file holds GPT-2 tensors (wte.weight), else clip.")
  Kind kind;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    Inputs.requireLocalExists("--tokenizer", tokenizer);
    Kind effective = kind != null ? kind : Gpt2Weights.isGpt2(from) ? Kind.LM : Kind.CLIP;
    if (effective == Kind.LM) {
      return importLm();
    }
    ModelConfig given = model == null ? null : ModelConfigs.load(model);
    ImportedWeights w = ExternalWeights.read(from, given);
    if (tokenizerVocabSize < 0) {
      throw new IllegalArgumentException("Cannot use --tokenizer-vocab-size " + tokenizerVocabSize
          + ": must be positive (or left out for as many tokens as the merges file provides)");
    }
    var conf = new Configuration();
    var dir = ExternalWeights.saveCheckpoint(w, tokenizer, tokenizerVocabSize, out, conf);
    int vocab = dev.clipspark.training.tokenizer.ClipTokenizer.forModel(tokenizer, w.model().text().vocabSize(),
        tokenizerVocabSize, conf).vocabSize();
    var printer = spec.commandLine().getOut();
    printer.println(summary(w, dir.toString()));
    int modelVocab = w.model().text().vocabSize();
    printer.println(String.format(Locale.ROOT, "  tokenizer: %,d tokens%s", vocab, vocab < modelVocab
        ? String.format(Locale.ROOT, " (the model's token embedding has %,d rows; ids from %,d on are never"
            + " produced)", modelVocab, vocab) : ""));
    printer.println("  evaluate it with: bin/clip evaluate --checkpoint " + out + " --dataset KIND:PATH --out DIR");
    printer.flush();
    return 0;
  }

  private int importLm() {
    LmConfig given = model == null ? null : LmConfigs.load(model);
    ImportedLm w = Gpt2Weights.read(from, given);
    var dir = Gpt2Weights.saveCheckpoint(w, tokenizer, out, new Configuration());
    var printer = spec.commandLine().getOut();
    printer.println(summary(w, dir.toString()));
    printer.println("  train a LiMBeR map with it: bin/clip train-limber --clip CKPT --lm " + out
        + " --data DIR --out DIR");
    printer.flush();
    return 0;
  }

  static String summary(ImportedLm w, String dir) {
    var m = w.model();
    return String.format(Locale.ROOT, "Imported %s (%s) as language model %s (vocab_size %d, n_ctx %d, n_embd %d,"
            + " n_layer %d, n_head %d from %s): %d parameter tensors (%,d values)%s%n  wrote checkpoint %s",
        w.source(), w.format(), m.name(), m.vocabSize(), m.nCtx(), m.nEmbd(), m.nLayer(), m.nHead(),
        w.architecture(), w.parameters().names().size(), w.parameters().elementCount(),
        w.ignored().isEmpty() ? "" : "; ignored " + String.join(", ", w.ignored()), dir);
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
