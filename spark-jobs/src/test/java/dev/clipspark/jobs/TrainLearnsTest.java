package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.dataset.source.ShapeClass;
import dev.clipspark.dataset.source.SyntheticShapes;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.lm.LmCheckpoints;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import dev.clipspark.training.weights.ExternalWeights;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The whole chain a user runs, in-process: build-queries, build-dataset (synthetic coloured shapes),
 * train-tokenizer and train with the tiny ViT; then a zero-shot check of the trained model on images it never
 * saw, against class prompts that are none of the dataset's captions. A model that learned nothing scores
 * 1/48 (2%); a broken gradient cannot reach the asserted floor.
 */
class TrainLearnsTest {

  static final File DEMO_CONF = new File("../conf/demo.conf");
  /** A prompt template that is none of SyntheticShapes' caption templates. */
  static final String PROMPT = "a picture of %s %s %s";

  @TempDir static Path dir;
  static String dataset;
  static String merges;
  static String run;
  static String trainOutput;

  static int clip(StringWriter out, String... args) {
    var cl = Main.commandLine();
    var err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    assertThat(code).as("clip %s\nout: %s\nerr: %s", String.join(" ", args), out, err).isZero();
    return code;
  }

  @BeforeAll
  static void trainTinyModel() throws Exception {
    Path corpus = dir.resolve("corpus.txt");
    DemoCorpus.write(corpus, 3000, 7);
    String queries = dir.resolve("queries").toString();
    String conf = DEMO_CONF.getPath();
    clip(new StringWriter(), "build-queries", "--corpus", corpus.toString(), "--out", queries, "--conf", conf,
        "--master", "local[2]");
    dataset = dir.resolve("dataset").toString();
    clip(new StringWriter(), "build-dataset", "--queries", queries, "--source", "synthetic:", "--out", dataset,
        "--conf", conf, "--set", "image.size=32", "--set", "source.synthetic.count=2400", "--set",
        "balance.max-per-query=100000", "--master", "local[2]");
    merges = dir.resolve("merges.txt").toString();
    clip(new StringWriter(), "train-tokenizer", "--data", dataset, "--out", merges, "--set", "tokenizer.vocab-size=600",
        "--master", "local[2]");
    run = dir.resolve("run").toString();
    var out = new StringWriter();
    clip(out, "train", "--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--out", run,
        "--conf", conf, "--set", "tokenizer.vocab-size=600", "--set", "train.epochs=8", "--set", "train.learning-rate=3e-3", "--set", "train.log-every=10",
        "--set", "train.checkpoint-every=50", "--master", "local[2]");
    trainOutput = out.toString();
    System.out.println(trainOutput);
  }

  @Test
  void trainingPrintsProgressAndWritesMetricsAndCheckpoints() throws Exception {
    assertThat(trainOutput).contains("Training tiny-vit", "step 10/", "loss ", "samples/s", "eta ", "Trained tiny-vit");
    List<String> lines = Files.readAllLines(Path.of(run, "metrics.jsonl"));
    assertThat(lines).isNotEmpty();
    var json = new ObjectMapper();
    var first = json.readTree(lines.get(0));
    var last = json.readTree(lines.get(lines.size() - 1));
    assertThat(first.get("step").asLong()).isEqualTo(1);
    assertThat(last.get("loss").asDouble()).as("loss fell").isLessThan(first.get("loss").asDouble() * 0.6);
    assertThat(last.get("logit_scale").asDouble()).isGreaterThan(0).isLessThanOrEqualTo(100.0 + 1e-3);
    assertThat(Path.of(run, "checkpoints", "latest")).exists();
  }

  @Test
  void theTrainedModelClassifiesUnseenImagesZeroShot() {
    var conf = new Configuration();
    var loaded = Checkpoints.loadLatest(run, DataType.FLOAT, conf).orElseThrow();
    ClipModel model = ClipModel.create(loaded.model(), loaded.parameters());
    model.setTraining(false);
    int vocab = ((Number) loaded.trainerState().get("tokenizer_vocab_size")).intValue();
    ClipTokenizer tokenizer = ClipTokenizer.load(loaded.tokenizerMerges(), vocab, conf);
    List<ShapeClass> classes = SyntheticShapes.classes();
    var prompts = new ArrayList<String>();
    for (ShapeClass c : classes) {
      String article = "aeiou".indexOf(c.colour().charAt(0)) >= 0 ? "an" : "a";
      prompts.add(String.format(PROMPT, article, c.colour(), c.shape()));
    }
    int context = model.config().text().contextLength();
    INDArray tokens = Nd4j.createFromArray(tokenizer.tokenize(prompts, context, true));
    INDArray text = normalise(model.encodeText(tokens));

    int side = model.config().vision().imageSize();
    var preprocess = ImagePreprocessor.eval(side);
    var rnd = new SplittableRandom(20261122L);
    int perClass = 4;
    int correct = 0;
    int total = 0;
    for (int k = 0; k < classes.size(); k++) {
      float[] pixels = new float[perClass * 3 * side * side];
      for (int i = 0; i < perClass; i++) {
        float[] one = preprocess.apply(SyntheticShapes.render(classes.get(k), 96, rnd), null);
        System.arraycopy(one, 0, pixels, i * one.length, one.length);
      }
      INDArray images = Nd4j.createFromArray(pixels).reshape('c', perClass, 3, side, side);
      INDArray similarity = normalise(model.encodeImage(images)).mmul(text.transpose());
      INDArray predicted = similarity.argMax(1);
      for (int i = 0; i < perClass; i++) {
        correct += predicted.getInt(i) == k ? 1 : 0;
        total++;
      }
    }
    double accuracy = correct / (double) total;
    System.out.printf("zero-shot accuracy on %d unseen images of 48 classes: %.3f%n", total, accuracy);
    assertThat(accuracy).as("zero-shot top-1 over 48 classes (chance 0.021)").isGreaterThan(0.2);
  }

  @Test
  void aBarrierWorkerThatDiesIsRelaunchedBySparkAndTrainingEndsAsIfUninterrupted() {
    String straight = dir.resolve("k2-straight").toString();
    String crashed = dir.resolve("k2-crashed").toString();
    String[] common = {"--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--conf", DEMO_CONF.getPath(),
        "--workers", "2", "--set", "tokenizer.vocab-size=600", "--set", "train.max-steps=6", "--set",
        "train.warmup-steps=2", "--set", "train.batch-size=32", "--set", "train.checkpoint-every=2", "--set",
        "train.verify-every=1", "--set", "train.collective-timeout=30s", "--master", "local[2,4]"};
    var out = new StringWriter();
    clip(out, concat(new String[] {"train", "--out", straight}, common));
    assertThat(out.toString()).contains("Trained tiny-vit from step 0 to 6");

    // Worker 1 fails after step 5 in the stage's first attempt; Spark re-runs the barrier stage, whose two
    // tasks resume from the step-4 checkpoint.
    out = new StringWriter();
    clip(out, concat(new String[] {"train", "--out", crashed, "--set", "train.debug.fail-at-step=5", "--set",
        "train.debug.rank=1"}, common));
    assertThat(out.toString()).contains("Trained tiny-vit from step 4 to 6");
    var conf = new Configuration();
    var a = Checkpoints.loadLatest(straight, conf).orElseThrow();
    var b = Checkpoints.loadLatest(crashed, conf).orElseThrow();
    assertThat(b.step()).isEqualTo(6);
    for (String name : a.parameters().names()) {
      assertThat(b.parameters().value(name)).as(name).isEqualTo(a.parameters().value(name));
    }
  }

  @Test
  void aSilentBarrierWorkerMakesTheOtherFailWithinTheTimeout() {
    String spark = "spark.stage.maxConsecutiveAttempts";
    System.setProperty(spark, "1");
    try {
      var cl = Main.commandLine();
      var err = new StringWriter();
      cl.setOut(new PrintWriter(new StringWriter(), true));
      cl.setErr(new PrintWriter(err, true));
      int code = cl.execute("train", "--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--conf",
          DEMO_CONF.getPath(), "--out", dir.resolve("k2-silent").toString(), "--workers", "2", "--set",
          "tokenizer.vocab-size=600", "--set", "train.max-steps=4", "--set", "train.warmup-steps=1", "--set", "train.batch-size=32",
          "--set", "train.debug.hang-at-step=2", "--set", "train.debug.rank=0", "--set", "train.collective-timeout=3s",
          "--master", "local[2]");
      assertThat(code).isNotZero();
      assertThat(err.toString()).contains("on rank 1 of 2").contains("did not answer within");
    } finally {
      System.clearProperty(spark);
    }
  }

  @Test
  void aScheduleThatDoesNotFitTheRunIsRefusedBeforeTheBarrierStage() {
    var cl = Main.commandLine();
    var err = new StringWriter();
    cl.setOut(new PrintWriter(new StringWriter(), true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute("train", "--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--out",
        dir.resolve("k2-schedule").toString(), "--workers", "2", "--set", "train.batch-size=32", "--set",
        "train.max-steps=4", "--set", "train.warmup-steps=20", "--set", "tokenizer.vocab-size=600", "--master",
        "local[2]");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot schedule a cosine decay over 4 total steps")
        .contains("train.warmup-steps").doesNotContain("barrier");
    assertThat(Path.of(dir.toString(), "k2-schedule", "checkpoints")).doesNotExist();
  }

  @Test
  void aTokenizerTooSmallForItsVocabularySizeIsRefusedBeforeTheBarrierStage() {
    var cl = Main.commandLine();
    var err = new StringWriter();
    cl.setOut(new PrintWriter(new StringWriter(), true));
    cl.setErr(new PrintWriter(err, true));
    // The merges learned for 600 tokens cannot make 5,000: every barrier task would fail on loading them.
    int code = cl.execute("train", "--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--out",
        dir.resolve("k2-tokenizer").toString(), "--workers", "2", "--set", "train.batch-size=32", "--set",
        "tokenizer.vocab-size=5000", "--master", "local[2]");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot load merges file " + merges).contains("a vocabulary of 5000 tokens")
        .contains("use a vocabulary size of at most").doesNotContain("barrier");
    assertThat(Path.of(dir.toString(), "k2-tokenizer", "checkpoints")).doesNotExist();
  }

  @Test
  void moreWorkersThanTaskSlotsIsRefusedBeforeTraining() {
    var cl = Main.commandLine();
    var err = new StringWriter();
    cl.setOut(new PrintWriter(new StringWriter(), true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute("train", "--data", dataset, "--model", "tiny-vit", "--tokenizer", merges, "--out",
        dir.resolve("k3").toString(), "--workers", "4", "--set", "train.batch-size=32", "--set",
        "tokenizer.vocab-size=600", "--master", "local[2]");
    assertThat(code).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot train with --workers 4: Spark offers 2 task slots");
  }

  @Test
  void aWeightsFileFineTunesWithALockedImageTowerWhoseEmbeddingsStayTheFiles() throws Exception {
    var conf = new Configuration();
    var trained = Checkpoints.loadLatest(run, conf).orElseThrow();
    Path file = dir.resolve("tiny-vit.safetensors");
    ExternalWeights.write(trained.model(), trained.parameters(), file, ExternalWeights.SAFETENSORS);

    // Locked-image fine-tuning from the file (tiny-vit's heads are 16 wide: without --model, the shapes would say
    // 64, OpenAI's head width): the image tower stays the file's, the text tower moves.
    String lit = dir.resolve("lit").toString();
    var out = new StringWriter();
    clip(out, "train", "--init", file.toString(), "--model", "tiny-vit", "--data", dataset, "--tokenizer", merges,
        "--out", lit, "--set", "tokenizer.vocab-size=600", "--set", "train.lock-image=true", "--set",
        "train.max-steps=3", "--set", "train.warmup-steps=1", "--set", "train.batch-size=32", "--set",
        "train.learning-rate=1e-3", "--master", "local[2]");
    assertThat(out.toString()).contains("Starting " + lit + " from the weights of " + file, "image tower locked",
        "Trained tiny-vit from step 0 to 3");
    var tuned = Checkpoints.loadLatest(lit, conf).orElseThrow();
    for (String name : trained.parameters().names()) {
      if (name.startsWith("visual.")) {
        assertThat(tuned.parameters().value(name)).as(name).isEqualTo(trained.parameters().value(name));
      }
    }
    assertThat(tuned.parameters().value("token_embedding.weight"))
        .isNotEqualTo(trained.parameters().value("token_embedding.weight"));

    // evaluate --task embed, in the executors, before and after: the same image embeddings, other text ones.
    String before = dir.resolve("embed-before").toString();
    String after = dir.resolve("embed-after").toString();
    String[] common = {"evaluate", "--task", "embed", "--dataset", "shards:" + dataset, "--set", "eval.max-rows=48",
        "--master", "local[2]"};
    clip(new StringWriter(), concat(common, new String[] {"--checkpoint", run, "--out", before}));
    out = new StringWriter();
    clip(out, concat(common, new String[] {"--checkpoint", lit, "--out", after}));
    assertThat(out.toString()).contains("wrote ", "embeddings to " + after);
    Map<String, List<Object>> a = embeddings(before);
    Map<String, List<Object>> b = embeddings(after);
    assertThat(a).hasSizeGreaterThan(10);
    assertThat(b.keySet()).isEqualTo(a.keySet());
    for (String key : a.keySet()) {
      assertThat(b.get(key).get(0)).as("image embedding of %s", key).isEqualTo(a.get(key).get(0));
    }
    assertThat(b.values().stream().map(v -> v.get(1)).toList())
        .isNotEqualTo(a.values().stream().map(v -> v.get(1)).toList());
  }

  /** key -> [image embedding, text embedding] of an embed task's Parquet output. */
  static Map<String, List<Object>> embeddings(String out) {
    var spark = org.apache.spark.sql.SparkSession.builder().master("local[1]").appName("read-embeddings")
        .getOrCreate();
    try {
      var rows = new java.util.TreeMap<String, List<Object>>();
      for (var r : spark.read().parquet(Path.of(out, "embeddings").toString()).collectAsList()) {
        rows.put(r.getAs("key"), List.of(r.getList(r.fieldIndex("image_embedding")),
            r.getList(r.fieldIndex("text_embedding"))));
      }
      return rows;
    } finally {
      spark.stop();
    }
  }

  /**
   * {@code train-tokenizer --kind gpt2} and {@code train-lm} on the dataset's captions with two barrier workers: the
   * loss falls well below its start, the checkpoint is a language model with its tokenizer; then a worker fails in
   * the first attempt of the stage, Spark re-runs it, and the run ends bit-identical to an uninterrupted one.
   */
  @Test
  void trainLmLearnsTheCaptionsOnTwoWorkersAndResumesExactlyAfterAWorkerDies() throws Exception {
    String tokenizer = dir.resolve("gpt2-tokenizer").toString();
    clip(new StringWriter(), "train-tokenizer", "--kind", "gpt2", "--data", dataset, "--out", tokenizer, "--set",
        "lm.tokenizer.vocab-size=320", "--master", "local[2]");
    String lm = dir.resolve("lm").toString();
    var out = new StringWriter();
    clip(out, "train-lm", "--data", dataset, "--model", "gpt2-tiny", "--tokenizer", tokenizer, "--out", lm,
        "--workers", "2", "--set", "train.batch-size=32", "--set", "train.max-steps=30", "--set",
        "train.warmup-steps=4", "--set", "train.learning-rate=3e-3", "--set", "train.weight-decay=0.1", "--set",
        "train.checkpoint-every=20", "--set", "train.log-every=10", "--master", "local[2]");
    System.out.println(out);
    assertThat(out.toString()).contains("Training language model gpt2-tiny (136,960 parameters) on " + dataset,
        "step 10/30", "tokens/s", "Trained language model gpt2-tiny from step 0 to 30");
    var json = new ObjectMapper();
    List<String> lines = Files.readAllLines(Path.of(lm, "metrics.jsonl"));
    var first = json.readTree(lines.get(0));
    var last = json.readTree(lines.get(lines.size() - 1));
    assertThat(last.get("step").asLong()).isEqualTo(30);
    // From ln(512) = 6.24 nats/token (the model's 512 outputs) to about 3.1 (measured; docs/limber.md).
    assertThat(last.get("loss").asDouble()).as("loss fell").isLessThan(first.get("loss").asDouble() * 0.6);
    var conf = new Configuration();
    LmCheckpoints.Loaded loaded = LmCheckpoints.load(lm, DataType.FLOAT, conf);
    assertThat(loaded.step()).isEqualTo(30);
    assertThat(loaded.tokenizer().vocabSize()).isEqualTo(320);
    assertThat(loaded.trainerState()).containsEntry("workers", 2L).containsEntry("texts", dataset);

    String straight = dir.resolve("lm-straight").toString();
    String crashed = dir.resolve("lm-crashed").toString();
    String[] common = {"--data", dataset, "--model", "gpt2-tiny", "--tokenizer", tokenizer, "--workers", "2",
        "--set", "train.max-steps=6", "--set", "train.warmup-steps=2", "--set", "train.batch-size=16", "--set",
        "train.checkpoint-every=2", "--set", "train.verify-every=1", "--set", "train.collective-timeout=30s",
        "--master", "local[2,4]"};
    clip(new StringWriter(), concat(new String[] {"train-lm", "--out", straight}, common));
    out = new StringWriter();
    clip(out, concat(new String[] {"train-lm", "--out", crashed, "--set", "train.debug.fail-at-step=5", "--set",
        "train.debug.rank=1"}, common));
    assertThat(out.toString()).contains("Trained language model gpt2-tiny from step 4 to 6");
    var a = Checkpoints.loadLatest(straight, conf).orElseThrow();
    var b = Checkpoints.loadLatest(crashed, conf).orElseThrow();
    assertThat(b.step()).isEqualTo(6);
    for (String name : a.parameters().names()) {
      assertThat(b.parameters().value(name)).as(name).isEqualTo(a.parameters().value(name));
    }
  }

  static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  static INDArray normalise(INDArray features) {
    INDArray f = features.castTo(DataType.FLOAT);
    return f.diviColumnVector(Transforms.sqrt(f.mul(f).sum(1)).reshape(f.size(0), 1));
  }
}
