package dev.clipspark.jobs;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfigs;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Executes every notebook of {@code notebooks/} top to bottom, as CI must: Debian's {@code jupyter-nbconvert}
 * with a kernel pinned to Debian's {@code /usr/bin/python3} (which has {@code python3-jpype}), on two untrained
 * tiny-ViT checkpoints and a small MNIST-format dataset this test writes, with this JVM's classpath. A cell that
 * raises fails the run and the test, with nbconvert's output. Missing Debian packages fail the test too, naming
 * them: a notebook that nobody runs rots.
 */
class NotebooksTest {

  static final Path ROOT = Path.of(System.getProperty("user.dir")).getParent();
  static final Path NOTEBOOKS = ROOT.resolve("notebooks");
  static final String PYTHON = "/usr/bin/python3";
  static final String NBCONVERT = "/usr/bin/jupyter-nbconvert";
  static final String PACKAGES = "jupyter-nbconvert python3-nbclient python3-ipykernel python3-jpype";
  /** Test images in the generated dataset; the notebooks evaluate fewer (CLIPSPARK_MAX_ROWS). */
  static final int IMAGES = 60;

  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  @Test
  void everyNotebookRunsEndToEnd() throws Exception {
    requireJupyter();
    List<Path> notebooks = notebooks();
    assertThat(notebooks).extracting(p -> p.getFileName().toString()).contains("01-zero-shot-classification.ipynb",
        "02-zero-shot-report.ipynb", "03-compare-checkpoints.ipynb", "04-limber-captioning.ipynb");
    String a = writeCheckpoint(dir.resolve("run-a"), 10, 1);
    String b = writeCheckpoint(dir.resolve("run-b"), 20, 2);
    // "fashion" in the name: the dataset's classes are the shipped Fashion-MNIST list.
    Path data = Files.createDirectories(dir.resolve("fashion-mnist-fixture"));
    writeIdx(data, IMAGES, 3);
    // Notebook 04: an untrained LiMBeR model and a CSV table of captioned images.
    String limber = LimberFixture.checkpoint(dir.resolve("limber-model"), CaptionCommandTest.CAPTIONS);
    Path captioned = writeCaptionedTable(dir.resolve("captioned"));
    Path out = dir.resolve("files");
    Path executed = dir.resolve("executed");

    var env = new HashMap<>(jupyterEnvironment());
    env.put("CLIPSPARK_CLASSPATH", System.getProperty("java.class.path"));
    env.put("CLIPSPARK_DRIVER_MEMORY", "2g");
    // A few seconds of work per notebook: start-up dominates, and the client compiler alone starts faster.
    env.put("CLIPSPARK_JAVA_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
    env.put("CLIPSPARK_CHECKPOINT", a);
    env.put("CLIPSPARK_CHECKPOINT_B", b);
    env.put("CLIPSPARK_DATASET", "idx:" + data);
    env.put("CLIPSPARK_MAX_ROWS", "50");
    env.put("CLIPSPARK_OUT", out.toString());
    env.put("CLIPSPARK_LIMBER", limber);
    env.put("CLIPSPARK_CAPTION_DATASET", "table:" + captioned);
    var timings = new ArrayList<String>();
    long start = System.nanoTime();
    for (Path n : notebooks) {
      long t = System.nanoTime();
      execute(n, executed, env);
      timings.add(String.format(Locale.ROOT, "%s %.1f s", n.getFileName(), (System.nanoTime() - t) / 1e9));
    }
    System.out.printf(Locale.ROOT, "Executed %d notebooks in %.1f s: %s%n", notebooks.size(),
        (System.nanoTime() - start) / 1e9, String.join(", ", timings));

    for (Path n : notebooks) {
      JsonNode run = JSON.readTree(executed.resolve(n.getFileName()).toFile());
      for (JsonNode cell : run.path("cells")) {
        for (JsonNode o : cell.path("outputs")) {
          assertThat(o.path("output_type").asText()).as("%s: %s", n.getFileName(), o).isNotEqualTo("error");
        }
      }
    }
    for (String report : List.of("02-zero-shot-report", "03-compare-checkpoints/A", "03-compare-checkpoints/B")) {
      JsonNode json = JSON.readTree(out.resolve(report).resolve("report.json").toFile());
      assertThat(json.path("dataset").path("rows").asLong()).as(report).isEqualTo(50);
      assertThat(out.resolve(report).resolve("report.html")).isRegularFile();
    }
    assertThat(JSON.readTree(out.resolve("03-compare-checkpoints/B/report.json").toFile())
        .path("checkpoint").path("step").asLong()).isEqualTo(20);
    assertThat(out.resolve("01-zero-shot-classification/images")).isDirectoryContaining("glob:**/test-*.png");
    JsonNode captioning = JSON.readTree(out.resolve("04-limber-captioning/evaluate/report.json").toFile());
    assertThat(captioning.path("captioning").path("images").asInt()).isEqualTo(CaptionCommandTest.CAPTIONS.size());
    assertThat(captioning.path("captioning").path("no_image").path("cider_d").isNumber()).isTrue();
    assertThat(out.resolve("04-limber-captioning/caption/captions.html")).isRegularFile();
  }

  /** PNG images of the shape captions and {@code DIR/captions.csv} (key, image path, caption); returns the CSV. */
  static Path writeCaptionedTable(Path dir) throws Exception {
    Files.createDirectories(dir);
    var csv = new StringBuilder("key,image,caption\n");
    for (int i = 0; i < CaptionCommandTest.CAPTIONS.size(); i++) {
      Path image = dir.resolve("image-" + i + ".png");
      Files.write(image, CaptionCommandTest.png(new java.awt.Color(40 * i, 200 - 30 * i, 90), i));
      csv.append("img-").append(i).append(',').append(image).append(',').append(CaptionCommandTest.CAPTIONS.get(i))
          .append('\n');
    }
    Path file = dir.resolve("captions.csv");
    Files.writeString(file, csv.toString(), UTF_8);
    return file;
  }

  @Test
  void committedNotebooksHaveNoOutputsAndThePythonKernel() throws IOException {
    for (Path n : notebooks()) {
      JsonNode nb = JSON.readTree(n.toFile());
      assertThat(nb.path("metadata").path("kernelspec").path("name").asText()).as(n.toString()).isEqualTo("python3");
      for (JsonNode cell : nb.path("cells")) {
        if (cell.path("cell_type").asText().equals("code")) {
          assertThat(cell.path("outputs")).as("%s: clear the outputs before committing", n.getFileName()).isEmpty();
          assertThat(cell.path("execution_count").isNull()).as("%s: execution counts", n.getFileName()).isTrue();
        }
      }
    }
  }

  @Test
  void theHelperPassesSparksJava17FlagsFromThePom() throws IOException {
    String pom = Files.readString(ROOT.resolve("pom.xml"), UTF_8);
    var m = Pattern.compile("<spark\\.java17\\.flags>([^<]+)</spark\\.java17\\.flags>").matcher(pom);
    assertThat(m.find()).isTrue();
    String helper = Files.readString(NOTEBOOKS.resolve("clipspark.py"), UTF_8);
    for (String flag : m.group(1).trim().split("\\s+")) {
      assertThat(helper).as("notebooks/clipspark.py JAVA17_FLAGS").contains("\"" + flag + "\"");
    }
  }

  /** Runs one notebook top to bottom with jupyter-nbconvert; fails with nbconvert's output when a cell raises. */
  void execute(Path notebook, Path outputDir, Map<String, String> env) throws Exception {
    var pb = new ProcessBuilder(NBCONVERT, "--to", "notebook", "--execute", "--output-dir", outputDir.toString(),
        "--ExecutePreprocessor.timeout=600", "--ExecutePreprocessor.kernel_name=python3", notebook.toString())
        .directory(NOTEBOOKS.toFile()).redirectErrorStream(true);
    Path log = dir.resolve(notebook.getFileName() + ".log");
    pb.redirectOutput(log.toFile());
    for (String name : List.of("CLIPSPARK_IMAGES", "CLIPSPARK_MASTER", "JUPYTER_DATA_DIR")) {
      pb.environment().remove(name);
    }
    pb.environment().putAll(env);
    Process p = pb.start();
    if (!p.waitFor(10, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("jupyter-nbconvert did not run " + notebook.getFileName() + " in 10 minutes:\n"
          + Files.readString(log, UTF_8));
    }
    // Tracebacks come coloured; the failure message reads better without the escapes.
    String output = Files.readString(log, UTF_8).replaceAll("\u001B\\[[;\\d]*m", "");
    assertThat(p.exitValue()).as("jupyter-nbconvert --execute %s failed (a cell raised?):%n%s", notebook.getFileName(),
        output).isZero();
  }

  /** Fails, naming the Debian packages, when nbconvert or JPype is not there for /usr/bin/python3. */
  static void requireJupyter() throws Exception {
    String fix = "; install Debian's packages: apt-get install " + PACKAGES;
    if (!Files.isExecutable(Path.of(NBCONVERT))) {
      throw new AssertionError("Cannot execute the notebooks: " + NBCONVERT + " is missing" + fix);
    }
    if (!Files.isExecutable(Path.of(PYTHON))) {
      throw new AssertionError("Cannot execute the notebooks: " + PYTHON + " is missing" + fix);
    }
    var p = new ProcessBuilder(PYTHON, "-c", "import jpype, ipykernel, nbclient").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), UTF_8);
    if (!p.waitFor(2, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new AssertionError("Cannot execute the notebooks: " + PYTHON + " cannot import jpype, ipykernel and"
          + " nbclient" + fix + "\n" + out);
    }
  }

  /**
   * Jupyter's directories in this test's temp dir, with a {@code python3} kernel that is Debian's python3 (the
   * first python3 on PATH may be another one without JPype, and a user's own kernelspec must not win).
   */
  Map<String, String> jupyterEnvironment() throws IOException {
    Path kernel = Files.createDirectories(dir.resolve("jupyter/data/kernels/python3"));
    Files.writeString(kernel.resolve("kernel.json"), """
        {"argv": ["%s", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "Python 3 (Debian)", "language": "python"}
        """.formatted(PYTHON), UTF_8);
    return Map.of(
        "JUPYTER_PATH", dir.resolve("jupyter/data").toString(),
        "JUPYTER_CONFIG_DIR", Files.createDirectories(dir.resolve("jupyter/config")).toString(),
        "JUPYTER_RUNTIME_DIR", Files.createDirectories(dir.resolve("jupyter/runtime")).toString(),
        "IPYTHONDIR", Files.createDirectories(dir.resolve("ipython")).toString(),
        "PYDEVD_DISABLE_FILE_VALIDATION", "1",
        "PYTHONDONTWRITEBYTECODE", "1");
  }

  static List<Path> notebooks() throws IOException {
    try (Stream<Path> files = Files.list(NOTEBOOKS)) {
      return files.filter(f -> f.getFileName().toString().endsWith(".ipynb")).sorted().toList();
    }
  }

  /**
   * An untrained tiny ViT saved as training saves it, with a 7-merge tokenizer: what evaluation reads.
   *
   * @return the run directory
   */
  static String writeCheckpoint(Path run, long step, long seed) throws IOException {
    Files.createDirectories(run);
    Path merges = run.resolve("merges.txt");
    List<String> rules = List.of("t h", "th e</w>", "o f</w>", "p h", "ph o", "pho t", "phot o</w>");
    Files.writeString(merges, "#version: 0.2\n" + String.join("\n", rules) + "\n", UTF_8);
    var model = ModelConfigs.load("tiny-vit");
    var state = Map.<String, Object>of("tokenizer_vocab_size", 514L + rules.size());
    Checkpoints.save(run.toString(), new Checkpoint(step, state, model, merges.toString(),
        ClipParameters.initialize(model, seed, DataType.FLOAT), null), new Configuration());
    return run.toString();
  }

  /** MNIST-format test files: {@code n} 28x28 noise images, image i labelled i mod 10. */
  static void writeIdx(Path data, int n, long seed) throws IOException {
    var random = new Random(seed);
    try (var images = new DataOutputStream(Files.newOutputStream(data.resolve("t10k-images-idx3-ubyte")));
        var labels = new DataOutputStream(Files.newOutputStream(data.resolve("t10k-labels-idx1-ubyte")))) {
      images.writeInt(0x00000803);
      images.writeInt(n);
      images.writeInt(28);
      images.writeInt(28);
      labels.writeInt(0x00000801);
      labels.writeInt(n);
      byte[] pixels = new byte[28 * 28];
      for (int i = 0; i < n; i++) {
        random.nextBytes(pixels);
        images.write(pixels);
        labels.writeByte(i % 10);
      }
    }
  }
}
