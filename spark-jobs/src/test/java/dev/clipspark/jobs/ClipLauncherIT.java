package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the real launcher, {@code bin/clip}, on the packaged application jar, as a user would (failsafe
 * runs this after {@code package}).
 */
class ClipLauncherIT {

  static final File ROOT = new File(System.getProperty("user.dir")).getParentFile();

  @TempDir
  Path dir;

  record Run(int code, String output) {}

  static Run clip(Path dir, String... args) throws Exception {
    var cmd = new java.util.ArrayList<String>();
    cmd.add(new File(ROOT, "bin/clip").getPath());
    cmd.addAll(List.of(args));
    Path log = dir.resolve("clip-" + System.nanoTime() + ".log");
    var pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("CLIP_NO_BUILD", "1");
    pb.environment().put("CLIP_DRIVER_MEMORY", "2g");
    Process p = pb.start();
    if (!p.waitFor(15, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("bin/clip " + String.join(" ", args) + " did not finish in 15 minutes");
    }
    return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8) + crashReports(dir));
  }

  /**
   * The frames of any JVM crash report (hs_err_pid*.log) the run left in its working directory: a native crash in
   * ND4J kills the JVM, and CI deletes the directory with the report, so the test's failure message carries it.
   */
  static String crashReports(Path dir) throws java.io.IOException {
    var out = new StringBuilder();
    try (var files = Files.list(dir)) {
      for (Path report : files.filter(f -> f.getFileName().toString().matches("hs_err_pid\\d+\\.log")).toList()) {
        out.append("\n--- ").append(report.getFileName()).append(" (frames) ---\n");
        boolean frames = false;
        int kept = 0;
        for (String line : Files.readAllLines(report, StandardCharsets.ISO_8859_1)) {
          if (line.startsWith("Native frames:") || line.startsWith("Java frames:")) {
            frames = true;
          } else if (line.isBlank()) {
            frames = false;
          }
          if ((frames || line.startsWith("# Problematic frame") || line.startsWith("# C ")) && kept++ < 80) {
            out.append(line).append('\n');
          }
        }
      }
    }
    return out.toString();
  }

  @Test
  void demoBuildsQueriesAndADatasetEndToEnd() throws Exception {
    Path out = dir.resolve("demo");
    Run run = clip(dir, "demo", "--out", out.toString());
    assertThat(run.code()).as(run.output()).isZero();
    assertThat(run.output()).contains("Demo dataset:").contains("queries").contains("shards");

    var json = new ObjectMapper();
    Map<?, ?> manifest = json.readValue(out.resolve("dataset/manifest.json").toFile(), Map.class);
    assertThat(((Number) manifest.get("total_rows")).longValue()).isGreaterThan(100);
    List<?> shards = (List<?>) manifest.get("shards");
    assertThat(shards).isNotEmpty();
    for (Object s : shards) {
      assertThat(out.resolve("dataset").resolve((String) ((Map<?, ?>) s).get("path"))).isRegularFile();
    }
    Map<?, ?> stats = json.readValue(out.resolve("dataset/stats.json").toFile(), Map.class);
    assertThat(((Number) stats.get("candidates")).longValue()).isEqualTo(2000);
    Map<?, ?> queries = (Map<?, ?>) stats.get("queries");
    assertThat(((Number) queries.get("at_cap")).longValue()).as("demo's cap must bite").isGreaterThan(0);
    assertThat(out.resolve("queries/queries.parquet")).isDirectory();
    assertThat(out.resolve("tokenizer/merges.txt.gz")).isRegularFile();
    assertThat(run.output()).contains("BPE merges learned");

    // Step 5: the tiny model trained on the dataset, its loss falling from about ln(64).
    assertThat(run.output()).contains("5/9 training tiny-vit").contains("step 25/248 epoch 0 loss ");
    var curve = java.util.regex.Pattern.compile("loss (\\d+\\.\\d+) at step 1 -> (\\d+\\.\\d+) at step 248")
        .matcher(run.output());
    assertThat(curve.find()).as(run.output()).isTrue();
    assertThat(Double.parseDouble(curve.group(2))).isLessThan(Double.parseDouble(curve.group(1)) * 0.7);
    assertThat(out.resolve("train/checkpoints/latest")).isRegularFile();
    assertThat(out.resolve("train/checkpoints/step-0000000248/checkpoint.json")).isRegularFile();
    assertThat(Files.readAllLines(out.resolve("train/metrics.jsonl"))).hasSizeGreaterThan(5);

    // Step 6: zero-shot on unseen images of the 48 classes, with a report.
    var zeroShot = java.util.regex.Pattern.compile("6/9 zero-shot on 384 unseen images of the 48 classes: top-1"
        + " (\\d\\.\\d+), top-5 (\\d\\.\\d+) \\(chance 0\\.021\\)").matcher(run.output());
    assertThat(zeroShot.find()).as(run.output()).isTrue();
    assertThat(Double.parseDouble(zeroShot.group(1))).as("demo zero-shot top-1, chance 0.021").isGreaterThan(0.2);
    assertThat(out.resolve("evaluation/report.html")).isRegularFile();
    assertThat(run.output()).contains(out.resolve("evaluation/report.html").toAbsolutePath().toString());
    Map<?, ?> report = json.readValue(out.resolve("evaluation/report.json").toFile(), Map.class);
    assertThat(((Map<?, ?>) report.get("templates")).get("source")).isEqualTo("shapes");

    // Steps 7-9, LiMBeR: a GPT-2 trained on texts of captions, the linear map P from the frozen CLIP to soft prompts
    // of the frozen language model, and greedy captions of the unseen images. Measured (docs/limber.md): the captions
    // name the right colour 0.29 of the time (chance 1/8, shuffled images 0.10) and CIDEr-D is 0.77 against the
    // shuffled-images baseline's 0.45; they name the right shape only at chance (1/6), even with a CLIP trained
    // three times longer that gets the shape of half the unseen images (docs/limber.md), so the shape is not
    // asserted.
    assertThat(run.output()).contains("7/9 language model gpt2-tiny").contains("8/9 LiMBeR").contains("9/9 captions");
    var lmCurve = java.util.regex.Pattern.compile("next-token loss (\\d+\\.\\d+) at step 1 -> (\\d+\\.\\d+) at step 300")
        .matcher(run.output());
    assertThat(lmCurve.find()).as(run.output()).isTrue();
    assertThat(Double.parseDouble(lmCurve.group(2))).isLessThan(Double.parseDouble(lmCurve.group(1)) * 0.5);
    Map<?, ?> captioning = (Map<?, ?>) json.readValue(out.resolve("captioning/report.json").toFile(), Map.class)
        .get("captioning");
    double model = ((Number) ((Map<?, ?>) captioning.get("model")).get("cider_d")).doubleValue();
    double shuffled = ((Number) ((Map<?, ?>) captioning.get("shuffled")).get("cider_d")).doubleValue();
    double noImage = ((Number) ((Map<?, ?>) captioning.get("no_image")).get("cider_d")).doubleValue();
    assertThat(model).as("CIDEr-D of the model against shuffled images %s and no image %s", shuffled, noImage)
        .isGreaterThan(1.4 * Math.max(shuffled, noImage)).isGreaterThan(Math.max(shuffled, noImage) + 0.15);
    Map<?, ?> words = (Map<?, ?>) captioning.get("label_words");
    double colour = ((Number) ((List<?>) ((Map<?, ?>) words.get("model")).get("by_position")).get(0)).doubleValue();
    double colourShuffled = ((Number) ((List<?>) ((Map<?, ?>) words.get("shuffled")).get("by_position")).get(0))
        .doubleValue();
    assertThat(colour).as("captions naming the colour, chance 0.125, shuffled images %s", colourShuffled)
        .isGreaterThan(0.22).isGreaterThan(1.8 * colourShuffled);
    assertThat(out.resolve("captioning/report.html")).isRegularFile();

    // The tokenizer trainer on its own, on the demo's dataset, with a vocabulary the captions cannot fill.
    Path merges = dir.resolve("merges.txt");
    Run tok = clip(dir, "train-tokenizer", "--data", out.resolve("dataset").toString(), "--out", merges.toString(),
        "--set", "tokenizer.vocab-size=100000");
    assertThat(tok.code()).as(tok.output()).isZero();
    assertThat(tok.output()).contains("support only").contains("tokenizer.vocab-size=");
    List<String> lines = Files.readAllLines(merges);
    assertThat(lines.get(0)).startsWith("#version");
    assertThat(lines.size()).isGreaterThan(50);
  }

  @Test
  void badSettingFailsFastWithExitCode2() throws Exception {
    Run run = clip(dir, "build-dataset", "--queries", dir.toString(), "--source", "synthetic:x",
        "--out", dir.resolve("o").toString(), "--set", "shard.rows=0");
    assertThat(run.code()).as(run.output()).isEqualTo(2);
    assertThat(run.output()).contains("shard.rows").contains("0").contains("between 1 and");
  }
}
