package dev.clipspark.training.weights;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractMap;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Imports the reference fixtures made by PyTorch ({@code tools/reference/make_clip_fixtures.py}) in every format,
 * checks ClipSpark's features and logits against PyTorch's, exports and re-imports, and feeds the reader damaged
 * and hostile files.
 */
class ExternalWeightsTest {

  /** Float32 agreement asked of every format: 1e-4 relative, element-wise. */
  static final double TOLERANCE = 1e-4;

  @TempDir
  Path tmp;

  static Stream<Arguments> fixtures() {
    return Stream.of("vit", "rn").flatMap(m -> Stream.of(ExternalWeights.PYTORCH, ExternalWeights.TORCHSCRIPT,
        ExternalWeights.SAFETENSORS).map(f -> Arguments.of(m, f)));
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("fixtures")
  void everyFormatImportsAndMatchesPyTorch(String name, String format) {
    var ref = ReferenceFixtures.load(name);
    ImportedWeights w = ExternalWeights.read(ref.file(format), null);

    assertThat(w.format()).isEqualTo(format);
    ModelConfig expected = ref.model(w.model().name());
    assertThat(w.model()).isEqualTo(expected);
    assertThat(w.parameters().names())
        .containsExactlyElementsOf(ClipParameters.specs(expected).stream().map(s -> s.name()).toList());
    assertThat(w.parameters().bufferNames())
        .containsExactlyElementsOf(ClipParameters.buffers(expected).stream().map(b -> b.name()).toList());
    if (format.equals(ExternalWeights.TORCHSCRIPT)) {
      assertThat(w.ignored()).containsExactlyInAnyOrder("input_resolution", "context_length", "vocab_size");
    }
    for (String p : w.parameters().names()) {
      assertThat(w.parameters().value(p).dataType()).as(p).isEqualTo(DataType.FLOAT);
    }
    for (String b : w.parameters().bufferNames()) {
      INDArray v = w.parameters().buffer(b);
      if (b.endsWith("num_batches_tracked")) {
        assertThat(v.dataType()).isEqualTo(DataType.LONG);
        assertThat(v.getLong(0)).isEqualTo(1234L);
      } else {
        assertThat(v.dataType()).isEqualTo(DataType.FLOAT);
      }
    }
    assertThat(w.parameters().value("logit_scale").getDouble(0))
        .isEqualTo(ref.json.path("logit_scale").asDouble());

    List<INDArray> out = ReferenceFixtures.compute(w.model(), w.parameters(), ref.images(), ref.tokens());
    assertThat(ReferenceFixtures.maxRelative(out.get(0), ref.reference("image_features"))).isLessThan(TOLERANCE);
    assertThat(ReferenceFixtures.maxRelative(out.get(1), ref.reference("text_features"))).isLessThan(TOLERANCE);
    assertThat(ReferenceFixtures.maxRelative(out.get(2), ref.reference("logits_per_image"))).isLessThan(TOLERANCE);
  }

  @Test
  void allThreeFormatsHoldTheSameFloat32Values() {
    for (String name : List.of("vit", "rn")) {
      var ref = ReferenceFixtures.load(name);
      ParameterSet a = ExternalWeights.read(ref.file(ExternalWeights.TORCHSCRIPT), null).parameters();
      for (String format : List.of(ExternalWeights.PYTORCH, ExternalWeights.SAFETENSORS)) {
        assertBitIdentical(a, ExternalWeights.read(ref.file(format), null).parameters());
      }
    }
  }

  @Test
  void aGivenMatchingModelIsAccepted() {
    var ref = ReferenceFixtures.load("vit");
    ModelConfig given = ref.model("my-vit");
    ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.SAFETENSORS), given);
    assertThat(w.model()).isSameAs(given);
  }

  @Test
  void anInferredModelIsNamedAfterTheFile() {
    var ref = ReferenceFixtures.load("rn");
    assertThat(ExternalWeights.read(ref.file(ExternalWeights.PYTORCH), null).model().name()).isEqualTo("rn.pytorch");
  }

  @Test
  void aMismatchingModelIsRefusedListingEveryMismatch() {
    var ref = ReferenceFixtures.load("vit");
    ModelConfig tiny = ModelConfigs.load("tiny-vit");
    assertThatThrownBy(() -> ExternalWeights.read(ref.file(ExternalWeights.PYTORCH), tiny))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("as model tiny-vit (given)")
        .hasMessageContaining("visual.conv1.weight is [64, 3, 4, 4] in the file, [64, 3, 8, 8] in the model")
        .hasMessageContaining("token_embedding.weight is [128, 64] in the file, [49408, 64] in the model")
        .hasMessageContaining("positional_embedding is [16, 64] in the file, [32, 64] in the model")
        .hasMessageContaining("text_projection is [64, 32] in the file, [64, 64] in the model")
        // tiny-vit's text tower has 2 blocks, the file 1
        .hasMessageContaining("missing: transformer.resblocks.1.attn.in_proj_weight [192, 64]");
  }

  @Test
  void aResNetFileGivenAViTModelListsTheUnknownAndMissingTensors() {
    var ref = ReferenceFixtures.load("rn");
    ModelConfig vit = ReferenceFixtures.load("vit").model("vit-model");
    assertThatThrownBy(() -> ExternalWeights.read(ref.file(ExternalWeights.SAFETENSORS), vit))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("tensors are missing: visual.class_embedding [64]")
        .hasMessageContaining("visual.conv1.weight is [1, 3, 3, 3] in the file, [64, 3, 4, 4] in the model")
        .hasMessageContaining("140 tensors are unknown to the model: visual.bn1.weight [1]")
        .hasMessageContaining("visual.attnpool.q_proj.weight [64, 64]");
  }

  @Test
  void aMissingTensorIsAnErrorNamingIt() throws IOException {
    var ref = ReferenceFixtures.load("vit");
    ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.SAFETENSORS), null);
    var tensors = new java.util.ArrayList<>(ExternalWeights.stateDict(w.model(), w.parameters()));
    tensors.removeIf(e -> e.getKey().equals("ln_final.bias") || e.getKey().equals("visual.proj"));
    Path file = tmp.resolve("missing.safetensors");
    try (var out = Files.newOutputStream(file)) {
      Safetensors.write(tensors, out);
    }
    // Without visual.proj the file reads as a ResNet, which it is not: the inference names what it lacks.
    assertThatThrownBy(() -> ExternalWeights.read(file, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("Cannot infer the architecture of " + file)
        .hasMessageContaining("visual.layer1.0.conv1.weight");
    // With the model given, every missing tensor is listed.
    assertThatThrownBy(() -> ExternalWeights.read(file, w.model()))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("2 tensors are missing: visual.proj [64, 32], ln_final.bias [64]");
  }

  @Test
  void anUnknownTensorIsAnErrorNamingIt() throws IOException {
    var ref = ReferenceFixtures.load("vit");
    ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.TORCHSCRIPT), null);
    var tensors = new java.util.ArrayList<>(ExternalWeights.stateDict(w.model(), w.parameters()));
    tensors.add(new AbstractMap.SimpleImmutableEntry<>("visual.extra_head.weight", Nd4j.zeros(DataType.FLOAT, 3, 2)));
    Path file = tmp.resolve("extra.pt");
    try (var out = Files.newOutputStream(file)) {
      WeightsWriter.writePytorch(tensors, out);
    }
    assertThatThrownBy(() -> ExternalWeights.read(file, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("1 tensors are unknown to the model: visual.extra_head.weight [3, 2]");
  }

  @Test
  void aPickleNamingAnyOtherGlobalIsRefusedByNameWithoutRunningIt() throws IOException {
    Path marker = tmp.resolve("pwned");
    // GLOBAL os.system, ('touch MARKER',), REDUCE: what a malicious checkpoint does.
    byte[] evil = ("\u0080\u0002cos\nsystem\nX" ).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    var pickle = new ByteArrayOutputStream();
    pickle.writeBytes(evil);
    byte[] cmd = ("touch " + marker).getBytes(UTF_8);
    pickle.writeBytes(new byte[] {(byte) cmd.length, 0, 0, 0});
    pickle.writeBytes(cmd);
    pickle.writeBytes(new byte[] {(byte) 0x85, 'R', '.'});
    Path file = tmp.resolve("evil.pt");
    zip(file, Map.of("evil/data.pkl", pickle.toByteArray(), "evil/version", "3\n".getBytes(UTF_8)));

    assertThatThrownBy(() -> ExternalWeights.read(file, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("Cannot read " + file + "!evil/data.pkl: its pickle names the global os.system, "
            + "which a weights file may not use (nothing was run)")
        .hasMessageContaining("torch._utils._rebuild_tensor_v2");
    assertThat(marker).doesNotExist();

    for (String global : List.of("builtins\neval", "subprocess\nPopen", "torch\nload", "numpy.core.multiarray\n_reconstruct")) {
      var p = new ByteArrayOutputStream();
      p.writeBytes(("\u0080\u0002c" + global + "\n)R.").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
      Path f = tmp.resolve("evil-" + global.hashCode() + ".pt");
      zip(f, Map.of("a/data.pkl", p.toByteArray()));
      assertThatThrownBy(() -> ExternalWeights.read(f, null))
          .hasMessageContaining("names the global " + global.replace('\n', '.'));
    }
  }

  @Test
  void aBigEndianArchiveIsRefused() throws IOException {
    Path f = tmp.resolve("big.pt");
    zip(f, Map.of("a/data.pkl", new byte[] {(byte) 0x80, 2, 'N', '.'}, "a/byteorder", "big".getBytes(UTF_8)));
    assertThatThrownBy(() -> ExternalWeights.read(f, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("its tensors are stored big-endian; only little-endian archives");
  }

  @Test
  void opcodesThatBuildArbitraryObjectsAreRefused() throws IOException {
    // INST (protocol 0) builds a class instance by name: refused as an opcode.
    Path f = tmp.resolve("inst.pt");
    zip(f, Map.of("a/data.pkl", "(ios\nsystem\n.".getBytes(UTF_8)));
    assertThatThrownBy(() -> ExternalWeights.read(f, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("opcode 0x69 at byte 1 is not allowed in a weights file");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("truncations")
  void aTruncatedFileIsAClearError(String format, String message) throws IOException {
    var ref = ReferenceFixtures.load("vit");
    byte[] whole = Files.readAllBytes(ref.file(format));
    Path file = tmp.resolve("truncated-" + ref.file(format).getFileName());
    Files.write(file, Arrays.copyOf(whole, whole.length * 2 / 3));
    assertThatThrownBy(() -> ExternalWeights.read(file, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("Cannot read " + file)
        .hasMessageContaining(message);
  }

  static Stream<Arguments> truncations() {
    return Stream.of(
        Arguments.of(ExternalWeights.PYTORCH, "is not a complete one"),
        Arguments.of(ExternalWeights.TORCHSCRIPT, "is not a complete one"),
        Arguments.of(ExternalWeights.SAFETENSORS, "lie past the end of the data"));
  }

  @Test
  void otherFilesAreNamedAndRefused() throws IOException {
    Path text = tmp.resolve("notes.txt");
    Files.writeString(text, "hello");
    assertThatThrownBy(() -> ExternalWeights.read(text, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("Cannot read weights " + text + ": it is neither a PyTorch zip archive");
    assertThatThrownBy(() -> ExternalWeights.read(tmp.resolve("absent.pt"), null))
        .hasMessageContaining("no such file");
    Path legacy = tmp.resolve("legacy.pt");
    Files.write(legacy, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10});
    assertThatThrownBy(() -> ExternalWeights.read(legacy, null))
        .hasMessageContaining("legacy format");
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("exports")
  void exportThenReimportIsBitIdentical(String name, String format) {
    var ref = ReferenceFixtures.load(name);
    ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.TORCHSCRIPT), null);
    Path out = tmp.resolve(name + "-export." + (format.equals(ExternalWeights.PYTORCH) ? "pt" : "safetensors"));
    ExternalWeights.write(w.model(), w.parameters(), out, format);

    ImportedWeights back = ExternalWeights.read(out, null);
    assertThat(back.format()).isEqualTo(format);
    assertThat(back.model()).usingRecursiveComparison().ignoringFields("name").isEqualTo(w.model());
    assertBitIdentical(w.parameters(), back.parameters());
    assertThat(tmp.toFile().list()).containsExactly(out.getFileName().toString());
  }

  static Stream<Arguments> exports() {
    return Stream.of("vit", "rn").flatMap(m -> ExternalWeights.EXPORT_FORMATS.stream().map(f -> Arguments.of(m, f)));
  }

  @Test
  void exportRefusesAnUnknownFormatAndWritesNothing() {
    var ref = ReferenceFixtures.load("vit");
    ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.SAFETENSORS), null);
    assertThatThrownBy(() -> ExternalWeights.write(w.model(), w.parameters(), tmp.resolve("x.onnx"), "onnx"))
        .hasMessage("Cannot export to format 'onnx': allowed are safetensors, pytorch");
    assertThat(tmp.toFile().list()).isEmpty();
  }

  @Test
  void importedWeightsSaveAsAnOrdinaryCheckpoint() throws IOException {
    var ref = ReferenceFixtures.load("rn");
    ImportedWeights small = ExternalWeights.read(ref.file(ExternalWeights.TORCHSCRIPT), null);
    // The fixture's 128-token vocabulary is below any tokenizer's (514 base tokens): grow it to 519 for 5 merges.
    ImportedWeights w = withVocabulary(small, 519);
    Path merges = tmp.resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\nh e\nl l\nhe ll\no w\nw o\n");
    var conf = new Configuration();
    ExternalWeights.saveCheckpoint(w, merges.toString(), tmp.resolve("out").toString(), conf);

    LoadedCheckpoint loaded = Checkpoints.loadModel(
        Checkpoints.resolve(tmp.resolve("out").toString(), conf), null, conf);
    assertThat(loaded.step()).isZero();
    assertThat(loaded.model()).isEqualTo(w.model());
    assertThat(loaded.trainerState()).containsEntry("imported_format", "torchscript")
        .containsEntry("tokenizer_vocab_size", 519L);
    assertBitIdentical(w.parameters(), loaded.parameters());
  }

  @Test
  void aTokenizerSmallerThanTheVocabularyIsUsedAndALargerOneLeavesNoCheckpoint() throws IOException {
    var ref = ReferenceFixtures.load("rn");
    ImportedWeights w = withVocabulary(ExternalWeights.read(ref.file(ExternalWeights.SAFETENSORS), null), 600);
    Path merges = tmp.resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\nh e\nl l\n");
    var conf = new Configuration();

    // 516 tokens for 600 embedding rows: the ids the tokenizer makes all have a row; the model is usable.
    Path small = tmp.resolve("small");
    ExternalWeights.saveCheckpoint(w, merges.toString(), small.toString(), conf);
    LoadedCheckpoint loaded = Checkpoints.loadModel(Checkpoints.resolve(small.toString(), conf), null, conf);
    assertThat(loaded.trainerState()).containsEntry("tokenizer_vocab_size", 516L);
    assertThat(loaded.model().text().vocabSize()).isEqualTo(600);
    ClipTokenizer tokenizer = ClipTokenizer.load(loaded.tokenizerMerges(), 516, conf);
    int context = loaded.model().text().contextLength();
    int[][] ids = tokenizer.tokenize(java.util.List.of("hello"), context, true);
    assertThat(ids[0]).contains(515);
    assertThat(java.util.Arrays.stream(ids[0]).max().getAsInt()).isLessThan(516);
    var clip = dev.clipspark.training.model.ClipModel.create(loaded.model(), loaded.parameters());
    clip.setTraining(false);
    assertThat(clip.encodeText(org.nd4j.linalg.factory.Nd4j.createFromArray(ids)).shape())
        .containsExactly(1, loaded.model().embedDim());

    // A tokenizer larger than the embedding is refused, and so is a merges file with too few merges for the size
    // asked; neither leaves a checkpoint.
    Path out = tmp.resolve("out");
    assertThatThrownBy(() -> ExternalWeights.saveCheckpoint(w, merges.toString(), 601, out.toString(), conf))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot use the tokenizer " + merges + " with model rn (text.vocab_size 600): Cannot use a"
            + " tokenizer of 601 tokens (" + merges + ") with a model whose token embedding has 600 rows"
            + " (text.vocab_size): ids 600 to 600 would have no embedding; use at most 600 tokens");
    assertThatThrownBy(() -> ExternalWeights.saveCheckpoint(w, merges.toString(), 600, out.toString(), conf))
        .hasMessageContaining("it has 2 merges, but a vocabulary of 600 tokens needs 86");
    Path none = tmp.resolve("none.txt");
    Files.writeString(none, "#version: 0.2\n");
    assertThatThrownBy(() -> ExternalWeights.saveCheckpoint(w, none.toString(), out.toString(), conf))
        .hasMessageContaining("Cannot load merges file " + none + ": it has no merges");
    assertThat(out).doesNotExist();
  }

  /** {@code w} with its token embedding grown to {@code vocab} rows (new rows zero) and the model to match. */
  static ImportedWeights withVocabulary(ImportedWeights w, int vocab) {
    ModelConfig m = w.model();
    var model = new ModelConfig(m.name(), m.embedDim(), m.vision(), new dev.clipspark.training.model.TextConfig(
        m.text().contextLength(), vocab, m.text().width(), m.text().heads(), m.text().layers()));
    var set = new ParameterSet();
    for (String n : w.parameters().names()) {
      INDArray v = w.parameters().value(n);
      if (n.equals("token_embedding.weight")) {
        INDArray grown = Nd4j.zeros(DataType.FLOAT, vocab, v.size(1));
        grown.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, v.size(0)),
            org.nd4j.linalg.indexing.NDArrayIndex.all()).assign(v);
        v = grown;
      }
      set.add(n, v);
    }
    for (String n : w.parameters().bufferNames()) {
      set.addBuffer(n, w.parameters().buffer(n));
    }
    return new ImportedWeights(model, set, w.format(), w.source(), w.ignored());
  }

  static void assertBitIdentical(ParameterSet expected, ParameterSet actual) {
    assertThat(actual.names()).containsExactlyElementsOf(expected.names());
    assertThat(actual.bufferNames()).containsExactlyElementsOf(expected.bufferNames());
    for (String n : expected.names()) {
      assertSame(n, expected.value(n), actual.value(n));
    }
    for (String n : expected.bufferNames()) {
      assertSame(n, expected.buffer(n), actual.buffer(n));
    }
  }

  private static void assertSame(String name, INDArray a, INDArray b) {
    assertThat(b.dataType()).as(name).isEqualTo(a.dataType());
    assertThat(b.shape()).as(name).isEqualTo(a.shape());
    if (a.dataType() == DataType.LONG) {
      assertThat(b.data().asLong()).as(name).isEqualTo(a.data().asLong());
      return;
    }
    float[] x = a.dup('c').data().asFloat();
    float[] y = b.dup('c').data().asFloat();
    int[] xb = new int[x.length];
    int[] yb = new int[y.length];
    for (int i = 0; i < x.length; i++) {
      xb[i] = Float.floatToRawIntBits(x[i]);
      yb[i] = Float.floatToRawIntBits(y[i]);
    }
    assertThat(yb).as(name).isEqualTo(xb);
  }

  private static void zip(Path file, Map<String, byte[]> records) throws IOException {
    try (var out = new ZipOutputStream(Files.newOutputStream(file))) {
      for (var e : records.entrySet()) {
        out.putNextEntry(new ZipEntry(e.getKey()));
        out.write(e.getValue());
        out.closeEntry();
      }
    }
  }

  /**
   * The other direction of the reference: PyTorch loads every export strictly into OpenAI's architecture and
   * computes the recorded features. Runs only where Debian's Python has PyTorch ({@code python3-torch}).
   */
  @Test
  void pyTorchLoadsTheExportsAndComputesTheReference() throws Exception {
    Path python = Path.of("/usr/bin/python3");
    Path script = Path.of(System.getProperty("user.dir")).resolve("../tools/reference/make_clip_fixtures.py")
        .normalize();
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(python) && Files.isRegularFile(script),
        "needs /usr/bin/python3 and " + script);
    Process probe = new ProcessBuilder(python.toString(), "-c", "import torch").redirectErrorStream(true).start();
    org.junit.jupiter.api.Assumptions.assumeTrue(probe.waitFor() == 0, "needs PyTorch (python3-torch)");

    var command = new java.util.ArrayList<>(List.of(python.toString(), script.toString(), "--check"));
    for (String name : List.of("vit", "rn")) {
      var ref = ReferenceFixtures.load(name);
      ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.TORCHSCRIPT), null);
      for (String format : ExternalWeights.EXPORT_FORMATS) {
        Path out = tmp.resolve(name + "-export." + (format.equals(ExternalWeights.PYTORCH) ? "pt" : "safetensors"));
        ExternalWeights.write(w.model(), w.parameters(), out, format);
        command.add(ReferenceFixtures.DIR.resolve(name + ".json").toString());
        command.add(out.toString());
      }
    }
    Process check = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(check.getInputStream().readAllBytes(), UTF_8);
    assertThat(check.waitFor()).as(output).isZero();
    assertThat(output).contains("vit-export.pt: 50 tensors (float32), loaded strictly by PyTorch")
        .contains("rn-export.safetensors:").contains("num_batches_tracked [1234]");
  }
}
