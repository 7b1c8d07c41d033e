package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.tokenizer.BpeTrainer;
import dev.clipspark.training.tokenizer.TokenizerOptions;
import dev.clipspark.training.tokenizer.TrainResult;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip train-tokenizer}: learns CLIP-style byte-level BPE merges from a dataset's captions. */
@Command(
    name = "train-tokenizer",
    mixinStandardHelpOptions = true,
    description = {
        "Learns CLIP's lower-cased byte-level BPE merges from the captions of a built dataset.",
        "Words are counted in Spark and merges learned on the driver until the vocabulary has"
            + " tokenizer.vocab-size tokens (49,408 by default). Writes FILE in the format of OpenAI's"
            + " bpe_simple_vocab_16e6.txt.gz (gzip when FILE ends in .gz)."})
final class TrainTokenizerCommand extends JobCommand {

  @Option(names = "--data", required = true, paramLabel = "DIR",
      description = "Dataset directory written by build-dataset (holds manifest.json).")
  String data;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "Merges file to write.")
  String out;

  private TokenizerOptions options;

  @Override
  void prepare(Settings settings) {
    options = TokenizerOptions.from(settings);
    Inputs.requireLocalExists("--data", data);
  }

  @Override
  int run(SparkSession spark) {
    TrainResult r = BpeTrainer.train(spark, data, options.vocabSize(), options.minWordCount(), out);
    var printer = out();
    printer.println(String.format(Locale.ROOT,
        "Wrote %,d merges to %s: a vocabulary of %,d tokens (asked for %,d)%n"
            + "  distinct words %,d, word occurrences %,d, words used (seen at least %d times) %,d",
        r.mergesLearned(), r.mergesFile(), r.vocabSize(), r.vocabSizeAsked(), r.distinctWords(),
        r.wordOccurrences(), r.minWordCount(), r.wordsUsed()));
    if (!r.complete()) {
      printer.println(String.format(Locale.ROOT,
          "  The captions support only %,d merges: load this file with --set tokenizer.vocab-size=%d",
          r.mergesLearned(), r.vocabSize()));
    }
    printer.flush();
    return 0;
  }
}
