package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** The command line's help and its refusals of bad input, which must come before Spark starts. */
class MainTest {

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    var cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  @Test
  void topLevelHelpListsEverySubcommand() {
    assertThat(run("--help")).isZero();
    assertThat(out.toString()).contains("demo", "build-queries", "build-dataset", "train-tokenizer", "train", "bench",
        "import-weights", "export-weights", "train-lm");
  }

  @Test
  void everySubcommandHasHelpWithConfAndSet() {
    for (String cmd : new String[] {"demo", "build-queries", "build-dataset", "train-tokenizer", "train", "train-lm"}) {
      out.getBuffer().setLength(0);
      assertThat(run(cmd, "--help")).as(cmd).isZero();
      assertThat(out.toString()).as(cmd).contains("--conf", "--set", "--master");
    }
    for (String bench : new String[] {"images", "matcher", "train", "loss", "collective"}) {
      out.getBuffer().setLength(0);
      assertThat(run("bench", bench, "--help")).isZero();
      assertThat(out.toString()).contains("--json", "--conf", "--set");
    }
  }

  @Test
  void anUnknownCommandIsAUsageErrorEvenWithHelp() {
    assertThat(run("NOSUCH", "--help")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Unknown command 'NOSUCH' for 'clip': must be one of demo, build-queries");
    assertThat(out.toString()).doesNotContain("Commands:");
    err.getBuffer().setLength(0);
    assertThat(run("NOSUCH")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("'NOSUCH'");
    err.getBuffer().setLength(0);
    assertThat(run("bench", "nosuch", "--help")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Unknown command 'nosuch' for 'clip bench': must be one of matcher, images");
    err.getBuffer().setLength(0);
    assertThat(run("train", "--help", "--no-such-flag")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("--no-such-flag");
  }

  /**
   * Every command's first description line is its summary in the command list: one whole sentence. The other
   * lines are paragraphs or list items that picocli wraps to the terminal, never sentences broken by hand.
   */
  @Test
  void everyCommandHasAOneSentenceSummaryAndWholeParagraphs() {
    var stack = new java.util.ArrayDeque<picocli.CommandLine>();
    stack.push(Main.commandLine());
    int checked = 0;
    while (!stack.isEmpty()) {
      var cl = stack.pop();
      cl.getSubcommands().values().forEach(stack::push);
      if (cl.getCommandName().equals("help")) {
        continue;
      }
      String[] description = cl.getCommandSpec().usageMessage().description();
      String name = cl.getCommandSpec().qualifiedName();
      assertThat(description).as(name).isNotEmpty();
      assertThat(description[0]).as(name + " summary").matches("[A-Z][^\\n]*\\.").doesNotContain(". ");
      for (String paragraph : description) {
        assertThat(paragraph).as(name + ": '" + paragraph + "'").matches("(?s).*[.:]").doesNotContain("\n");
      }
      checked++;
    }
    assertThat(checked).isGreaterThan(12);
    assertThat(Main.commandLine().isUsageHelpAutoWidth()).isTrue();
  }

  @Test
  void trainRefusesAnUnknownModelBeforeSpark() {
    assertThat(run("train", "--data", ".", "--model", "ViT-X-99", "--out", "o")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("ViT-X-99");
  }

  @Test
  void trainRefusesABadTrainingSettingBeforeSpark() {
    assertThat(run("train", "--data", ".", "--model", "tiny-vit", "--out", "o",
        "--set", "train.batch-size=64", "--set", "train.micro-batch-size=48")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot set train.micro-batch-size to 48: must divide train.batch-size 64");
  }

  @Test
  void trainRefusesAMissingDataset() {
    assertThat(run("train", "--data", "no/such/dataset", "--model", "tiny-vit", "--out", "o")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot read --data no/such/dataset: no such file or directory");
  }

  @Test
  void missingRequiredOptionIsAUsageError() {
    assertThat(run("build-dataset", "--out", "x")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("--queries").contains("--source");
  }

  @Test
  void unknownSettingStopsTheJobBeforeSpark() {
    int code = run("build-dataset", "--queries", "q", "--source", "synthetic:x", "--out", "o",
        "--set", "balance.max-per-qurey=5");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("balance.max-per-qurey").contains("unknown key");
  }

  @Test
  void badValueStopsTheJobWithKeyValueAndAllowed() {
    int code = run("build-dataset", "--queries", "q", "--source", "synthetic:x", "--out", "o",
        "--set", "image.resize-mode=stretch");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("image.resize-mode").contains("stretch").contains("center-crop");
  }

  @Test
  void aBadClipFilterStopsTheJobBeforeSpark(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
    String q = tmp.toString();
    assertThat(run("build-dataset", "--queries", q, "--source", "synthetic:x", "--out", "o",
        "--set", "filter.clip.min-similarity=1.5")).isEqualTo(Main.USAGE);
    assertThat(err.toString())
        .contains("Cannot set filter.clip.min-similarity to 1.5: must be between -1.0 and 1.0");
    assertThat(run("build-dataset", "--queries", q, "--source", "synthetic:x", "--out", "o",
        "--clip-filter", tmp.resolve("ViT-B-32.pt").toString(), "--min-similarity", "0.28")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot set filter.clip.checkpoint to " + tmp.resolve("ViT-B-32.pt")
        + ": must name a file or directory that exists; nothing is there");
    assertThat(run("build-dataset", "--queries", q, "--source", "synthetic:x", "--out", "o",
        "--clip-filter", q, "--min-similarity", "-1.2")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot set filter.clip.min-similarity to -1.2: must be between -1.0 and 1.0");
  }

  @Test
  void unknownSourceKindIsRefused() {
    int code = run("build-dataset", "--queries", "q", "--source", "ftp:/x", "--out", "o");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("ftp").contains("webdataset");
  }

  @Test
  void missingQueriesDirIsRefused() {
    int code = run("build-dataset", "--queries", "/nonexistent/queries", "--source", "synthetic:x", "--out", "o");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("/nonexistent/queries");
  }

  @Test
  void tokenizerVocabularyOutOfRangeIsRefused() {
    int code = run("train-tokenizer", "--data", "d", "--out", "m.txt", "--set", "tokenizer.vocab-size=100");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("tokenizer.vocab-size").contains("100").contains("515");
  }

  @Test
  void missingCorpusIsRefused() {
    int code = run("build-queries", "--corpus", "/nonexistent/corpus.txt", "--out", "o");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("--corpus").contains("/nonexistent/corpus.txt");
  }

  @Test
  void gpt2TokenizerArgumentsAreCheckedBeforeSpark() {
    assertThat(run("train-tokenizer", "--kind", "gpt2", "--corpus", "c.txt", "--out", "t", "--set",
        "lm.tokenizer.vocab-size=100")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("lm.tokenizer.vocab-size").contains("100").contains("258");
    err.getBuffer().setLength(0);
    assertThat(run("train-tokenizer", "--kind", "gpt2", "--out", "t")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("give either --data DIR or --corpus FILE (gpt2 only), not neither");
    err.getBuffer().setLength(0);
    assertThat(run("train-tokenizer", "--corpus", "c.txt", "--out", "t")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot learn a clip tokenizer from --corpus");
    err.getBuffer().setLength(0);
    assertThat(run("train-tokenizer", "--kind", "gpt2", "--corpus", "/nonexistent/c.txt", "--out", "t"))
        .isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot read --corpus /nonexistent/c.txt: no such file or directory");
  }
}
