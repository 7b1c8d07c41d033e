package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** {@code clip train-limber}: its help and its refusals of bad settings and inputs, before Spark starts. */
class TrainLimberCommandTest {

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    var cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  @Test
  void helpNamesTheInputsAndTheSettings() {
    assertThat(run("train-limber", "--help")).isZero();
    assertThat(out.toString()).contains("--clip", "--lm", "--data", "--out", "--workers", "--conf", "--set",
        "--master");
    out.getBuffer().setLength(0);
    assertThat(run("--help")).isZero();
    assertThat(out.toString()).contains("train-limber");
  }

  @Test
  void badSettingsAreRefusedNamingKeyValueAndWhatIsAllowed() {
    assertThat(run("train-limber", "--clip", ".", "--lm", ".", "--data", ".", "--out", "o", "--set",
        "limber.features=patches")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot set limber.features to \"patches\": must be one of pooled, grid");
    err.getBuffer().setLength(0);
    assertThat(run("train-limber", "--clip", ".", "--lm", ".", "--data", ".", "--out", "o", "--set",
        "limber.prompts=0")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot set limber.prompts to 0: must be between 1 and 4096");
    err.getBuffer().setLength(0);
    assertThat(run("train-limber", "--clip", ".", "--lm", ".", "--data", ".", "--out", "o", "--workers", "3"))
        .isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot set limber.batch-size to 64: must be a multiple of the 3 workers");
  }

  @Test
  void missingInputsAreRefused() {
    assertThat(run("train-limber", "--clip", "no/such/clip", "--lm", ".", "--data", ".", "--out", "o"))
        .isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot read --clip no/such/clip: no such file or directory");
    err.getBuffer().setLength(0);
    assertThat(run("train-limber", "--clip", ".", "--lm", "no/such/lm", "--data", ".", "--out", "o"))
        .isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot read --lm no/such/lm: no such file or directory");
    err.getBuffer().setLength(0);
    assertThat(run("train-limber", "--clip", ".", "--lm", ".", "--data", ".", "--out", "o")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot use --clip .: Cannot find a checkpoint in .");
    err.getBuffer().setLength(0);
    assertThat(run("train-limber", "--clip", ".", "--lm", ".", "--out", "o")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("--data");
  }
}
