package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.nn.ParameterSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

class Gpt2ParametersTest {

  @Test
  void gpt2FamilyHasItsPublishedParameterCounts() {
    // Hugging Face's GPT2Model.num_parameters() for each checkpoint (the tied head counted once).
    assertThat(Gpt2Parameters.count(LmConfigs.load("gpt2"))).isEqualTo(124_439_808L);
    assertThat(Gpt2Parameters.count(LmConfigs.load("gpt2-medium"))).isEqualTo(354_823_168L);
    assertThat(Gpt2Parameters.count(LmConfigs.load("gpt2-large"))).isEqualTo(774_030_080L);
    assertThat(Gpt2Parameters.count(LmConfigs.load("gpt2-xl"))).isEqualTo(1_557_611_200L);
    // 512 x 64 + 64 x 64 + 2 x 49,984 (one block) + 128
    assertThat(Gpt2Parameters.count(LmConfigs.load("gpt2-tiny"))).isEqualTo(136_960L);
  }

  @Test
  void namesShapesAndOrderAreHuggingFacesWithConv1DWeightsInFeaturesFirst() {
    LmConfig c = LmConfigs.load("gpt2");
    Map<String, ParameterSpec> specs = Gpt2Parameters.specs(c).stream()
        .collect(Collectors.toMap(ParameterSpec::name, s -> s));
    assertThat(Gpt2Parameters.specs(c).stream().limit(8).map(ParameterSpec::name)).containsExactly("wte.weight",
        "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias", "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias",
        "h.0.attn.c_proj.weight", "h.0.attn.c_proj.bias");
    assertThat(specs.get("wte.weight").shape()).containsExactly(50257, 768);
    assertThat(specs.get("wpe.weight").shape()).containsExactly(1024, 768);
    assertThat(specs.get("h.11.attn.c_attn.weight").shape()).containsExactly(768, 2304);
    assertThat(specs.get("h.11.mlp.c_fc.weight").shape()).containsExactly(768, 3072);
    assertThat(specs.get("h.11.mlp.c_proj.weight").shape()).containsExactly(3072, 768);
    assertThat(specs.get("ln_f.bias").shape()).containsExactly(768);
    assertThat(specs).hasSize(2 + 12 * 12 + 2).doesNotContainKey("lm_head.weight");
    assertThat(specs.values().stream().filter(ParameterSpec::weightDecay).map(ParameterSpec::name))
        .hasSize(48).allMatch(n -> n.endsWith("c_attn.weight") || n.endsWith("c_proj.weight") || n.endsWith("c_fc.weight"));
    assertThat(specs.get("h.0.mlp.c_proj.weight").init().value()).isEqualTo(0.02 / Math.sqrt(24));
  }

  @Test
  void initialisationIsDeterministicAndBuildsAModel() {
    LmConfig c = LmConfigs.load("gpt2-tiny");
    ParameterSet a = Gpt2Parameters.initialize(c, 7, DataType.FLOAT);
    ParameterSet b = Gpt2Parameters.initialize(c, 7, DataType.FLOAT);
    for (String name : a.names()) {
      assertThat(a.value(name)).as(name).isEqualTo(b.value(name));
    }
    assertThat(a.value("wte.weight")).isNotEqualTo(Gpt2Parameters.initialize(c, 8, DataType.FLOAT).value("wte.weight"));
    assertThat(a.value("ln_f.weight").minNumber().doubleValue()).isEqualTo(1.0);
    assertThat(a.elementCount()).isEqualTo(Gpt2Parameters.count(c));
    assertThat(Gpt2Model.create(c, a).parameters().elementCount()).isEqualTo(a.elementCount());
  }

  @Test
  void aModelNeedsEveryParameterInItsShape() {
    LmConfig c = LmConfigs.load("gpt2-tiny");
    ParameterSet p = new ParameterSet();
    for (ParameterSpec s : Gpt2Parameters.specs(c)) {
      long[] shape = s.name().equals("h.1.attn.c_attn.weight") ? new long[] {3L * c.nEmbd(), c.nEmbd()} : s.shape();
      p.add(s.name(), org.nd4j.linalg.factory.Nd4j.zeros(DataType.FLOAT, shape));
    }
    assertThatThrownBy(() -> Gpt2Model.create(c, p)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot use parameter h.1.attn.c_attn.weight of shape [192, 64]: expected [64, 192]");
  }

  @Test
  void modelFilesAreCheckedKeyByKey(@TempDir Path dir) throws Exception {
    Path typo = dir.resolve("mine.conf");
    Files.writeString(typo, "n_embd = 64\nn_heads = 4\n");
    assertThatThrownBy(() -> LmConfigs.load(typo.toString())).isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot load language model mine from " + typo + ": unknown key n_heads (allowed: ");
    Path bad = dir.resolve("bad.conf");
    Files.writeString(bad, "n_embd = 66\nn_head = 4\n");
    assertThatThrownBy(() -> LmConfigs.load(bad.toString())).isInstanceOf(IllegalArgumentException.class)
        .hasMessageEndingWith("Cannot set n_embd to 66: must be a multiple of n_head 4");
    assertThatThrownBy(() -> LmConfigs.load("gpt3")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("unknown model; available: gpt2-tiny, gpt2, gpt2-medium, gpt2-large, gpt2-xl");
    Path ok = dir.resolve("small.conf");
    Files.writeString(ok, "vocab_size = 300\nn_ctx = 16\nn_embd = 8\nn_layer = 1\nn_head = 2\n");
    assertThat(LmConfigs.load(ok.toString())).isEqualTo(new LmConfig("small", 300, 16, 8, 1, 2, 1e-5));
    assertThat(LmConfigs.load("gpt2")).isEqualTo(new LmConfig("gpt2", 50257, 1024, 768, 12, 12, 1e-5));
  }
}
