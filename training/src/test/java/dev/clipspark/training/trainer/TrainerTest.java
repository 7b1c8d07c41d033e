package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.data.Batch;
import dev.clipspark.training.data.DataFixtures;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.data.TrainingData;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.BpeTrainer;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The training loop on a real dataset built by the dataset builder: resume, gradient caching, non-finite losses. */
class TrainerTest {

  /** A small ViT CLIP: 32 px images in 8 px patches, one block each side, a 1,024-token vocabulary. */
  static final ModelConfig MODEL = new ModelConfig("trainer-test", 32, VisionConfig.vit(32, 1, 32, 8, 16),
      new TextConfig(16, 1024, 32, 2, 1));

  @TempDir static Path dir;
  static SparkSession spark;
  static String dataset;
  static String merges;
  static int vocab;
  static final Configuration CONF = new Configuration();

  @BeforeAll
  static void buildDataset() {
    spark = DataFixtures.spark("TrainerTest");
    // 120 pairs: 7 batches of 16 per epoch, the last 8 pairs dropped.
    dataset = DataFixtures.synthetic(spark, dir, "shapes", 120, 32, 40);
    merges = dir.resolve("merges.txt").toString();
    vocab = BpeTrainer.train(spark, dataset, 700, 1, merges).vocabSize();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  static TrainOptions options(String overrides) {
    return TrainOptions.from(new Settings(ConfigFactory.parseString("train.batch-size = 16\ntrain.max-steps = 10\n"
        + "train.warmup-steps = 2\ntrain.learning-rate = 1e-3\ntrain.checkpoint-every = 3\ntrain.log-every = 1\n"
        + "train.keep-checkpoints = 0\ntrain.data.decode-threads = 2\ntrain.data.shuffle-buffer = 50\n" + overrides)
        .withFallback(ConfigFactory.defaultReference()).resolve()));
  }

  static TrainSummary train(String out, TrainOptions options, List<String> log) {
    return Trainer.run(new Trainer.Request(dataset, MODEL, merges, vocab, out), options, CONF, log::add);
  }

  static List<JsonNode> metrics(String out) throws Exception {
    var json = new ObjectMapper();
    var nodes = new ArrayList<JsonNode>();
    for (String line : Files.readAllLines(Path.of(out, Trainer.METRICS_FILE))) {
      nodes.add(json.readTree(line));
    }
    return nodes;
  }

  @Test
  void aCrashedRunResumesFromItsNewestCheckpointAndEndsExactlyLikeAnUninterruptedOne() throws Exception {
    String straight = dir.resolve("straight").toString();
    TrainSummary uninterrupted = train(straight, options(""), new ArrayList<>());
    assertThat(uninterrupted.steps()).isEqualTo(10);
    assertThat(uninterrupted.startStep()).isZero();

    // The same run, failing after step 8 (checkpoints at 3 and 6; 10 steps cross the epoch boundary at 7).
    String crashed = dir.resolve("crashed").toString();
    assertThatThrownBy(() -> train(crashed, options("train.debug.fail-at-step = 8"), new ArrayList<>()))
        .hasMessageContaining("Failing on purpose on worker 0 after step 8");
    var log = new ArrayList<String>();
    TrainSummary resumed = train(crashed, options(""), log);
    assertThat(resumed.startStep()).isEqualTo(6);
    assertThat(resumed.steps()).isEqualTo(10);
    assertThat(log.get(0)).startsWith("Resuming " + crashed).contains("step 6, epoch 0");

    // The same loss curve, step by step, and metrics.jsonl describes one continuous run.
    List<JsonNode> a = metrics(straight);
    List<JsonNode> b = metrics(crashed);
    assertThat(b).hasSize(10);
    for (int i = 0; i < 10; i++) {
      assertThat(b.get(i).get("step").asLong()).isEqualTo(i + 1);
      assertThat(b.get(i).get("loss").asDouble()).as("loss at step %d", i + 1).isEqualTo(a.get(i).get("loss").asDouble());
      assertThat(b.get(i).get("learning_rate").asDouble()).isEqualTo(a.get(i).get("learning_rate").asDouble());
    }
    assertThat(resumed.lastLoss()).isEqualTo(uninterrupted.lastLoss());

    // The same final weights and optimizer state.
    LoadedCheckpoint x = Checkpoints.loadLatest(straight, CONF).orElseThrow();
    LoadedCheckpoint y = Checkpoints.loadLatest(crashed, CONF).orElseThrow();
    assertThat(y.step()).isEqualTo(10);
    for (String name : x.parameters().names()) {
      assertThat(y.parameters().value(name)).as(name).isEqualTo(x.parameters().value(name));
      assertThat(y.optimizer().orElseThrow().secondMoments().get(name))
          .isEqualTo(x.optimizer().orElseThrow().secondMoments().get(name));
    }
    assertThat(y.trainerState().get("epoch")).isEqualTo(x.trainerState().get("epoch")).isEqualTo(1L);
  }

  @Test
  void fineTuningWithALockedImageTowerStartsFromTheInitWeightsKeepsTheTowerAndResumesExactly() throws Exception {
    // The weights to start from: a short run of the same model.
    String base = dir.resolve("lit-base").toString();
    train(base, options("train.max-steps = 3"), new ArrayList<>());
    LoadedCheckpoint init = Checkpoints.loadLatest(base, CONF).orElseThrow();
    String lit = "train.lock-image = true\ntrain.init = \"" + base + "\"\n";

    // A new run from them, with no --model and no --tokenizer: both come from the checkpoint.
    String straight = dir.resolve("lit-straight").toString();
    var log = new ArrayList<String>();
    TrainSummary s = Trainer.run(new Trainer.Request(dataset, null, null, 0, straight), options(lit), CONF, log::add);
    assertThat(s.startStep()).isZero();
    assertThat(s.steps()).isEqualTo(10);
    assertThat(log.get(0)).startsWith("Starting " + straight + " from the weights of " + init.directory())
        .contains("(trained 3 steps)");
    assertThat(log.get(1)).contains("image tower locked");

    LoadedCheckpoint done = Checkpoints.loadLatest(straight, CONF).orElseThrow();
    assertThat(done.step()).isEqualTo(10);
    assertThat(done.trainerState()).containsEntry("lock_image", true).containsEntry("init", base);
    int image = 0;
    for (String name : init.parameters().names()) {
      if (ClipModel.isImageTower(name)) {
        image++;
        assertThat(done.parameters().value(name)).as(name).isEqualTo(init.parameters().value(name));
      }
    }
    assertThat(image).isGreaterThan(5);
    assertThat(done.parameters().value("token_embedding.weight"))
        .isNotEqualTo(init.parameters().value("token_embedding.weight"));
    assertThat(done.parameters().value("text_projection")).isNotEqualTo(init.parameters().value("text_projection"));
    // A fresh optimizer over the text tower only: its step count is this run's, no image-tower moments.
    assertThat(done.optimizer().orElseThrow().stepCount()).isEqualTo(10);
    assertThat(done.optimizer().orElseThrow().firstMoments().keySet()).noneMatch(ClipModel::isImageTower)
        .contains("token_embedding.weight", "logit_scale");

    // Killed after step 8 and resumed (init is ignored then: the checkpoint at 6 wins): the same run.
    String crashed = dir.resolve("lit-crashed").toString();
    assertThatThrownBy(() -> Trainer.run(new Trainer.Request(dataset, null, null, 0, crashed),
        options(lit + "train.debug.fail-at-step = 8"), CONF, line -> { }))
        .hasMessageContaining("Failing on purpose on worker 0 after step 8");
    assertThatThrownBy(() -> Trainer.run(new Trainer.Request(dataset, null, null, 0, crashed),
        options("train.init = \"" + base + "\""), CONF, line -> { }))
        .hasMessage("Cannot resume " + crashed + " with train.lock-image false: its checkpoints were trained with"
            + " true; use the same value or another --out");
    TrainSummary resumed = Trainer.run(new Trainer.Request(dataset, null, null, 0, crashed), options(lit), CONF,
        line -> { });
    assertThat(resumed.startStep()).isEqualTo(6);
    LoadedCheckpoint again = Checkpoints.loadLatest(crashed, CONF).orElseThrow();
    for (String name : done.parameters().names()) {
      assertThat(again.parameters().value(name)).as(name).isEqualTo(done.parameters().value(name));
    }
    List<JsonNode> a = metrics(straight);
    List<JsonNode> b = metrics(crashed);
    for (int i = 0; i < 10; i++) {
      assertThat(b.get(i).get("loss").asDouble()).as("loss at step %d", i + 1).isEqualTo(a.get(i).get("loss").asDouble());
    }
  }

  @Test
  void initWeightsOfAnotherArchitectureAreRefused() {
    String base = dir.resolve("init-other").toString();
    train(base, options("train.max-steps = 3"), new ArrayList<>());
    var other = new ModelConfig("wider", 32, VisionConfig.vit(32, 1, 64, 8, 16), new TextConfig(16, 1024, 32, 2, 1));
    assertThatThrownBy(() -> Trainer.run(new Trainer.Request(dataset, other, merges, vocab,
        dir.resolve("init-other-run").toString()), options("train.init = \"" + base + "\""), CONF, line -> { }))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot use the weights in " + Checkpoints.loadLatest(base, CONF).orElseThrow().directory()
            + " as model wider: they are model trainer-test");
    assertThatThrownBy(() -> Trainer.run(new Trainer.Request(dataset, null, null, 0,
        dir.resolve("init-missing-run").toString()), options("train.init = \"" + dir.resolve("nothing") + "\""), CONF,
        line -> { }))
        .hasMessageStartingWith("Cannot read model weights from " + dir.resolve("nothing") + ": nothing is there");
  }

  /** Runs {@code k} in-process workers on {@code out}; returns each rank's summary or exception. */
  static List<Object> workers(int k, String out, TrainOptions options) throws Exception {
    var collectives = Collectives.inProcess(k, Duration.ofSeconds(20));
    var pool = Executors.newFixedThreadPool(k);
    try {
      var futures = new ArrayList<Future<TrainSummary>>();
      for (var c : collectives) {
        futures.add(pool.submit(() -> Trainer.run(new Trainer.Request(dataset, MODEL, merges, vocab, out), options,
            CONF, l -> { }, c)));
      }
      var results = new ArrayList<Object>();
      for (var f : futures) {
        try {
          results.add(f.get(300, TimeUnit.SECONDS));
        } catch (ExecutionException e) {
          results.add(e.getCause());
        }
      }
      return results;
    } finally {
      pool.shutdownNow();
      collectives.forEach(Collective::close);
    }
  }

  @Test
  void twoWorkersComputeTheGlobalBatchLossAndResumeExactlyAfterOneDies() throws Exception {
    // 120 rows in two parts of 60: floor(60 / 8) = 7 steps per epoch; 9 steps cross into epoch 1.
    String straight = dir.resolve("k2-straight").toString();
    String common = "train.max-steps = 9\ntrain.checkpoint-every = 3\ntrain.verify-every = 2\n";
    List<Object> done = workers(2, straight, options(common));
    assertThat(done).allSatisfy(r -> assertThat(r).isInstanceOf(TrainSummary.class));
    assertThat(((TrainSummary) done.get(1)).lastLoss()).isEqualTo(((TrainSummary) done.get(0)).lastLoss());

    // Step 1's loss is the loss of one process over the two ranks' samples together.
    TrainOptions o = options(common);
    var tokenizer = ClipTokenizer.load(merges, vocab, CONF);
    var halves = new ArrayList<Batch>();
    for (int r = 0; r < 2; r++) {
      try (var data = TrainingData.builder().setDataset(dataset).setTokenizer(tokenizer).setContextLength(MODEL.text().contextLength())
          .setImageSize(32).setBatchSize(16).setSeed(o.seed()).optShuffleBuffer(o.shuffleBuffer())
          .optAugment(ImagePreprocessor.train(32, o.cropMinScale(), o.cropMaxScale())).optRank(r, 2).build()) {
        halves.add(data.next());
      }
    }
    var model = ClipModel.create(MODEL, ClipParameters.initialize(MODEL, o.seed(), DataType.FLOAT));
    model.setTraining(true);
    double oneProcess = new TrainStep(model, 16).run(Nd4j.concat(0, halves.get(0).images(), halves.get(1).images()),
        Nd4j.concat(0, halves.get(0).tokens(), halves.get(1).tokens())).loss();
    assertThat(metrics(straight).get(0).get("loss").asDouble()).isCloseTo(oneProcess, within(1e-5));

    // Worker 1 dies after step 5; worker 0 fails within the collective timeout instead of hanging.
    String crashed = dir.resolve("k2-crashed").toString();
    List<Object> failed = workers(2, crashed, options(common + "train.debug.fail-at-step = 5\ntrain.debug.rank = 1"));
    assertThat(failed.get(1)).isInstanceOf(IllegalStateException.class).extracting(t -> ((Throwable) t).getMessage())
        .asString().contains("Failing on purpose on worker 1 after step 5");
    assertThat(failed.get(0)).isInstanceOf(Throwable.class);
    assertThat(Checkpoints.loadLatest(crashed, CONF).orElseThrow().step()).isEqualTo(3);

    // Both resume from step 3 and end bit-identical to the uninterrupted pair.
    List<Object> resumed = workers(2, crashed, options(common));
    assertThat(resumed).allSatisfy(r -> assertThat(r).isInstanceOf(TrainSummary.class));
    assertThat(((TrainSummary) resumed.get(0)).startStep()).isEqualTo(3);
    LoadedCheckpoint x = Checkpoints.loadLatest(straight, CONF).orElseThrow();
    LoadedCheckpoint y = Checkpoints.loadLatest(crashed, CONF).orElseThrow();
    assertThat(y.step()).isEqualTo(9);
    assertThat(y.trainerState().get("workers")).isEqualTo(2L);
    for (String name : x.parameters().names()) {
      assertThat(y.parameters().value(name)).as(name).isEqualTo(x.parameters().value(name));
    }
    List<JsonNode> a = metrics(straight);
    List<JsonNode> b = metrics(crashed);
    for (int i = 0; i < 9; i++) {
      assertThat(b.get(i).get("loss").asDouble()).as("loss at step %d", i + 1).isEqualTo(a.get(i).get("loss").asDouble());
    }
  }

  @Test
  void workersWhoseParametersDifferAreStoppedByTheChecksum() throws Exception {
    var params = List.of(ClipParameters.initialize(MODEL, 1, DataType.FLOAT),
        ClipParameters.initialize(MODEL, 1, DataType.FLOAT));
    assertThat(ParameterChecksum.of(params.get(1))).isEqualTo(ParameterChecksum.of(params.get(0)));
    var collectives = Collectives.inProcess(2, Duration.ofSeconds(20));
    var pool = Executors.newFixedThreadPool(2);
    var agreeing = new ArrayList<Future<?>>();
    for (var c : collectives) {
      agreeing.add(pool.submit(() -> ParameterChecksum.verify(params.get(c.rank()), c, 7)));
    }
    for (var f : agreeing) {
      f.get(60, TimeUnit.SECONDS);
    }
    String name = params.get(1).names().get(3);
    params.get(1).value(name).putScalar(0, params.get(1).value(name).getFloat(0) + 1e-6f);
    assertThat(ParameterChecksum.of(params.get(1))).isNotEqualTo(ParameterChecksum.of(params.get(0)));
    try {
      var futures = new ArrayList<Future<?>>();
      for (var c : collectives) {
        futures.add(pool.submit(() -> ParameterChecksum.verify(params.get(c.rank()), c, 12)));
      }
      for (var f : futures) {
        assertThatThrownBy(() -> f.get(60, TimeUnit.SECONDS)).cause()
            .hasMessageStartingWith("Cannot continue training at step 12: the 2 workers' parameters differ");
      }
    } finally {
      pool.shutdownNow();
      collectives.forEach(Collective::close);
    }
  }

  @Test
  void theLossFallsAndTheLogitScaleStaysClamped() {
    var log = new ArrayList<String>();
    TrainSummary s = train(dir.resolve("falls").toString(), options("train.max-steps = 21\ntrain.learning-rate = 3e-3\n"
        + "train.log-every = 7\ntrain.checkpoint-every = 100"), log);
    assertThat(s.lastLoss()).isLessThan(s.firstLoss());
    assertThat(log).anyMatch(l -> l.startsWith("step 7/21 epoch 1 loss "));
    assertThat(log).anyMatch(l -> l.contains("samples/s") && l.contains("eta "));
    assertThat(s.checkpoint()).endsWith(Checkpoints.directoryName(21));
  }

  @Test
  void gradientCachingGivesTheGradientsOfTheWholeBatch() {
    ParameterSet params = ClipParameters.initialize(MODEL, 3, DataType.DOUBLE);
    ClipModel model = ClipModel.create(MODEL, params);
    INDArray images = Nd4j.randn(new Random(4).nextLong(), new long[] {12, 3, 32, 32}).castTo(DataType.DOUBLE);
    INDArray tokens = TrainBenchmark.syntheticTokens(new Random(5), 12, 16, 1024);
    TrainStep.Result whole = new TrainStep(model, 12).run(images, tokens);
    var expected = new LinkedHashMap<String, INDArray>();
    for (String name : params.names()) {
      expected.put(name, params.gradient(name).dup());
    }
    TrainStep.Result cached = new TrainStep(model, 4).run(images, tokens);
    assertThat(cached.loss()).isCloseTo(whole.loss(), org.assertj.core.api.Assertions.within(1e-12));
    for (String name : params.names()) {
      INDArray diff = params.gradient(name).sub(expected.get(name));
      double scale = Math.max(expected.get(name).amaxNumber().doubleValue(), 1e-12);
      assertThat(diff.amaxNumber().doubleValue() / scale).as(name).isLessThan(1e-9);
    }
    assertThatThrownBy(() -> new TrainStep(model, 5).run(images, tokens))
        .hasMessage("Cannot split a batch of 12 into micro-batches of 5: must divide it");
  }

  @Test
  void aNonFiniteLossStopsTheRunNamingTheStepOrIsSkippedWhenConfigured() {
    // A checkpoint whose weights hold a NaN, as a diverged run leaves them.
    for (String name : List.of("nan-stop", "nan-skip")) {
      String out = dir.resolve(name).toString();
      ParameterSet params = ClipParameters.initialize(MODEL, 0, DataType.FLOAT);
      params.value("text_projection").putScalar(0, 0, Float.NaN);
      var state = new LinkedHashMap<String, Object>();
      state.put("dataset", dataset);
      state.put("batch_size", 16);
      state.put("seed", 0);
      state.put("tokenizer_vocab_size", vocab);
      state.put("epoch", 0);
      state.put("sample_in_epoch", 32);
      var optimizer = new dev.clipspark.training.optim.AdamW(params,
          dev.clipspark.training.optim.AdamW.decayedNames(ClipParameters.specs(MODEL)));
      Checkpoints.save(out, new Checkpoint(2, state, MODEL, merges, params,
          dev.clipspark.training.checkpoint.OptimizerState.of(optimizer)), CONF);
    }
    assertThatThrownBy(() -> train(dir.resolve("nan-stop").toString(), options(""), new ArrayList<>()))
        .isInstanceOf(NonFiniteLossException.class)
        .hasMessageContaining("Cannot continue training trainer-test at step 3: the loss is NaN")
        .hasMessageContaining("train.on-non-finite-loss=skip");
    TrainSummary skipped = train(dir.resolve("nan-skip").toString(),
        options("train.on-non-finite-loss = skip\ntrain.max-steps = 5"), new ArrayList<>());
    assertThat(skipped.skippedSteps()).isEqualTo(3);
    assertThat(skipped.steps()).isEqualTo(5);
  }

  @Test
  void aResumedRunOutlivesTheCheckpointItResumedFrom() throws Exception {
    // keep-checkpoints 1 deletes the checkpoint the second run resumed from (step 2) once step 3 is saved; the
    // tokenizer merges that later checkpoints copy must come from the newest one (found by the cluster test).
    String out = dir.resolve("outlive").toString();
    String keepOne = "train.keep-checkpoints = 1\ntrain.checkpoint-every = 1\ntrain.warmup-steps = 1\n";
    train(out, options(keepOne + "train.max-steps = 2"), new ArrayList<>());
    TrainSummary resumed = train(out, options(keepOne + "train.max-steps = 4"), new ArrayList<>());
    assertThat(resumed.startStep()).isEqualTo(2);
    assertThat(resumed.steps()).isEqualTo(4);
    assertThat(java.nio.file.Files.exists(dir.resolve("outlive/checkpoints/step-0000000002"))).isFalse();
    var last = Checkpoints.load(dir.resolve("outlive/checkpoints/step-0000000004").toString(), CONF);
    assertThat(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(new org.apache.hadoop.fs.Path(last.tokenizerMerges()).toUri().getPath())))
        .isEqualTo(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(merges)));
  }

  @Test
  void resumingWithAnotherBatchSizeOrModelIsRefused() {
    String out = dir.resolve("refuse").toString();
    train(out, options("train.max-steps = 3"), new ArrayList<>());
    assertThatThrownBy(() -> train(out, options("train.batch-size = 8\ntrain.max-steps = 6"), new ArrayList<>()))
        .hasMessage("Cannot resume " + out + " with train.batch-size 8: its checkpoints were trained with 16;"
            + " use the same value or another --out");
    var other = new ModelConfig("other", 32, MODEL.vision(), MODEL.text());
    assertThatThrownBy(() -> Trainer.run(new Trainer.Request(dataset, other, merges, vocab, out), options(""), CONF,
        l -> { }))
        .hasMessage("Cannot resume " + out + " with model other: its checkpoints hold model trainer-test; use another"
            + " --out to start a new run");
  }

  @Test
  void aTokenizerLargerThanTheModelsVocabularyIsRefused() {
    var small = new ModelConfig("small-vocab", 32, MODEL.vision(), new TextConfig(16, 600, 32, 2, 1));
    assertThatThrownBy(() -> Trainer.run(new Trainer.Request(dataset, small, merges, vocab, dir.resolve("v").toString()),
        options(""), CONF, l -> { }))
        .hasMessageContaining("Cannot train small-vocab with the tokenizer " + merges + ": its " + vocab
            + " tokens exceed the model's text.vocab_size 600");
  }
}
