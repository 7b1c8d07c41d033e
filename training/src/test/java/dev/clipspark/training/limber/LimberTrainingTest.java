package dev.clipspark.training.limber;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.build.Manifest;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.data.DataFixtures;
import dev.clipspark.training.lm.NextTokenLoss;
import dev.clipspark.training.lm.SoftPromptCaptioner;
import dev.clipspark.training.lm.SoftPromptMap;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.trainer.TrainSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * train-limber end to end on a real local[2] Spark session: a dataset of the synthetic source's coloured shapes and
 * captions (real Parquet shards and manifest), a tiny-vit CLIP checkpoint and a small GPT-2 checkpoint (kind gpt2)
 * as the frozen parts; features computed in executors and stored as Parquet, P trained in pooled and grid mode, one
 * and two workers, killed and resumed (in one process and as a Spark barrier stage that Spark re-runs).
 */
class LimberTrainingTest {

  static final int N_CTX = 40;

  @TempDir static Path dir;
  static SparkSession spark;
  static String dataset;
  static String clip;
  static String lm;
  static Configuration conf = new Configuration();

  @BeforeAll
  static void setUp() throws Exception {
    spark = DataFixtures.spark("LimberTrainingTest");
    dataset = DataFixtures.syntheticHandMade(spark, dir, "shapes", 96, 32, 32);
    clip = LimberFixtures.clipCheckpoint(dir.resolve("clip"), 1);
    lm = LimberFixtures.lmCheckpoint(dir.resolve("lm"), N_CTX, 2);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static LimberOptions options(FeatureMode mode, int batch, long steps, double lr) {
    return new LimberOptions(mode, 4, batch, 1, steps, lr, 2, 0.01, 1.0, 7, 2, 0, 5, 8, 0, -1);
  }

  static LimberOptions withFailAt(LimberOptions o, long step) {
    return new LimberOptions(o.features(), o.prompts(), o.batchSize(), o.epochs(), o.maxSteps(), o.learningRate(),
        o.warmupSteps(), o.weightDecay(), o.gradClipNorm(), o.seed(), o.checkpointEvery(), o.keepCheckpoints(),
        o.logEvery(), o.featureBatchSize(), step, o.debugRank());
  }

  static FrozenCheckpoint clipId() {
    return FrozenCheckpoint.of("--clip", clip, CheckpointKind.CLIP, conf);
  }

  static FrozenCheckpoint lmId() {
    return FrozenCheckpoint.of("--lm", lm, CheckpointKind.GPT2, conf);
  }

  static Map<String, byte[]> images() {
    var map = new TreeMap<String, byte[]>();
    for (Row r : spark.read().parquet(dataset + "/shards").select("key", "image").collectAsList()) {
      map.put(r.getString(0), (byte[]) r.get(1));
    }
    return map;
  }

  static ParameterSet trainedP(String out) {
    return Checkpoints.loadLatest(out, DataType.FLOAT, conf).orElseThrow().parameters();
  }

  @Test
  void featuresAreComputedOncePerImageInExecutorsStoredPerShardAndReused() {
    String out = dir.resolve("features-run").toString();
    Manifest manifest = Manifest.read(dataset, conf);
    var first = FeatureStore.compute(spark, dataset, clipId(), FeatureMode.POOLED, 8, out);
    assertThat(first.reused()).isFalse();
    assertThat(first.info().rows()).isEqualTo(manifest.totalRows());
    assertThat(first.info().skipped()).isZero();
    assertThat(first.info().positions()).isEqualTo(1);
    assertThat(first.info().width()).isEqualTo(64);
    assertThat(first.info().files()).hasSize(manifest.shards().size());
    for (String f : first.info().files()) {
      assertThat(Path.of(out, FeatureStore.DIR, f)).exists();
    }
    // Each stored feature is the frozen tower's pooled, unnormalised embedding of that row's image.
    var table = FeatureStore.read(out, conf);
    var encoder = ImageEncoder.load(clipId().directory(), FeatureMode.POOLED, conf);
    Map<String, byte[]> images = images();
    for (var row : table.rows().subList(0, 5)) {
      float[] expected = encoder.encode(List.of(images.get(row.key()))).clone()[0];
      assertThat(row.feature()).containsExactly(expected, within(1e-5f));
      assertThat(row.caption()).isNotBlank();
    }
    double norm = 0;
    for (float v : table.rows().get(0).feature()) {
      norm += v * v;
    }
    assertThat(Math.sqrt(norm)).as("not L2-normalised").isNotCloseTo(1.0, within(1e-3));

    var again = FeatureStore.compute(spark, dataset, clipId(), FeatureMode.POOLED, 8, out);
    assertThat(again.reused()).isTrue();

    var grid = FeatureStore.compute(spark, dataset, clipId(), FeatureMode.GRID, 8, out);
    assertThat(grid.reused()).as("another mode is computed again").isFalse();
    assertThat(grid.info().positions()).isEqualTo(16);
    assertThat(grid.info().width()).isEqualTo(64);
    var gridRow = FeatureStore.read(out, conf).rows().get(0);
    INDArray expected = ImageEncoder.load(clipId().directory(), FeatureMode.GRID, conf).forward(List.of(
        encoder.preprocess(images.get(gridRow.key()))));
    assertThat(gridRow.feature()).containsExactly(expected.reshape(16 * 64).toFloatVector(), within(1e-5f));
  }

  @Test
  void imagesThatDoNotDecodeAreCountedAndSkipped() throws Exception {
    var images = new ArrayList<byte[]>();
    for (int i = 0; i < 5; i++) {
      images.add(i == 2 ? "not an image".getBytes(java.nio.charset.StandardCharsets.UTF_8)
          : DataFixtures.colourJpeg(i));
    }
    String handMade = DataFixtures.handMade(spark, dir, "with-a-bad-image", images, 2);
    String out = dir.resolve("bad-image-features").toString();
    var result = FeatureStore.compute(spark, handMade, clipId(), FeatureMode.POOLED, 2, out);
    assertThat(result.info().rows()).isEqualTo(4);
    assertThat(result.info().skipped()).isEqualTo(1);
    assertThat(FeatureStore.read(out, conf).rows()).extracting(FeatureStore.FeatureTable.Row::key)
        .containsExactly("k00", "k01", "k03", "k04");
  }

  @Test
  void pooledOnTwoWorkersAndGridOnOneTrainPWhileTheFrozenPartsStayBitIdentical() throws Exception {
    String clipSha = clipId().sha256();
    String lmSha = lmId().sha256();
    ParameterSet lmBefore = Checkpoints.loadModel(lmId().directory(), DataType.FLOAT, conf).parameters();
    ParameterSet clipBefore = Checkpoints.loadModel(clipId().directory(), DataType.FLOAT, conf).parameters();
    for (FeatureMode mode : FeatureMode.values()) {
      String out = dir.resolve("train-" + mode.spelling()).toString();
      var lines = new ArrayList<String>();
      int workers = mode == FeatureMode.POOLED ? 2 : 1;
      TrainSummary s = LimberTraining.run(spark, new LimberTraining.Job(dataset, clip, lm, out),
          options(mode, 32, 60, 3e-2), workers, Duration.ofSeconds(60), lines::add);
      System.out.printf("LimberTrainingTest %s mode, %d workers: loss %.4f -> %.4f%n", mode.spelling(), workers,
          s.firstLoss(), s.lastLoss());
      assertThat(String.join("\n", lines)).contains("Computed the " + mode.spelling() + " features of 96 images",
          "step 5/60", "loss ");
      assertThat(s.steps()).isEqualTo(60);
      assertThat(Path.of(out, "metrics.jsonl")).exists();

      LimberModel model = LimberModel.load(out, conf);
      int k = mode == FeatureMode.POOLED ? 4 : 16;
      // The loss over every caption, with P as initialised and as trained.
      ParameterSet initial = mode == FeatureMode.POOLED ? SoftPromptMap.initialize(64, k, 32, 7, DataType.FLOAT)
          : SoftPromptMap.initializeGrid(64, 32, 7, DataType.FLOAT);
      SoftPromptMap initialMap = mode == FeatureMode.POOLED ? new SoftPromptMap(initial, k)
          : SoftPromptMap.grid(initial, k);
      double before = loss(out, model, new SoftPromptCaptioner(model.languageModel(), initialMap), k);
      double after = loss(out, model, model.captioner(), k);
      System.out.printf("LimberTrainingTest %s mode: loss over all %d captions %.4f -> %.4f%n", mode.spelling(), 96,
          before, after);
      assertThat(after).as("%s: loss falls", mode).isLessThan(before - 0.1);
      assertThat(model.prompts()).isEqualTo(k);
      assertThat(model.mode()).isEqualTo(mode);
      assertThat(model.identity().clip().sha256()).isEqualTo(clipSha);
      INDArray prompts = model.prompts(List.of(images().values().iterator().next()));
      assertThat(prompts.shape()).containsExactly(1, k, 32);
      for (String name : lmBefore.names()) {
        assertThat(model.languageModel().parameters().value(name)).as(name).isEqualTo(lmBefore.value(name));
      }
      ParameterSet clipNow = model.imageEncoder().model().parameters();
      for (String name : clipBefore.names()) {
        assertThat(clipNow.value(name)).as(name).isEqualTo(clipBefore.value(name));
      }
    }
    assertThat(clipId().sha256()).isEqualTo(clipSha);
    assertThat(lmId().sha256()).isEqualTo(lmSha);
  }

  /** The mean next-token loss of every caption after its image's prompts. */
  static double loss(String out, LimberModel model, SoftPromptCaptioner captioner, int k) {
    var table = FeatureStore.read(out, conf);
    var info = table.info();
    int n = table.rows().size();
    float[] flat = new float[n * info.positions() * info.width()];
    int[][] rows = new int[n][];
    int t = 0;
    for (int i = 0; i < n; i++) {
      var row = table.rows().get(i);
      System.arraycopy(row.feature(), 0, flat, i * row.feature().length, row.feature().length);
      rows[i] = LimberTrainer.captionTokens(model.tokenizer(), row.caption(), N_CTX - k);
      t = Math.max(t, rows[i].length);
    }
    int[][] captions = new int[n][t];
    int[] lengths = new int[n];
    for (int i = 0; i < n; i++) {
      System.arraycopy(rows[i], 0, captions[i], 0, rows[i].length);
      lengths[i] = rows[i].length;
    }
    INDArray features = model.mode() == FeatureMode.POOLED
        ? org.nd4j.linalg.factory.Nd4j.createFromArray(flat).reshape('c', n, info.width())
        : org.nd4j.linalg.factory.Nd4j.createFromArray(flat).reshape('c', n, info.positions(), info.width());
    return NextTokenLoss.compute(captioner.logits(features, captions),
        SoftPromptCaptioner.targets(k, captions, lengths)).loss();
  }

  /** Trains with the features of {@code source} copied into a fresh output directory. */
  static String withFeatures(String source, String name) throws Exception {
    Path out = dir.resolve(name);
    LimberFixtures.copy(Path.of(source, FeatureStore.DIR), out.resolve(FeatureStore.DIR));
    return out.toString();
  }

  static String pooledFeatures() {
    String out = dir.resolve("pooled-features").toString();
    FeatureStore.compute(spark, dataset, clipId(), FeatureMode.POOLED, 8, out);
    return out;
  }

  @Test
  void oneAndTwoWorkersGiveTheMapOfOneProcessWithTheWholeBatch() throws Exception {
    String features = pooledFeatures();
    LimberOptions o = options(FeatureMode.POOLED, 16, 5, 1e-2);
    String whole = withFeatures(features, "whole");
    LimberTrainer.run(new LimberTrainer.Request(whole, clipId(), lmId()), o, conf, line -> { }, null, () -> false);
    String one = withFeatures(features, "one-worker");
    try (Collective c = Collectives.local()) {
      LimberTrainer.run(new LimberTrainer.Request(one, clipId(), lmId()), o, conf, line -> { }, c, () -> false);
    }
    String two = withFeatures(features, "two-workers");
    List<Collective> collectives = Collectives.inProcess(2);
    var futures = new ArrayList<CompletableFuture<TrainSummary>>();
    for (Collective c : collectives) {
      futures.add(CompletableFuture.supplyAsync(() -> {
        try (c) {
          return LimberTrainer.run(new LimberTrainer.Request(two, clipId(), lmId()), o, conf, line -> { }, c,
              () -> false);
        }
      }));
    }
    futures.forEach(CompletableFuture::join);
    ParameterSet p = trainedP(whole);
    ParameterSet p1 = trainedP(one);
    ParameterSet p2 = trainedP(two);
    ParameterSet initial = SoftPromptMap.initialize(64, 4, 32, 7, DataType.FLOAT);
    for (String name : List.of(SoftPromptMap.WEIGHT, SoftPromptMap.BIAS)) {
      assertThat(p1.value(name)).as("K = 1: %s", name).isEqualTo(p.value(name));
      double moved = p.value(name).sub(initial.value(name)).amaxNumber().doubleValue();
      double diff = p2.value(name).sub(p.value(name)).amaxNumber().doubleValue();
      System.out.printf("LimberTrainingTest K = 2 vs one process: %s moved %.3g, differs by %.3g%n", name, moved, diff);
      assertThat(moved).as("P trained").isGreaterThan(1e-3);
      assertThat(diff).as("K = 2: %s", name).isLessThan(1e-4);
    }
  }

  @Test
  void aRunKilledAndResumedEndsWithTheBitIdenticalMapOfAnUninterruptedOne() throws Exception {
    String features = pooledFeatures();
    LimberOptions o = options(FeatureMode.POOLED, 16, 7, 1e-2);
    String straight = withFeatures(features, "straight");
    LimberTrainer.run(new LimberTrainer.Request(straight, clipId(), lmId()), o, conf, line -> { }, null, () -> false);
    String killed = withFeatures(features, "killed");
    var request = new LimberTrainer.Request(killed, clipId(), lmId());
    assertThatThrownBy(() -> LimberTrainer.run(request, withFailAt(o, 3), conf, line -> { }, null, () -> false))
        .hasMessageContaining("Failing on purpose on worker 0 after step 3 (limber.debug.fail-at-step=3");
    assertThat(Checkpoints.loadLatest(killed, conf).orElseThrow().step()).isEqualTo(2);
    var lines = new ArrayList<String>();
    TrainSummary resumed = LimberTrainer.run(request, o, conf, lines::add, null, () -> false);
    assertThat(resumed.startStep()).isEqualTo(2);
    assertThat(lines.get(0)).startsWith("Resuming " + killed + " from ");
    ParameterSet a = trainedP(straight);
    ParameterSet b = trainedP(killed);
    for (String name : a.names()) {
      assertThat(b.value(name)).as(name).isEqualTo(a.value(name));
    }
    var optimizerA = Checkpoints.loadLatest(straight, conf).orElseThrow().optimizer().orElseThrow();
    var optimizerB = Checkpoints.loadLatest(killed, conf).orElseThrow().optimizer().orElseThrow();
    assertThat(optimizerB.firstMoments()).isEqualTo(optimizerA.firstMoments());
    assertThat(optimizerB.secondMoments()).isEqualTo(optimizerA.secondMoments());
  }

  @Test
  void aBarrierStageWhoseWorkerFailsIsRerunBySparkAndEndsWithTheMapOfAnUninterruptedOne() throws Exception {
    String features = pooledFeatures();
    LimberOptions o = options(FeatureMode.POOLED, 16, 6, 1e-2);
    String straight = withFeatures(features, "stage-straight");
    LimberTraining.run(spark, new LimberTraining.Job(dataset, clip, lm, straight), o, 2, Duration.ofSeconds(60),
        line -> { });
    // Worker 1 fails after step 3 in the stage's first attempt; Spark re-runs the barrier stage, whose two tasks
    // resume from the step-2 checkpoint without the hook.
    String crashed = withFeatures(features, "stage-crashed");
    LimberOptions failing = new LimberOptions(o.features(), o.prompts(), o.batchSize(), o.epochs(), o.maxSteps(),
        o.learningRate(), o.warmupSteps(), o.weightDecay(), o.gradClipNorm(), o.seed(), o.checkpointEvery(),
        o.keepCheckpoints(), o.logEvery(), o.featureBatchSize(), 3, 1);
    TrainSummary s = LimberTraining.run(spark, new LimberTraining.Job(dataset, clip, lm, crashed), failing, 2,
        Duration.ofSeconds(60), line -> { });
    assertThat(s.startStep()).isEqualTo(2);
    assertThat(s.steps()).isEqualTo(6);
    ParameterSet a = trainedP(straight);
    ParameterSet b = trainedP(crashed);
    for (String name : a.names()) {
      assertThat(b.value(name)).as(name).isEqualTo(a.value(name));
    }
  }

  static Settings settings(String overrides) {
    return new Settings(ConfigFactory.parseString(overrides).withFallback(ConfigFactory.defaultReference()).resolve());
  }

  @Test
  void badSettingsAndInputsFailWithMessagesNamingThem() throws Exception {
    assertThat(LimberOptions.from(settings(""))).isEqualTo(LimberOptions.defaults());
    assertThatThrownBy(() -> LimberOptions.from(settings("limber.features = patches")))
        .hasMessage("Cannot set limber.features to \"patches\": must be one of pooled, grid");
    assertThatThrownBy(() -> LimberOptions.from(settings("limber.prompts = 0")))
        .hasMessage("Cannot set limber.prompts to 0: must be between 1 and 4096");
    assertThatThrownBy(() -> LimberOptions.defaults().shareOf(3))
        .hasMessage("Cannot set limber.batch-size to 64: must be a multiple of the 3 workers");
    var job = new LimberTraining.Job(dataset, clip, lm, dir.resolve("bad").toString());
    LimberOptions tooMany = new LimberOptions(FeatureMode.POOLED, N_CTX, 16, 1, 0, 1e-3, 0, 0, 0, 0, 1, 0, 1, 8, 0, -1);
    assertThatThrownBy(() -> LimberTraining.plan(job, tooMany, conf))
        .hasMessage("Cannot set limber.prompts to 40: k soft prompts and at least one caption token must fit the"
            + " language model's n_ctx 40: at most 39");
    String shortLm = LimberFixtures.lmCheckpoint(dir.resolve("lm-short"), 16, 3, 0);
    assertThatThrownBy(() -> LimberTraining.plan(new LimberTraining.Job(dataset, clip, shortLm, "x"),
        options(FeatureMode.GRID, 16, 1, 1e-3), conf))
        .hasMessage("Cannot set limber.features to grid: the image grid has 16 positions, one soft prompt each, and"
            + " with at least one caption token they must fit the language model's n_ctx 16; use pooled");
    String missing = dir.resolve("no-such-clip").toString();
    assertThatThrownBy(() -> LimberTraining.plan(new LimberTraining.Job(dataset, missing, lm, "x"),
        LimberOptions.defaults(), conf))
        .hasMessageStartingWith("Cannot use --clip " + missing + ": Cannot find a checkpoint in " + missing);
    assertThatThrownBy(() -> LimberTraining.plan(new LimberTraining.Job(dataset, clip, clip, "x"),
        LimberOptions.defaults(), conf))
        .hasMessageStartingWith("Cannot use --lm " + clip + ": it holds a clip checkpoint (")
        .hasMessageEndingWith("), not a gpt2 one");
    assertThatThrownBy(() -> LimberTrainer.checkPlan(FeatureStore.readInfo(pooledFeatures(), conf).orElseThrow(),
        new LimberOptions(FeatureMode.POOLED, 4, 128, 1, 0, 1e-3, 0, 0, 0, 0, 1, 0, 1, 8, 0, -1), 1))
        .hasMessage("Cannot set limber.batch-size to 128: must be at most the 96 images with features in " + dataset);
  }

  @Test
  void loadingRefusesAMapWhoseFrozenLanguageModelChanged() throws Exception {
    Path lmCopy = dir.resolve("lm-copy");
    LimberFixtures.copy(Path.of(lm), lmCopy);
    String out = withFeatures(pooledFeatures(), "changed-lm");
    var lmCopyId = FrozenCheckpoint.of("--lm", lmCopy.toString(), CheckpointKind.GPT2, conf);
    LimberTrainer.run(new LimberTrainer.Request(out, clipId(), lmCopyId), options(FeatureMode.POOLED, 16, 3, 1e-2),
        conf, line -> { }, null, () -> false);
    assertThat(LimberModel.load(out, conf).step()).isEqualTo(3);
    Path manifest = Path.of(lmCopyId.directory().replace("file:", ""), Checkpoints.MANIFEST);
    Files.writeString(manifest, Files.readString(manifest) + "\n");
    Files.deleteIfExists(manifest.resolveSibling("." + Checkpoints.MANIFEST + ".crc"));
    assertThatThrownBy(() -> LimberModel.load(out, conf))
        .hasMessageContaining("its language model " + lmCopyId.directory() + " changed since P was trained")
        .hasMessageContaining("trained with " + lmCopyId.sha256());
    // Resuming against the changed language model is refused too.
    var changed = FrozenCheckpoint.of("--lm", lmCopy.toString(), CheckpointKind.GPT2, conf);
    assertThatThrownBy(() -> LimberTrainer.run(new LimberTrainer.Request(out, clipId(), changed),
        options(FeatureMode.POOLED, 16, 5, 1e-2), conf, line -> { }, null, () -> false))
        .hasMessageContaining("Cannot resume from").hasMessageContaining("with the language model");
  }
}
