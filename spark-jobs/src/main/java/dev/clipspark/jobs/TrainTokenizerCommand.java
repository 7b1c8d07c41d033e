package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.lm.LmOptions;
import dev.clipspark.training.tokenizer.BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import dev.clipspark.training.tokenizer.TokenizerOptions;
import dev.clipspark.training.tokenizer.TrainResult;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code clip train-tokenizer}: learns CLIP-style byte-level BPE merges from a dataset's captions, or (with
 * {@code --kind gpt2}) a GPT-2-style vocabulary from captions or plain text files.
 */
@Command(
    name = "train-tokenizer",
    mixinStandardHelpOptions = true,
    description = {
        "Learns a byte-level BPE tokenizer from the captions of a built dataset or from text files.",
        "--kind clip (the default) learns CLIP's lower-cased merges from the captions of --data: words are counted"
            + " in Spark and merges learned on the driver until the vocabulary has tokenizer.vocab-size tokens"
            + " (49,408 by default); it writes FILE in the format of OpenAI's bpe_simple_vocab_16e6.txt.gz (gzip"
            + " when FILE ends in .gz).",
        "--kind gpt2 learns GPT-2's case-preserving byte-level BPE (GPT-2's pre-tokenizer, no cleaning) from the"
            + " captions of --data or the lines of the --corpus files, until the vocabulary has"
            + " lm.tokenizer.vocab-size tokens (256 byte symbols, the merges, then <|endoftext|>); it writes"
            + " vocab.json and merges.txt into the directory --out, the files GPT-2 uses."})
final class TrainTokenizerCommand extends JobCommand {

  /** Which tokenizer to learn. */
  enum Kind {
    /** CLIP's lower-cased BPE with end-of-word marks: one merges file. */
    CLIP,
    /** GPT-2's case-preserving byte-level BPE: vocab.json and merges.txt. */
    GPT2
  }

  @Option(names = "--kind", paramLabel = "KIND", defaultValue = "CLIP",
      description = "clip (the default) or gpt2.")
  Kind kind;

  @Option(names = "--data", paramLabel = "DIR",
      description = "Dataset directory written by build-dataset (holds manifest.json); its captions are the texts.")
  String data;

  @Option(names = "--corpus", paramLabel = "FILE", split = ",",
      description = "With --kind gpt2, instead of --data: plain UTF-8 text files (local paths or Hadoop URIs,"
          + " comma-separated or repeated), one text per line.")
  List<String> corpus;

  @Option(names = "--out", required = true, paramLabel = "FILE|DIR",
      description = "--kind clip: the merges file to write; --kind gpt2: the directory for vocab.json and"
          + " merges.txt.")
  String out;

  private TokenizerOptions options;
  private LmOptions lmOptions;

  @Override
  void prepare(Settings settings) {
    boolean hasCorpus = corpus != null && !corpus.isEmpty();
    if (kind == Kind.CLIP) {
      options = TokenizerOptions.from(settings);
      if (hasCorpus) {
        throw new IllegalArgumentException("Cannot learn a clip tokenizer from --corpus: it learns from the captions"
            + " of --data DIR; use --kind gpt2 for text files");
      }
    } else {
      lmOptions = LmOptions.from(settings);
    }
    if ((data == null) == !hasCorpus) {
      throw new IllegalArgumentException("Cannot learn a tokenizer: give either --data DIR or --corpus FILE (gpt2"
          + " only), not " + (data == null ? "neither" : "both"));
    }
    if (data != null) {
      Inputs.requireLocalExists("--data", data);
    } else {
      for (String file : corpus) {
        Inputs.requireLocalExists("--corpus", file);
      }
    }
  }

  @Override
  int run(SparkSession spark) {
    if (kind == Kind.GPT2) {
      return runGpt2(spark);
    }
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

  private int runGpt2(SparkSession spark) {
    int asked = lmOptions.tokenizerVocabSize();
    Gpt2Tokenizer tokenizer = data != null ? Gpt2BpeTrainer.learn(spark, data, asked)
        : Gpt2BpeTrainer.learn(spark.read().textFile(corpus.toArray(new String[0])), asked);
    tokenizer.write(out, spark.sparkContext().hadoopConfiguration());
    var printer = out();
    printer.println(String.format(Locale.ROOT,
        "Wrote a GPT-2-style tokenizer of %,d tokens (asked for %,d: %,d merges, <|endoftext|> = %d) to %s/%s and"
            + " %s/%s", tokenizer.vocabSize(), asked, tokenizer.merges().size(), tokenizer.endOfText(), out,
        Gpt2Tokenizer.VOCAB_FILE, out, Gpt2Tokenizer.MERGES_FILE));
    if (tokenizer.vocabSize() < asked) {
      printer.println(String.format(Locale.ROOT, "  The texts support only %,d merges: no other pair of symbols"
          + " occurs twice", tokenizer.merges().size()));
    }
    printer.flush();
    return 0;
  }
}
