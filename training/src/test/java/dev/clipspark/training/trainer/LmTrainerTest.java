package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.SyntheticShapes;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.lm.LmCheckpoints;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.tokenizer.Gpt2BpeTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The language-model training loop on text files of coloured-shape captions, without Spark: K workers as threads
 * against one process, exact resume, and the settings and inputs it refuses.
 */
class LmTrainerTest {

  static final LmConfig MODEL = new LmConfig("lm-trainer-test", 300, 24, 16, 2, 2, 1e-5);
  static final Configuration CONF = new Configuration();

  @TempDir static Path dir;
  static String corpus;
  static String tokenizer;

  @BeforeAll
  static void corpusAndTokenizer() throws Exception {
    var rnd = new SplittableRandom(5);
    var lines = new ArrayList<String>();
    for (int i = 0; i < 100; i++) {
      lines.add(SyntheticShapes.caption(SyntheticShapes.classOf(rnd.nextInt(1 << 20)), rnd));
    }
    corpus = Files.write(dir.resolve("captions.txt"), lines).toString();
    tokenizer = dir.resolve("tokenizer").toString();
    Gpt2BpeTrainer.learn(lines, 300).write(tokenizer, CONF);
  }

  static TrainOptions options(String overrides) {
    return TrainOptions.from(new Settings(ConfigFactory.parseString("train.batch-size = 8\ntrain.max-steps = 6\n"
        + "train.warmup-steps = 2\ntrain.learning-rate = 3e-3\ntrain.checkpoint-every = 2\ntrain.log-every = 1\n"
        + "train.keep-checkpoints = 0\ntrain.weight-decay = 0.1\n" + overrides)
        .withFallback(ConfigFactory.defaultReference()).resolve()));
  }

  static LmTrainer.Request request(String out) {
    return new LmTrainer.Request(null, List.of(corpus), MODEL, tokenizer, out);
  }

  static List<JsonNode> metrics(String out) throws Exception {
    var json = new ObjectMapper();
    var nodes = new ArrayList<JsonNode>();
    for (String line : Files.readAllLines(Path.of(out, LmTrainer.METRICS_FILE))) {
      nodes.add(json.readTree(line));
    }
    return nodes;
  }

  /** Runs K workers as threads of this JVM with in-process collectives; returns each one's result or error. */
  static List<Object> workers(int k, String out, TrainOptions options, DataType type) throws Exception {
    List<Collective> collectives = Collectives.inProcess(k);
    ExecutorService pool = Executors.newFixedThreadPool(k);
    try {
      var futures = new ArrayList<Future<Object>>();
      for (Collective c : collectives) {
        futures.add(pool.submit(() -> {
          try {
            return LmTrainer.run(request(out), options, CONF, line -> { }, c, () -> false, type);
          } catch (RuntimeException e) {
            return e;
          } finally {
            c.close();
          }
        }));
      }
      var results = new ArrayList<Object>();
      for (Future<Object> f : futures) {
        results.add(f.get(120, TimeUnit.SECONDS));
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }

  static double maxRelative(INDArray a, INDArray b) {
    double scale = Math.max(Transforms.abs(b).maxNumber().doubleValue(), 1e-30);
    return Transforms.abs(a.sub(b)).maxNumber().doubleValue() / scale;
  }

  @Test
  void oneTwoAndFourWorkersEndWithTheParametersOfOneProcessInDouble() throws Exception {
    String one = dir.resolve("double-1").toString();
    TrainSummary s = LmTrainer.run(request(one), options(""), CONF, line -> { }, null, () -> false, DataType.DOUBLE);
    assertThat(s.steps()).isEqualTo(6);
    LoadedCheckpoint reference = Checkpoints.loadLatest(one, CONF).orElseThrow();
    assertThat(reference.kind()).isEqualTo(CheckpointKind.GPT2);
    assertThat(reference.parameters().value("wte.weight").dataType()).isEqualTo(DataType.DOUBLE);
    List<JsonNode> expected = metrics(one);
    for (int k : new int[] {2, 4}) {
      String out = dir.resolve("double-" + k).toString();
      // Micro-batches of 1 row on every worker: padding and accumulation must not change anything either.
      List<Object> results = workers(k, out, options("train.micro-batch-size = 1\ntrain.verify-every = 3"),
          DataType.DOUBLE);
      assertThat(results).allSatisfy(r -> assertThat(r).isInstanceOf(TrainSummary.class));
      LoadedCheckpoint c = Checkpoints.loadLatest(out, CONF).orElseThrow();
      assertThat(c.trainerState().get("workers")).isEqualTo((long) k);
      for (String name : reference.parameters().names()) {
        assertThat(maxRelative(c.parameters().value(name), reference.parameters().value(name)))
            .as("K=%d %s", k, name).isLessThan(1e-9);
      }
      List<JsonNode> got = metrics(out);
      for (int i = 0; i < 6; i++) {
        assertThat(got.get(i).get("loss").asDouble()).as("K=%d loss at step %d", k, i + 1)
            .isCloseTo(expected.get(i).get("loss").asDouble(), within(1e-10));
      }
    }
    // The run learned something: its loss fell.
    assertThat(expected.get(5).get("loss").asDouble()).isLessThan(expected.get(0).get("loss").asDouble());
  }

  @Test
  void aCrashedRunResumesAndEndsBitIdenticalToAnUninterruptedOne() throws Exception {
    String straight = dir.resolve("straight").toString();
    // 100 texts in batches of 8: 12 batches per epoch, so 14 steps cross into epoch 1.
    TrainOptions o = options("train.max-steps = 14\ntrain.checkpoint-every = 4");
    TrainSummary uninterrupted = LmTrainer.run(request(straight), o, CONF, line -> { });
    assertThat(uninterrupted.steps()).isEqualTo(14);

    String crashed = dir.resolve("crashed").toString();
    assertThatThrownBy(() -> LmTrainer.run(request(crashed), options("train.max-steps = 14\ntrain.checkpoint-every = 4"
        + "\ntrain.debug.fail-at-step = 10"), CONF, line -> { }))
        .hasMessageContaining("Failing on purpose on worker 0 after step 10");
    var log = new ArrayList<String>();
    TrainSummary resumed = LmTrainer.run(new LmTrainer.Request(null, List.of(corpus), null, null, crashed), o, CONF,
        log::add);
    assertThat(resumed.startStep()).isEqualTo(8);
    assertThat(log.get(0)).startsWith("Resuming " + crashed).contains("step 8");

    LoadedCheckpoint x = Checkpoints.loadLatest(straight, CONF).orElseThrow();
    LoadedCheckpoint y = Checkpoints.loadLatest(crashed, CONF).orElseThrow();
    assertThat(y.step()).isEqualTo(14);
    assertThat(y.trainerState()).containsEntry("epoch", 1L).containsEntry("batch_in_epoch", 2L);
    for (String name : x.parameters().names()) {
      assertThat(y.parameters().value(name)).as(name).isEqualTo(x.parameters().value(name));
      assertThat(y.optimizer().orElseThrow().firstMoments().get(name)).as(name)
          .isEqualTo(x.optimizer().orElseThrow().firstMoments().get(name));
    }
    List<JsonNode> a = metrics(straight);
    List<JsonNode> b = metrics(crashed);
    assertThat(b).hasSize(14);
    for (int i = 0; i < 14; i++) {
      assertThat(b.get(i).get("step").asLong()).isEqualTo(i + 1);
      assertThat(b.get(i).get("loss").asDouble()).as("loss at step %d", i + 1)
          .isEqualTo(a.get(i).get("loss").asDouble());
    }

    // The checkpoint is a language model with its tokenizer, as train-limber reads it.
    LmCheckpoints.Loaded lm = LmCheckpoints.load(straight, DataType.FLOAT, CONF);
    assertThat(lm.model()).isEqualTo(MODEL);
    assertThat(lm.tokenizer().vocabSize()).isEqualTo(300);
    assertThat(lm.step()).isEqualTo(14);

    // Fine-tuning from it (train.init): step 0, its weights, its tokenizer.
    String tuned = dir.resolve("tuned").toString();
    var tuneLog = new ArrayList<String>();
    TrainSummary t = LmTrainer.run(new LmTrainer.Request(null, List.of(corpus), null, null, tuned),
        options("train.max-steps = 3").withInit(straight), CONF, tuneLog::add);
    assertThat(t.startStep()).isZero();
    assertThat(tuneLog.get(0)).contains("from the weights of " + lm.directory());
    assertThat(t.firstLoss()).isLessThan(metrics(straight).get(0).get("loss").asDouble());
  }

  @Test
  void badSettingsAndInputsAreRefusedNamingThem() throws Exception {
    String out = dir.resolve("refused").toString();
    assertThatThrownBy(() -> LmTrainer.checkPlan(request(out), options("train.batch-size = 128"), CONF, 1))
        .hasMessage("Cannot train a language model on " + corpus + " with train.batch-size 128: it holds only 100"
            + " texts");
    assertThatThrownBy(() -> LmTrainer.checkPlan(request(out), options("train.batch-size = 8"), CONF, 3))
        .hasMessage("Cannot set train.batch-size to 8: must be a multiple of the 3 workers");
    assertThatThrownBy(() -> LmTrainer.checkPlan(request(out), options("train.warmup-steps = 50"), CONF, 1))
        .hasMessageContaining("train.warmup-steps");
    var small = new LmConfig("small-vocab", 200, 24, 16, 2, 2, 1e-5);
    assertThatThrownBy(() -> LmTrainer.checkPlan(new LmTrainer.Request(null, List.of(corpus), small, tokenizer, out),
        options(""), CONF, 1))
        .hasMessage("Cannot train small-vocab with the tokenizer " + tokenizer + ": its 300 tokens exceed the model's"
            + " vocab_size 200");
    assertThatThrownBy(() -> LmTrainer.checkPlan(new LmTrainer.Request(null, List.of(corpus), null, tokenizer, out),
        options(""), CONF, 1))
        .hasMessageContaining("no model given (--model NAME|FILE");
    assertThatThrownBy(() -> new LmTrainer.Request(null, List.of(), MODEL, tokenizer, out))
        .hasMessageContaining("give either a dataset (--data DIR) or text files (--corpus FILE,...), not neither");
    assertThat(Path.of(out)).doesNotExist();

    // Resuming with another batch size or model is refused.
    String run = dir.resolve("short").toString();
    LmTrainer.run(request(run), options("train.max-steps = 3"), CONF, line -> { });
    assertThatThrownBy(() -> LmTrainer.run(request(run), options("train.max-steps = 4\ntrain.batch-size = 4"), CONF,
        line -> { }))
        .hasMessage("Cannot resume " + run + " with train.batch-size 4: its checkpoints were trained with 8; use the"
            + " same value or another --out");
    var other = new LmConfig("other", 300, 24, 32, 2, 2, 1e-5);
    assertThatThrownBy(() -> LmTrainer.run(new LmTrainer.Request(null, List.of(corpus), other, tokenizer, run),
        options("train.max-steps = 4"), CONF, line -> { }))
        .hasMessageContaining("Cannot resume " + run + " with model other: its checkpoints hold model lm-trainer-test");

    // An output directory holding a CLIP checkpoint is neither resumed nor read as a language model.
    String clip = dir.resolve("clip-run").toString();
    Path merges = Files.writeString(dir.resolve("clip-merges.txt"), "#version: 0.2\nh e\n");
    Checkpoints.save(clip, new Checkpoint(1, java.util.Map.of(), TrainerTest.MODEL, merges.toString(),
        ClipParameters.initialize(TrainerTest.MODEL, 1, DataType.FLOAT), null), CONF);
    assertThatThrownBy(() -> LmTrainer.run(request(clip), options(""), CONF, line -> { }))
        .hasMessage("Cannot resume " + clip + " as a language model: its checkpoints hold a clip model (trainer-test);"
            + " use another --out");
    assertThatThrownBy(() -> LmCheckpoints.load(clip, DataType.FLOAT, CONF))
        .hasMessageContaining("as a gpt2 checkpoint: it holds a clip model (trainer-test)");
  }
}
