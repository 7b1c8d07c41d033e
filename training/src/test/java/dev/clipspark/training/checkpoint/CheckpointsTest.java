package dev.clipspark.training.checkpoint;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class CheckpointsTest {

  /** A CLIP small enough to save many times per test: 16-wide towers, a 100-token vocabulary. */
  static final ModelConfig MICRO = new ModelConfig("micro", 16,
      VisionConfig.vit(16, 1, 16, 8, 8), new TextConfig(8, 100, 16, 2, 1));

  private final Configuration conf = new Configuration();

  @TempDir
  Path tmp;

  private String out;
  private Path merges;

  @BeforeEach
  void setUp() throws IOException {
    out = tmp.resolve("run").toString();
    merges = tmp.resolve("merges.txt");
    Files.write(merges, "#version: 0.2\nh e\nl l\nhe ll\n\u00e9 t\n".getBytes(UTF_8));
  }

  @Test
  void roundTripRestoresEveryTensorBufferMomentAndTheState() throws IOException {
    var model = model(1);
    var adam = new AdamW(model, AdamW.decayedNames(ClipParameters.specs(MICRO)));
    train(model, adam, 2, 2);
    var state = new LinkedHashMap<String, Object>();
    state.put("epoch", 3L);
    state.put("sampleInEpoch", 12_345L);
    state.put("rng", Long.MIN_VALUE + 7);
    state.put("loss", 0.1234567890123);
    state.put("diverged", Double.NaN);
    state.put("run", "demo é");
    state.put("done", false);
    state.put("metrics", Map.of("lr", List.of(1e-4, 2L)));

    org.apache.hadoop.fs.Path saved = Checkpoints.save(out, new Checkpoint(42, state, MICRO, merges.toString(), model,
        OptimizerState.of(adam)), conf);

    Path dir = Path.of(out, "checkpoints", "step-0000000042");
    assertThat(saved.getName()).isEqualTo("step-0000000042");
    assertThat(names(dir)).contains("checkpoint.json", "model.bin", "optimizer.bin", "state.json", "model.conf",
        "tokenizer.txt");
    assertThat(Files.readString(Path.of(out, "checkpoints", "latest")).trim()).isEqualTo("step-0000000042");
    assertThat(Files.readAllBytes(dir.resolve("tokenizer.txt"))).isEqualTo(Files.readAllBytes(merges));
    // model.conf is a model file ModelConfigs reads (by path its name is the file's).
    ModelConfig fromFile = ModelConfigs.load(dir.resolve("model.conf").toString());
    assertThat(fromFile.vision()).isEqualTo(MICRO.vision());
    assertThat(fromFile.text()).isEqualTo(MICRO.text());
    // float32 tensors take 4 bytes each, in one file: params then buffers.
    assertThat(Files.size(dir.resolve("model.bin"))).isEqualTo(4 * model.elementCount() + 4 * 16 + 8);

    LoadedCheckpoint loaded = Checkpoints.load(saved.toString(), conf);
    assertThat(loaded.step()).isEqualTo(42);
    assertThat(loaded.model()).isEqualTo(MICRO);
    assertThat(loaded.trainerState()).isEqualTo(state);
    assertThat(loaded.trainerState().get("epoch")).isInstanceOf(Long.class);
    assertSameTensors(loaded.parameters(), model);
    assertThat(loaded.optimizer()).isPresent();
    OptimizerState restored = loaded.optimizer().orElseThrow();
    assertThat(restored.stepCount()).isEqualTo(2);
    for (String name : model.names()) {
      assertIdentical(restored.firstMoments().get(name), adam.firstMoment(name), name);
      assertIdentical(restored.secondMoments().get(name), adam.secondMoment(name), name);
    }
    assertThat(Files.readAllBytes(Path.of(java.net.URI.create(loaded.tokenizerMerges())))).isEqualTo(Files.readAllBytes(merges));

    // The restored optimiser continues exactly where the saved one was.
    var resumedAdam = new AdamW(loaded.parameters(), adam.decayed());
    restored.restoreInto(resumedAdam);
    train(model, adam, 1, 9);
    train(loaded.parameters(), resumedAdam, 1, 9);
    assertSameTensors(loaded.parameters(), model);
  }

  @Test
  void castsFloatingPointTensorsToTheRequestedType() {
    var model = model(2);
    save(5, model, null, 0);
    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, DataType.DOUBLE, conf).orElseThrow();
    assertThat(loaded.parameters().value("text_projection").dataType()).isEqualTo(DataType.DOUBLE);
    assertThat(loaded.parameters().buffer("visual.bn.running_mean").dataType()).isEqualTo(DataType.DOUBLE);
    assertThat(loaded.parameters().buffer("visual.bn.num_batches_tracked").dataType()).isEqualTo(DataType.LONG);
    assertThat(loaded.parameters().value("text_projection").toDoubleMatrix())
        .isDeepEqualTo(model.value("text_projection").castTo(DataType.DOUBLE).toDoubleMatrix());
    assertThat(loaded.optimizer()).isEmpty();
  }

  @Test
  void loadModelDoesNotReadTheOptimizerState() throws IOException {
    var model = model(3);
    org.apache.hadoop.fs.Path saved = save(7, model, new AdamW(model, java.util.Set.of()), 0);
    flipByte(Path.of(saved.toUri()).resolve("optimizer.bin"), 10);

    LoadedCheckpoint loaded = Checkpoints.loadModel(saved.toString(), DataType.FLOAT, conf);
    assertThat(loaded.optimizer()).isEmpty();
    assertSameTensors(loaded.parameters(), model);
    assertThatThrownBy(() -> Checkpoints.load(saved.toString(), conf))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("optimizer.bin fails its SHA-256 check");
  }

  @Test
  void aCorruptModelFallsBackToThePreviousCheckpoint() throws IOException {
    save(1, model(4), null, 0);
    var newer = save(2, model(5), null, 0);
    flipByte(Path.of(newer.toUri()).resolve("model.bin"), 100);

    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(1);
    assertSameTensors(loaded.parameters(), model(4));
    assertThatThrownBy(() -> Checkpoints.load(newer.toString(), conf))
        .isInstanceOf(CheckpointException.class)
        .hasMessageStartingWith("Cannot load checkpoint " + newer)
        .hasMessageContaining("model.bin fails its SHA-256 check");
  }

  @Test
  void hadoopsOwnChecksumAlsoCatchesACorruptFileAndTheMessageNamesIt() throws IOException {
    var saved = save(1, model(6), null, 0);
    Path file = Path.of(saved.toUri()).resolve("model.bin");
    byte[] bytes = Files.readAllBytes(file);
    bytes[3] ^= 0x10;
    Files.write(file, bytes); // leaves .model.bin.crc, which Hadoop's local file system checks
    assertThatThrownBy(() -> Checkpoints.load(saved.toString(), conf))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("model.bin");
  }

  @Test
  void aTruncatedFileIsReportedWithItsSize() throws IOException {
    var saved = save(1, model(7), null, 0);
    Path file = Path.of(saved.toUri()).resolve("state.json");
    long size = Files.size(file);
    try (var channel = Files.newByteChannel(file, StandardOpenOption.WRITE)) {
      channel.truncate(size - 3);
    }
    Files.deleteIfExists(file.resolveSibling(".state.json.crc"));
    assertThatThrownBy(() -> Checkpoints.load(saved.toString(), conf))
        .isInstanceOf(CheckpointException.class)
        .hasMessage("Cannot load checkpoint %s: state.json has %d bytes, expected %d: the file is truncated or corrupt",
            saved, size - 3, size);
  }

  @Test
  void leftoverTemporaryAndIncompleteStepDirectoriesAreIgnored() throws IOException {
    save(1, model(8), null, 0);
    Path root = Path.of(out, "checkpoints");
    Path leftover = Files.createDirectories(root.resolve("_tmp-step-0000000002-123e4567"));
    Files.write(leftover.resolve("model.bin"), new byte[] {1, 2, 3});
    Path incomplete = Files.createDirectories(root.resolve("step-0000000003"));
    Files.write(incomplete.resolve("model.bin"), new byte[] {1, 2, 3});

    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(1);
    assertThat(leftover).doesNotExist();
    assertThat(incomplete).exists();
    assertThatThrownBy(() -> Checkpoints.load(incomplete.toString(), conf))
        .isInstanceOf(CheckpointException.class)
        .hasMessage("Cannot load checkpoint " + incomplete
            + ": checkpoint.json is missing, so the checkpoint is incomplete");

    // Even when the pointer names the incomplete one.
    Files.writeString(root.resolve("latest"), "step-0000000003\n");
    Files.deleteIfExists(root.resolve(".latest.crc"));
    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(1);
  }

  @Test
  void aPointerToADeletedCheckpointFallsBackToTheNewestComplete() throws IOException {
    save(1, model(9), null, 0);
    save(2, model(10), null, 0);
    var newest = save(3, model(11), null, 0);
    deleteTree(Path.of(newest.toUri()));
    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(2);
  }

  @Test
  void withoutAPointerTheNewestCompleteCheckpointLoads() throws IOException {
    save(1, model(12), null, 0);
    save(2, model(13), null, 0);
    Files.delete(Path.of(out, "checkpoints", "latest"));
    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(2);
  }

  @Test
  void retentionKeepsTheNewestNCompleteCheckpoints() throws IOException {
    Path stale = Files.createDirectories(Path.of(out, "checkpoints", "step-0000000000"));
    for (long step = 1; step <= 5; step++) {
      save(step, model((int) step), null, 2);
    }
    assertThat(names(Path.of(out, "checkpoints")).stream().filter(n -> n.startsWith("step-")))
        .containsExactlyInAnyOrder("step-0000000004", "step-0000000005");
    assertThat(stale).doesNotExist();
    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(5);
  }

  @Test
  void savingAStepAgainReplacesIt() {
    save(4, model(14), null, 0);
    save(4, model(15), null, 0);
    assertSameTensors(Checkpoints.loadLatest(out, conf).orElseThrow().parameters(), model(15));
  }

  @Test
  void noCheckpointsIsEmptyButOnlyCorruptOnesIsAnError() throws IOException {
    assertThat(Checkpoints.loadLatest(out, conf)).isEmpty();
    var only = save(1, model(16), null, 0);
    Path file = Path.of(only.toUri()).resolve("model.conf");
    flipByte(file, 2);
    assertThatThrownBy(() -> Checkpoints.loadLatest(out, conf))
        .isInstanceOf(CheckpointException.class)
        .hasMessageStartingWith("Cannot resume from ")
        .hasMessageContaining("none of its 1 complete checkpoints verifies")
        .hasMessageContaining("model.conf fails its SHA-256 check");
  }

  @Test
  void aFailedSaveLeavesThePreviousCheckpointAndNoLeftovers() throws IOException {
    save(1, model(17), null, 0);
    var missing = tmp.resolve("no-such-merges.txt").toString();
    assertThatThrownBy(() -> Checkpoints.save(out,
        new Checkpoint(2, Map.of(), MICRO, missing, model(18), null), conf))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageStartingWith("Cannot save the checkpoint of step 2 to ")
        .hasMessageContaining("the file " + missing + " to save as tokenizer.txt does not exist");
    assertThat(names(Path.of(out, "checkpoints")).stream().filter(n -> !n.startsWith(".")))
        .containsExactlyInAnyOrder("latest", "step-0000000001");
    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(1);
  }

  @Test
  void trainerStateThatIsNotJsonFailsTheSave() {
    assertThatThrownBy(() -> Checkpoints.save(out,
        new Checkpoint(3, Map.of("rng", new Object()), MICRO, merges.toString(), model(20), null), conf))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageStartingWith("Cannot save the checkpoint of step 3 to ")
        .hasMessageContaining("the trainer state cannot be written as JSON");
    assertThat(Checkpoints.loadLatest(out, conf)).isEmpty();
  }

  @Test
  void rejectsNegativeRetention() {
    assertThatThrownBy(() -> save(1, model(19), null, -1))
        .hasMessage("Cannot keep -1 checkpoints: must be at least 0 (0 keeps all)");
  }

  @Test
  void aCheckpointOfAnotherKindKeepsItsModelConfAndExtraFilesAndIsNotAClipModel() throws IOException {
    Path vocab = tmp.resolve("vocab.json");
    Files.writeString(vocab, "{\"a\": 0, \"b\": 1}");
    String conf = "vocab_size = 2\nn_embd = 16\n";
    var model = model(3);
    Checkpoints.save(out, new Checkpoint(7, Map.of("epoch", 1L), CheckpointKind.GPT2, "gpt2-micro", conf,
        Map.of("vocab.json", vocab.toString(), "merges.txt", merges.toString()), model, null), this.conf);

    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, this.conf).orElseThrow();
    assertThat(loaded.kind()).isEqualTo(CheckpointKind.GPT2);
    assertThat(loaded.modelName()).isEqualTo("gpt2-micro");
    assertThat(loaded.modelConf()).isEqualTo(conf);
    assertThat(loaded.files().keySet()).containsExactlyInAnyOrder("vocab.json", "merges.txt");
    assertThat(Files.readString(Path.of(java.net.URI.create(loaded.file("vocab.json"))))).isEqualTo(Files.readString(vocab));
    assertSameTensors(loaded.parameters(), model);
    assertThat(Files.readString(Path.of(out, "checkpoints", "step-0000000007", "checkpoint.json")))
        .contains("\"kind\" : \"gpt2\"");
    assertThatThrownBy(loaded::model).isInstanceOf(CheckpointException.class)
        .hasMessageContaining("Cannot use checkpoint").hasMessageContaining("as a clip checkpoint")
        .hasMessageContaining("it holds a gpt2 model (gpt2-micro)");
    assertThatThrownBy(() -> loaded.file("tokenizer.txt")).hasMessageContaining("it has no file tokenizer.txt");

    // A damaged extra file fails verification like any other.
    flipByte(Path.of(java.net.URI.create(loaded.file("merges.txt"))), 3);
    assertThatThrownBy(() -> Checkpoints.load(loaded.directory(), this.conf))
        .isInstanceOf(CheckpointException.class).hasMessageContaining("merges.txt fails its SHA-256 check");
  }

  @Test
  void aCheckpointWithoutAKindFieldIsAClipCheckpoint() throws IOException {
    Checkpoints.save(out, new Checkpoint(1, Map.of(), MICRO, merges.toString(), model(1), null), conf);
    Path manifest = Path.of(out, "checkpoints", "step-0000000001", "checkpoint.json");
    String json = Files.readString(manifest);
    assertThat(json).contains("\"kind\" : \"clip\"");
    Files.deleteIfExists(manifest.resolveSibling(".checkpoint.json.crc"));
    Files.writeString(manifest, json.replace("\"kind\" : \"clip\",", ""));
    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.kind()).isEqualTo(CheckpointKind.CLIP);
    assertThat(loaded.model().vision()).isEqualTo(MICRO.vision());
    assertThat(Files.readAllBytes(Path.of(java.net.URI.create(loaded.tokenizerMerges())))).isEqualTo(Files.readAllBytes(merges));

    Files.deleteIfExists(manifest.resolveSibling(".checkpoint.json.crc"));
    Files.writeString(manifest, json.replace("\"kind\" : \"clip\"", "\"kind\" : \"bert\""));
    assertThatThrownBy(() -> Checkpoints.load(manifest.getParent().toString(), conf))
        .hasMessageContaining("unknown checkpoint kind 'bert': must be one of clip, gpt2, limber");
  }

  @Test
  void extraFilesCannotTakeTheCheckpointsOwnNamesAndAClipCheckpointNeedsItsTokenizer() {
    assertThatThrownBy(() -> new Checkpoint(1, Map.of(), CheckpointKind.GPT2, "m", "", Map.of("model.bin", "x"),
        model(1), null)).hasMessageContaining("Cannot checkpoint the extra file 'model.bin'");
    assertThatThrownBy(() -> new Checkpoint(1, Map.of(), CheckpointKind.GPT2, "m", "", Map.of("../x", "x"),
        model(1), null)).hasMessageContaining("must be a plain file name");
    assertThatThrownBy(() -> new Checkpoint(1, Map.of(), CheckpointKind.CLIP, "m", "", Map.of(), model(1), null))
        .hasMessageContaining("without its tokenizer tokenizer.txt");
  }

  @Test
  void modelConfTextRoundTripsEveryPackagedModel() {
    for (String name : ModelConfigs.available()) {
      ModelConfig model = ModelConfigs.load(name);
      assertThat(ModelConfText.parse(name, ModelConfText.render(model), "test")).as(name).isEqualTo(model);
    }
    assertThat(ModelConfText.parse("micro", ModelConfText.render(MICRO), "test")).isEqualTo(MICRO);
  }

  private org.apache.hadoop.fs.Path save(long step, ParameterSet model, AdamW adam, int keep) {
    return Checkpoints.save(out, new Checkpoint(step, Map.of("epoch", step), MICRO, merges.toString(), model,
        adam == null ? null : OptimizerState.of(adam)), keep, conf);
  }

  /** The micro model's parameters from {@code seed}, plus a float and a long buffer. */
  static ParameterSet model(int seed) {
    ParameterSet p = ClipParameters.initialize(MICRO, seed, DataType.FLOAT);
    var r = new Random(seed);
    float[] mean = new float[16];
    for (int i = 0; i < mean.length; i++) {
      mean[i] = (float) r.nextGaussian();
    }
    p.addBuffer("visual.bn.running_mean", Nd4j.createFromArray(mean));
    p.addBuffer("visual.bn.num_batches_tracked", Nd4j.scalar(DataType.LONG, 1000L + seed));
    return p;
  }

  private static void train(ParameterSet model, AdamW adam, int steps, long seed) {
    var r = new Random(seed);
    for (int s = 0; s < steps; s++) {
      for (String name : model.names()) {
        INDArray g = model.gradient(name);
        for (long i = 0; i < g.length(); i++) {
          g.putScalar(i, r.nextGaussian());
        }
      }
      adam.step(1e-3);
    }
  }

  static void assertSameTensors(ParameterSet actual, ParameterSet expected) {
    assertThat(actual.names()).isEqualTo(expected.names());
    assertThat(actual.bufferNames()).isEqualTo(expected.bufferNames());
    for (String name : expected.names()) {
      assertIdentical(actual.value(name), expected.value(name), name);
    }
    for (String name : expected.bufferNames()) {
      assertIdentical(actual.buffer(name), expected.buffer(name), name);
    }
  }

  private static void assertIdentical(INDArray actual, INDArray expected, String name) {
    assertThat(actual.dataType()).as(name).isEqualTo(expected.dataType());
    assertThat(actual.shape()).as(name).isEqualTo(expected.shape());
    assertThat(actual.dup('c').data().asBytes()).as(name).isEqualTo(expected.dup('c').data().asBytes());
  }

  private static void flipByte(Path file, int at) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    bytes[at] ^= 0x01;
    Files.write(file, bytes);
    // Without Hadoop's own .crc file the local file system does not check, so the SHA-256 must.
    Files.deleteIfExists(file.resolveSibling("." + file.getFileName() + ".crc"));
  }

  static List<String> names(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return new ArrayList<>(files.map(p -> p.getFileName().toString()).toList());
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
