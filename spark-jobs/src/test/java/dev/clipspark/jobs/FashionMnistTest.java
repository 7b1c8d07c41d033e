package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPInputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evaluation on real data: Fashion-MNIST from Debian's {@code dataset-fashion-mnist}. A tiny CLIP is
 * trained through the user's chain (build-queries, build-dataset from a {@code folder:} source, train-tokenizer,
 * train) on training images captioned from their labels with caption templates that are none of the evaluation
 * templates; then {@code clip evaluate} measures zero-shot accuracy on the test split (chance: 10%) and compares
 * a linear probe on the learned features with one on raw pixels.
 */
class FashionMnistTest {

  static final Path FASHION = Path.of("/usr/share/datasets/fashion-mnist");
  static final List<String> NAMES = List.of("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
      "sneaker", "bag", "ankle boot");
  /** Caption templates of the training pairs: not the evaluation's fashion-mnist templates. */
  static final List<String> CAPTIONS = List.of("a photo of a %s", "a %s on a black background",
      "black and white picture of a %s", "a %s", "product shot: %s", "an image of the %s", "my new %s",
      "a grey %s, small and centred");
  static final int TRAIN_IMAGES = 2000;

  @TempDir static Path dir;
  static String run;

  @BeforeAll
  static void trainOnCaptionedFashionMnist() throws Exception {
    assertThat(FASHION.resolve("train-images-idx3-ubyte.gz"))
        .as("Fashion-MNIST from Debian: sudo apt-get install dataset-fashion-mnist").exists();
    Path source = Files.createDirectories(dir.resolve("source"));
    Path corpus = dir.resolve("corpus.txt");
    var rnd = new SplittableRandom(3);
    try (var images = idx(FASHION.resolve("train-images-idx3-ubyte.gz"));
        var labels = idx(FASHION.resolve("train-labels-idx1-ubyte.gz"));
        var text = Files.newBufferedWriter(corpus, StandardCharsets.UTF_8)) {
      images.skipBytes(16);
      labels.skipBytes(8);
      byte[] pixels = new byte[28 * 28];
      for (int i = 0; i < TRAIN_IMAGES; i++) {
        images.readFully(pixels);
        int label = labels.readUnsignedByte();
        var image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        image.getRaster().setDataElements(0, 0, 28, 28, pixels);
        String name = String.format("fm-%05d", i);
        ImageIO.write(image, "png", source.resolve(name + ".png").toFile());
        String caption = String.format(CAPTIONS.get(rnd.nextInt(CAPTIONS.size())), NAMES.get(label));
        Files.writeString(source.resolve(name + ".txt"), caption);
        text.write(caption + "\n");
      }
    }
    String conf = TrainLearnsTest.DEMO_CONF.getPath();
    String queries = dir.resolve("queries").toString();
    TrainLearnsTest.clip(new StringWriter(), "build-queries", "--corpus", corpus.toString(), "--out", queries,
        "--conf", conf, "--master", "local[2]");
    String dataset = dir.resolve("dataset").toString();
    TrainLearnsTest.clip(new StringWriter(), "build-dataset", "--queries", queries, "--source", "folder:" + source,
        "--out", dataset, "--conf", conf, "--set", "image.size=32", "--set", "balance.max-per-query=1000000",
        "--master", "local[2]");
    String merges = dir.resolve("merges.txt").toString();
    TrainLearnsTest.clip(new StringWriter(), "train-tokenizer", "--data", dataset, "--out", merges, "--set",
        "tokenizer.vocab-size=600", "--master", "local[2]");
    run = dir.resolve("run").toString();
    var out = new StringWriter();
    TrainLearnsTest.clip(out, "train", "--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--out", run,
        "--conf", conf, "--set", "tokenizer.vocab-size=600", "--set", "train.batch-size=100", "--set",
        "train.epochs=4", "--set", "train.learning-rate=3e-3", "--set", "train.log-every=25", "--master", "local[2]");
    System.out.println(out);
  }

  static DataInputStream idx(Path file) throws IOException {
    return new DataInputStream(new BufferedInputStream(new GZIPInputStream(Files.newInputStream(file))));
  }

  static JsonNode evaluate(String name, String... args) throws IOException {
    String outDir = dir.resolve(name).toString();
    var out = new StringWriter();
    var all = new java.util.ArrayList<>(List.of("evaluate", "--checkpoint", run, "--dataset", "idx:" + FASHION,
        "--out", outDir, "--master", "local[2]"));
    all.addAll(List.of(args));
    TrainLearnsTest.clip(out, all.toArray(String[]::new));
    System.out.println(out);
    assertThat(out.toString()).contains("report " + new File(outDir, "report.html").getPath());
    return new ObjectMapper().readTree(new File(outDir, "report.json"));
  }

  @Test
  void zeroShotAccuracyIsFarAboveChanceAndEnsemblingIsCompared() throws IOException {
    JsonNode report = evaluate("zeroshot", "--task", "zeroshot", "--compare-templates", "--set", "eval.max-rows=2000");
    JsonNode z = report.get("zeroshot");
    double top1 = z.get("top1").asDouble();
    System.out.printf("Fashion-MNIST zero-shot: top-1 %.4f (ensemble of %d), single template %.4f%n", top1,
        z.get("templates").asInt(), z.get("single_template").get("top1").asDouble());
    assertThat(report.get("templates").get("source").asText()).isEqualTo("fashion-mnist");
    assertThat(z.get("samples").asLong()).isEqualTo(2000);
    assertThat(top1).as("zero-shot top-1 on 10 classes (chance 0.1)").isGreaterThan(0.35);
    assertThat(z.get("top5").asDouble()).isGreaterThan(top1);
    assertThat(z.get("confusion_matrix")).hasSize(10);
    assertThat(report.get("learning_curve").size()).isGreaterThan(3);
    assertThat(Files.readString(dir.resolve("zeroshot/report.html"))).contains("data:image/png;base64,");
  }

  @Test
  void aLinearProbeOnLearnedFeaturesIsComparedWithOneOnRawPixels() throws IOException {
    String[] common = {"--task", "linear-probe", "--set", "eval.max-rows=2000", "--set",
        "eval.probe.max-iterations=40", "--set", "eval.probe.reg-params=[1e-4,1e-2]"};
    JsonNode learned = evaluate("probe-image", TrainLearnsTest.concat(common, new String[] {"--features", "image"}))
        .get("linear_probe");
    JsonNode pixels = evaluate("probe-pixels", TrainLearnsTest.concat(common, new String[] {"--features", "pixels"}))
        .get("linear_probe");
    System.out.printf("Fashion-MNIST linear probe (2000 train rows with a fifth held out, 2000 test rows): learned features %.4f,"
        + " raw pixels %.4f%n", learned.get("test_accuracy").asDouble(), pixels.get("test_accuracy").asDouble());
    assertThat(pixels.get("dimensions").asInt()).isEqualTo(784);
    assertThat(learned.get("dimensions").asInt()).isEqualTo(64);
    assertThat(pixels.get("test_accuracy").asDouble()).as("logistic regression on raw pixels").isGreaterThan(0.7);
    assertThat(learned.get("test_accuracy").asDouble()).as("on 64 learned features").isGreaterThan(0.6);
  }
}
