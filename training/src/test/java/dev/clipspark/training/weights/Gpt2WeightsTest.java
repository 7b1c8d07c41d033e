package dev.clipspark.training.weights;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.Gpt2Parameters;
import dev.clipspark.training.lm.LmCheckpoints;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Imports the GPT-2 fixtures made by PyTorch ({@code tools/reference/make_gpt2_fixtures.py}: a tiny GPT-2 of 4
 * heads of width 8, in a float32 safetensors file with mask buffers, a bfloat16 one, and a float16
 * {@code GPT2LMHeadModel} {@code torch.save} archive), checks the logits against PyTorch's, and feeds the importer
 * files with a missing, unknown or misshapen tensor, an untied head, and no way to know the heads.
 */
class Gpt2WeightsTest {

  /** Float32 agreement asked of every format: 1e-4 relative, element-wise. */
  static final double TOLERANCE = 1e-4;
  static final List<String> FILES = List.of("model.safetensors", "model-bf16.safetensors", "pytorch_model.bin");

  static Path dir;
  static JsonNode reference;

  @TempDir
  Path tmp;

  @BeforeAll
  static void load() throws IOException, URISyntaxException {
    dir = Paths.get(Gpt2WeightsTest.class.getResource("/gpt2-weights/reference.json").toURI()).getParent();
    reference = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
  }

  static LmConfig fixtureModel(String name) {
    JsonNode c = reference.get("config");
    return new LmConfig(name, c.get("vocab_size").asInt(), c.get("n_positions").asInt(), c.get("n_embd").asInt(),
        c.get("n_layer").asInt(), c.get("n_head").asInt(), c.get("layer_norm_epsilon").asDouble());
  }

  @ParameterizedTest
  @ValueSource(strings = {"model.safetensors", "model-bf16.safetensors", "pytorch_model.bin"})
  void everyFormatImportsAndMatchesPyTorch(String file) {
    ImportedLm w = Gpt2Weights.read(dir.resolve(file), null);

    assertThat(w.model()).isEqualTo(fixtureModel("gpt2-weights"));
    assertThat(w.model().nHead()).isEqualTo(4);
    assertThat(w.architecture()).isEqualTo(dir.resolve("config.json").toString());
    assertThat(w.format()).isEqualTo(file.endsWith(".bin") ? ExternalWeights.PYTORCH : ExternalWeights.SAFETENSORS);
    assertThat(w.parameters().names()).containsExactlyElementsOf(
        Gpt2Parameters.specs(w.model()).stream().map(ParameterSpec::name).toList());
    for (String p : w.parameters().names()) {
      assertThat(w.parameters().value(p).dataType()).as(p).isEqualTo(DataType.FLOAT);
    }
    switch (file) {
      case "model.safetensors" -> assertThat(w.ignored()).containsExactly("h.0.attn.bias", "h.1.attn.bias");
      case "model-bf16.safetensors" -> assertThat(w.ignored()).isEmpty();
      default -> assertThat(w.ignored()).containsExactlyInAnyOrder("transformer.h.0.attn.bias",
          "transformer.h.0.attn.masked_bias", "transformer.h.1.attn.bias", "transformer.h.1.attn.masked_bias",
          "lm_head.weight");
    }
    Gpt2Model model = Gpt2Model.create(w.model(), w.parameters());
    JsonNode tokens = reference.get("tokens");
    for (int s = 0; s < tokens.size(); s++) {
      int[] row = ints(tokens.get(s));
      INDArray logits = model.logits(Nd4j.createFromArray(new int[][] {row}));
      INDArray expected = floats(reference.get("logits").get(s));
      assertThat(logits.shape()).containsExactly(1, row.length, 512);
      assertThat(ReferenceFixtures.maxRelative(logits.reshape(row.length, 512), expected)).as("sequence %d", s)
          .isLessThan(TOLERANCE);
    }
  }

  @Test
  void theThreeFilesHoldTheSameValuesAndTheTokensAreTheTokenizersOwn() {
    ParameterSet first = Gpt2Weights.read(dir.resolve(FILES.get(0)), null).parameters();
    for (String f : FILES.subList(1, FILES.size())) {
      ParameterSet other = Gpt2Weights.read(dir.resolve(f), null).parameters();
      for (String p : first.names()) {
        assertThat(other.value(p)).as(f + " " + p).isEqualTo(first.value(p));
      }
    }
    Gpt2Tokenizer tokenizer = Gpt2Tokenizer.load(dir.resolveSibling("gpt2-bpe").toString(), new Configuration());
    for (int s = 0; s < reference.get("texts").size(); s++) {
      int[] row = ints(reference.get("tokens").get(s));
      int[] ids = tokenizer.encode(reference.get("texts").get(s).asText());
      assertThat(Arrays.copyOfRange(row, 1, row.length - 1)).containsExactly(ids);
      assertThat(row[0]).isEqualTo(tokenizer.endOfText());
    }
  }

  @Test
  void detectsGpt2FilesByTheirTensorNames() throws IOException {
    for (String f : FILES) {
      assertThat(Gpt2Weights.isGpt2(dir.resolve(f))).as(f).isTrue();
    }
    assertThat(Gpt2Weights.isGpt2(ReferenceFixtures.DIR.resolve("vit.safetensors"))).isFalse();
    assertThat(Gpt2Weights.isGpt2(ReferenceFixtures.DIR.resolve("rn.pytorch.pt"))).isFalse();
    assertThat(Gpt2Weights.isGpt2(dir.resolve("config.json"))).isFalse();
  }

  @Test
  void withoutConfigJsonTheHeadsMustBeGiven() throws IOException {
    Path file = copy("model.safetensors", tmp);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("Cannot tell the architecture of " + file)
        .hasMessageContaining("number of attention heads is not in its tensor shapes")
        .hasMessageContaining("no config.json beside it")
        .hasMessageContaining("--model NAME|FILE");

    ImportedLm w = Gpt2Weights.read(file, fixtureModel("tiny"));
    assertThat(w.model().name()).isEqualTo("tiny");
    assertThat(w.architecture()).isEqualTo("model tiny");

    // A given model that is not the file's: every mismatching tensor is listed.
    var wide = new LmConfig("wide", 512, 32, 64, 2, 4, 1e-5);
    assertThatThrownBy(() -> Gpt2Weights.read(file, wide))
        .hasMessageContaining("as model wide")
        .hasMessageContaining("tensors do not match the model's shapes")
        .hasMessageContaining("wte.weight is [512, 32] in the file, [512, 64] in the model")
        .hasMessageContaining("h.1.mlp.c_proj.weight is [128, 32] in the file, [256, 64] in the model");
  }

  @Test
  void aGivenModelMustAgreeWithConfigJson() throws IOException {
    Path file = copy("model.safetensors", tmp);
    copy("config.json", tmp);
    var twoHeads = new LmConfig("two-heads", 512, 32, 32, 2, 2, 1e-5);
    assertThatThrownBy(() -> Gpt2Weights.read(file, twoHeads))
        .hasMessageContaining("Cannot use " + file + " (safetensors) as model two-heads")
        .hasMessageContaining("config.json beside it describes another architecture")
        .hasMessageContaining("n_head 4")
        .hasMessageContaining("n_head 2");
    assertThat(Gpt2Weights.read(file, fixtureModel("same")).model().nHead()).isEqualTo(4);
  }

  @Test
  void configJsonThatChangesTheMathematicsIsRefused() throws IOException {
    Path file = copy("model.safetensors", tmp);
    ObjectNode config = (ObjectNode) new ObjectMapper().readTree(dir.resolve("config.json").toFile());
    config.put("activation_function", "relu");
    writeJson(config);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null))
        .hasMessageContaining("its activation_function is 'relu'")
        .hasMessageContaining("gelu_new");
    config.put("activation_function", "gelu_new").put("model_type", "gpt_neo");
    writeJson(config);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null)).hasMessageContaining("its model_type is 'gpt_neo'");
    config.put("model_type", "gpt2").put("n_head", 5);
    writeJson(config);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null))
        .hasMessageContaining("config.json")
        .hasMessageContaining("Cannot set n_embd to 32: must be a multiple of n_head 5");
    config.put("n_head", 4).put("n_layer", 3);
    writeJson(config);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null))
        .hasMessageContaining("n_layer 3")
        .hasMessageContaining("tensors are missing: h.2.ln_1.weight [32]");
  }

  @Test
  void missingUnknownAndMisshapenTensorsAreAllListed() throws IOException {
    ParameterSet p = Gpt2Weights.read(dir.resolve("model.safetensors"), null).parameters();
    var tensors = new ArrayList<Map.Entry<String, INDArray>>();
    for (String name : p.names()) {
      if (name.equals("h.1.mlp.c_fc.bias")) {
        continue;
      }
      INDArray v = name.equals("ln_f.weight") ? Nd4j.ones(DataType.FLOAT, 31) : p.value(name);
      tensors.add(new AbstractMap.SimpleImmutableEntry<>(name, v));
    }
    tensors.add(new AbstractMap.SimpleImmutableEntry<>("h.0.attn.rotary", Nd4j.ones(DataType.FLOAT, 4)));
    Path file = write(tensors, "bad.safetensors");
    copy("config.json", tmp);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null))
        .isInstanceOf(WeightsException.class)
        .hasMessageContaining("as model " + tmp.getFileName())
        .hasMessageContaining("1 tensors do not match the model's shapes: ln_f.weight is [31] in the file, [32] in"
            + " the model")
        .hasMessageContaining("1 tensors are missing: h.1.mlp.c_fc.bias [128]")
        .hasMessageContaining("1 tensors are unknown to the model: h.0.attn.rotary [4]");
  }

  @Test
  void anUntiedHeadIsRefused() throws IOException {
    ParameterSet p = Gpt2Weights.read(dir.resolve("model.safetensors"), null).parameters();
    var tensors = new ArrayList<Map.Entry<String, INDArray>>();
    for (String name : p.names()) {
      tensors.add(new AbstractMap.SimpleImmutableEntry<>(Gpt2Weights.PREFIX + name, p.value(name)));
    }
    INDArray head = p.value("wte.weight").dup();
    head.putScalar(new long[] {7, 3}, head.getFloat(7, 3) + 0.5f);
    tensors.add(new AbstractMap.SimpleImmutableEntry<>("lm_head.weight", head));
    Path file = write(tensors, "untied.safetensors");
    copy("config.json", tmp);
    assertThatThrownBy(() -> Gpt2Weights.read(file, null))
        .hasMessageContaining("its lm_head.weight differs from wte.weight (1 of 16384 values, by up to 0.5")
        .hasMessageContaining("untied head cannot be imported");

    // Tied: the same file with the head equal imports, the prefix dropped.
    tensors.set(tensors.size() - 1, new AbstractMap.SimpleImmutableEntry<>("lm_head.weight", p.value("wte.weight")));
    Path tied = write(tensors, "tied.safetensors");
    ImportedLm w = Gpt2Weights.read(tied, null);
    assertThat(w.ignored()).containsExactly("lm_head.weight");
    assertThat(w.parameters().value("h.1.mlp.c_fc.weight")).isEqualTo(p.value("h.1.mlp.c_fc.weight"));
  }

  @Test
  void importedWeightsBecomeALanguageModelCheckpointWithTheTokenizer() {
    ImportedLm w = Gpt2Weights.read(dir.resolve("pytorch_model.bin"), null);
    String tokenizerDir = dir.resolveSibling("gpt2-bpe").toString();
    String out = tmp.resolve("imported").toString();
    var conf = new Configuration();
    var checkpoint = Gpt2Weights.saveCheckpoint(w, tokenizerDir, out, conf);
    assertThat(checkpoint.getName()).isEqualTo("step-0000000000");

    LmCheckpoints.Loaded loaded = LmCheckpoints.load(out, DataType.FLOAT, conf);
    assertThat(loaded.step()).isZero();
    assertThat(loaded.model()).isEqualTo(w.model());
    assertThat(loaded.tokenizer().vocabSize()).isEqualTo(512);
    assertThat(loaded.trainerState()).containsEntry("imported_format", "pytorch")
        .containsEntry(LmCheckpoints.TOKENIZER_VOCAB_SIZE, 512L);
    for (String p : w.parameters().names()) {
      assertThat(loaded.parameters().value(p)).as(p).isEqualTo(w.parameters().value(p));
    }
    int[] row = ints(reference.get("tokens").get(2));
    INDArray logits = loaded.lm().logits(Nd4j.createFromArray(new int[][] {row}));
    assertThat(ReferenceFixtures.maxRelative(logits.reshape(row.length, 512), floats(reference.get("logits").get(2))))
        .isLessThan(TOLERANCE);

    // A tokenizer larger than the model is refused before anything is written.
    var small = new ImportedLm(new LmConfig("small", 300, 32, 32, 2, 4, 1e-5), w.parameters(), w.format(),
        w.source(), w.architecture(), w.ignored());
    assertThatThrownBy(() -> Gpt2Weights.saveCheckpoint(small, tokenizerDir, tmp.resolve("small").toString(), conf))
        .hasMessage("Cannot use the tokenizer " + tokenizerDir + " with model small: its 512 tokens exceed the model's"
            + " vocab_size 300");
    assertThat(tmp.resolve("small")).doesNotExist();
    assertThatThrownBy(() -> Gpt2Weights.saveCheckpoint(w, tmp.toString(), tmp.resolve("none").toString(), conf))
        .hasMessageStartingWith("Cannot use the tokenizer " + tmp + " with model gpt2-weights: Cannot read vocabulary");
  }

  @Test
  void aClipFileIsNotGpt2() {
    assertThatThrownBy(() -> Gpt2Weights.read(ReferenceFixtures.DIR.resolve("vit.safetensors"), null))
        .hasMessageContaining("as a GPT-2 model: it has no wte.weight")
        .hasMessageContaining("not a GPT-2 state dict with Hugging Face's names");
  }

  private Path copy(String name, Path to) {
    try {
      return Files.copy(dir.resolve(name), to.resolve(name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void writeJson(JsonNode config) throws IOException {
    Files.writeString(tmp.resolve("config.json"), new ObjectMapper().writeValueAsString(config), UTF_8);
  }

  private Path write(List<Map.Entry<String, INDArray>> tensors, String name) throws IOException {
    Path file = tmp.resolve(name);
    try (OutputStream out = Files.newOutputStream(file)) {
      Safetensors.write(tensors, out);
    }
    return file;
  }

  private static int[] ints(JsonNode n) {
    int[] out = new int[n.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = n.get(i).asInt();
    }
    return out;
  }

  private static INDArray floats(JsonNode rows) {
    float[][] out = new float[rows.size()][];
    for (int i = 0; i < out.length; i++) {
      out[i] = new float[rows.get(i).size()];
      for (int j = 0; j < out[i].length; j++) {
        out[i][j] = (float) rows.get(i).get(j).asDouble();
      }
    }
    return Nd4j.createFromArray(out);
  }
}
