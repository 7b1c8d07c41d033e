package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.nn.ParameterSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class ClipParametersTest {

  /** The parameter counts of OpenAI's released checkpoints (sum of numel over model.parameters()). */
  @ParameterizedTest
  @CsvSource({
      "ViT-B-32, 151277313",
      "ViT-B-16, 149620737",
      "ViT-L-14, 427616513",
      "ViT-L-14-336, 427944193",
      "RN50, 102007137",
      "RN101, 119688033"})
  void countsMatchOpenAisReleasedModels(String model, long expected) {
    assertThat(ClipParameters.count(ModelConfigs.load(model))).isEqualTo(expected);
  }

  @Test
  void vitB32HasOpenAisNamesAndShapes() {
    Map<String, ParameterSpec> specs = byName(ModelConfigs.load("ViT-B-32"));
    assertShape(specs, "visual.conv1.weight", 768, 3, 32, 32);
    assertShape(specs, "visual.class_embedding", 768);
    assertShape(specs, "visual.positional_embedding", 50, 768);
    assertShape(specs, "visual.ln_pre.weight", 768);
    assertShape(specs, "visual.transformer.resblocks.0.attn.in_proj_weight", 2304, 768);
    assertShape(specs, "visual.transformer.resblocks.11.mlp.c_fc.weight", 3072, 768);
    assertShape(specs, "visual.transformer.resblocks.11.mlp.c_proj.weight", 768, 3072);
    assertShape(specs, "visual.ln_post.bias", 768);
    assertShape(specs, "visual.proj", 768, 512);
    assertShape(specs, "token_embedding.weight", 49408, 512);
    assertShape(specs, "positional_embedding", 77, 512);
    assertShape(specs, "transformer.resblocks.11.attn.out_proj.weight", 512, 512);
    assertShape(specs, "ln_final.weight", 512);
    assertShape(specs, "text_projection", 512, 512);
    assertShape(specs, "logit_scale");
    assertThat(specs).doesNotContainKey("visual.transformer.resblocks.12.attn.in_proj_weight");
    assertThat(specs).doesNotContainKey("visual.conv1.bias");
    // 2 embeddings/class token/proj/conv + 2 ln + 12 blocks of 12 + 2 ln, text: 3 + 12 * 12 + 1 + 2.
    assertThat(specs).hasSize(4 + 2 + 12 * 12 + 2 + 3 + 12 * 12 + 1 + 2);
  }

  @Test
  void rn50HasOpenAisNamesAndShapes() {
    Map<String, ParameterSpec> specs = byName(ModelConfigs.load("RN50"));
    assertShape(specs, "visual.conv1.weight", 32, 3, 3, 3);
    assertShape(specs, "visual.conv2.weight", 32, 32, 3, 3);
    assertShape(specs, "visual.conv3.weight", 64, 32, 3, 3);
    assertShape(specs, "visual.bn3.bias", 64);
    assertShape(specs, "visual.layer1.0.conv1.weight", 64, 64, 1, 1);
    assertShape(specs, "visual.layer1.0.bn1.weight", 64);
    assertShape(specs, "visual.layer1.0.conv3.weight", 256, 64, 1, 1);
    assertShape(specs, "visual.layer1.0.downsample.0.weight", 256, 64, 1, 1);
    assertShape(specs, "visual.layer1.0.downsample.1.weight", 256);
    assertShape(specs, "visual.layer2.0.downsample.0.weight", 512, 256, 1, 1);
    assertShape(specs, "visual.layer3.5.conv2.weight", 256, 256, 3, 3);
    assertShape(specs, "visual.layer4.2.conv3.weight", 2048, 512, 1, 1);
    assertShape(specs, "visual.attnpool.positional_embedding", 50, 2048);
    assertShape(specs, "visual.attnpool.q_proj.weight", 2048, 2048);
    assertShape(specs, "visual.attnpool.v_proj.bias", 2048);
    assertShape(specs, "visual.attnpool.c_proj.weight", 1024, 2048);
    assertShape(specs, "visual.attnpool.c_proj.bias", 1024);
    assertShape(specs, "text_projection", 512, 1024);
    // Only the first block of a stage downsamples; running statistics are buffers, not parameters.
    assertThat(specs).doesNotContainKey("visual.layer1.1.downsample.0.weight");
    assertThat(specs).doesNotContainKey("visual.layer3.6.conv1.weight");
    assertThat(specs.keySet()).noneMatch(n -> n.contains("running_") || n.contains("num_batches"));
    assertThat(specs).doesNotContainKey("visual.proj");
  }

  /** open_clip's exclusion rule, applied to names and ranks, agrees with the roles. */
  @ParameterizedTest
  @ValueSource(strings = {"ViT-B-32", "RN50", "tiny-vit", "tiny-rn"})
  void weightDecayGroupsFollowOpenClip(String model) {
    List<ParameterSpec> specs = ClipParameters.specs(ModelConfigs.load(model));
    for (ParameterSpec s : specs) {
      String n = s.name();
      boolean excluded = s.shape().length < 2 || n.contains("bn") || n.contains("ln") || n.contains("bias")
          || n.contains("embed") || n.contains("logit_scale");
      assertThat(s.weightDecay()).as(n).isEqualTo(!excluded);
    }
    assertThat(specs).filteredOn(ParameterSpec::weightDecay).isNotEmpty();
    assertThat(specs).filteredOn(s -> !s.weightDecay()).isNotEmpty();
  }

  @Test
  void namesAreUnique() {
    for (String model : ModelConfigs.available()) {
      List<ParameterSpec> specs = ClipParameters.specs(ModelConfigs.load(model));
      assertThat(new HashSet<>(specs.stream().map(ParameterSpec::name).toList())).as(model).hasSize(specs.size());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-vit", "tiny-rn"})
  void tinyModelsAllocateEverySpecifiedTensor(String model) {
    ModelConfig config = ModelConfigs.load(model);
    ParameterSet params = ClipParameters.initialize(config, 7, DataType.FLOAT);
    List<ParameterSpec> specs = ClipParameters.specs(config);
    assertThat(params.names()).containsExactlyElementsOf(specs.stream().map(ParameterSpec::name).toList());
    for (ParameterSpec s : specs) {
      INDArray v = params.value(s.name());
      assertThat(v.shape()).as(s.name()).containsExactly(s.shape());
      assertThat(v.dataType()).isEqualTo(DataType.FLOAT);
      assertThat(params.gradient(s.name()).sumNumber().doubleValue()).isZero();
    }
    assertThat(params.elementCount()).isEqualTo(ClipParameters.count(config));
    assertThat(params.bufferNames()).containsExactlyElementsOf(
        ClipParameters.buffers(config).stream().map(ClipParameters.BufferSpec::name).toList());
  }

  /** One running mean, running variance and batch counter per BatchNorm, as in OpenAI's state_dict. */
  @Test
  void rn50ListsTheBatchNormRunningStatisticsAsBuffers() {
    List<ClipParameters.BufferSpec> buffers = ClipParameters.buffers(ModelConfigs.load("RN50"));
    // BatchNorms: 3 in the stem, 3 per bottleneck (3 + 4 + 6 + 3), 1 per stage's downsample branch.
    assertThat(buffers).hasSize(3 * (3 + 3 * 16 + 4));
    Map<String, ClipParameters.BufferSpec> byName = new HashMap<>();
    buffers.forEach(b -> byName.put(b.name(), b));
    assertThat(byName.get("visual.bn1.running_mean").shape()).containsExactly(32);
    assertThat(byName.get("visual.layer1.0.downsample.1.running_var").shape()).containsExactly(256);
    assertThat(byName.get("visual.layer4.2.bn3.running_var").shape()).containsExactly(2048);
    assertThat(byName.get("visual.layer4.2.bn3.num_batches_tracked").shape()).isEmpty();
    assertThat(byName.get("visual.layer4.2.bn3.num_batches_tracked").counter()).isTrue();
    assertThat(byName).doesNotContainKey("visual.layer1.1.downsample.1.running_mean");
    // Channels of all BatchNorms: stem 128, stages 1408, 3584, 10240, 11264 (by hand from the widths).
    long statistics = buffers.stream().filter(b -> !b.counter()).mapToLong(b -> b.shape()[0]).sum();
    assertThat(statistics).isEqualTo(2 * (128 + 1408 + 3584 + 10240 + 11264));
    assertThat(ClipParameters.buffers(ModelConfigs.load("ViT-B-32"))).isEmpty();
  }

  @Test
  void initialiseRegistersFreshRunningStatistics() {
    ParameterSet p = ClipParameters.initialize(ModelConfigs.load("tiny-rn"), 3, DataType.FLOAT);
    INDArray mean = p.buffer("visual.layer2.0.bn2.running_mean");
    INDArray var = p.buffer("visual.layer2.0.bn2.running_var");
    INDArray count = p.buffer("visual.layer2.0.bn2.num_batches_tracked");
    assertThat(mean.shape()).containsExactly(32);
    assertThat(mean.dataType()).isEqualTo(DataType.FLOAT);
    assertThat(mean.amaxNumber().doubleValue()).isZero();
    assertThat(var.minNumber().doubleValue()).isEqualTo(1.0);
    assertThat(var.maxNumber().doubleValue()).isEqualTo(1.0);
    assertThat(count.rank()).isZero();
    assertThat(count.dataType()).isEqualTo(DataType.LONG);
    assertThat(count.getLong(0)).isZero();
    assertThat(p.contains("visual.layer2.0.bn2.running_mean")).isFalse();
    assertThat(p.names()).noneMatch(n -> n.contains("running_") || n.contains("num_batches"));
  }

  @Test
  void initialisationIsDeterministicPerSeed() {
    ModelConfig config = ModelConfigs.load("tiny-vit");
    ParameterSet a = ClipParameters.initialize(config, 42, DataType.FLOAT);
    ParameterSet b = ClipParameters.initialize(config, 42, DataType.FLOAT);
    ParameterSet c = ClipParameters.initialize(config, 43, DataType.FLOAT);
    for (String name : a.names()) {
      assertThat(a.value(name)).as(name).isEqualTo(b.value(name));
    }
    assertThat(a.value("token_embedding.weight")).isNotEqualTo(c.value("token_embedding.weight"));
    assertThat(a.value("visual.conv1.weight")).isNotEqualTo(c.value("visual.conv1.weight"));
    // Different tensors of one shape draw different values.
    assertThat(a.value("transformer.resblocks.0.attn.in_proj_weight"))
        .isNotEqualTo(a.value("transformer.resblocks.1.attn.in_proj_weight"));
  }

  @Test
  void tinyVitFollowsOpenAisInitialisation() {
    ModelConfig config = ModelConfigs.load("tiny-vit");
    ParameterSet p = ClipParameters.initialize(config, 1, DataType.DOUBLE);
    int tw = config.text().width();
    int layers = config.text().layers();
    assertStd(p.value("token_embedding.weight"), 0.02);
    assertStd(p.value("positional_embedding"), 0.01);
    assertStd(p.value("transformer.resblocks.0.attn.in_proj_weight"), 1 / Math.sqrt(tw));
    assertStd(p.value("transformer.resblocks.1.attn.out_proj.weight"), 1 / Math.sqrt(tw) / Math.sqrt(2 * layers));
    assertStd(p.value("transformer.resblocks.0.mlp.c_fc.weight"), 1 / Math.sqrt(2 * tw));
    assertStd(p.value("transformer.resblocks.0.mlp.c_proj.weight"), 1 / Math.sqrt(tw) / Math.sqrt(2 * layers));
    assertStd(p.value("text_projection"), 1 / Math.sqrt(tw));
    int vw = config.vision().width();
    assertStd(p.value("visual.positional_embedding"), 1 / Math.sqrt(vw));
    assertStd(p.value("visual.proj"), 1 / Math.sqrt(vw));
    // Uniform(-b, b) has standard deviation b / sqrt(3); Xavier for [3w, w] has b = sqrt(6 / 4w).
    assertStd(p.value("visual.transformer.resblocks.0.attn.in_proj_weight"), Math.sqrt(6.0 / (4 * vw)) / Math.sqrt(3));
    assertStd(p.value("visual.conv1.weight"), 1 / Math.sqrt(3 * 8 * 8) / Math.sqrt(3));
    assertThat(p.value("visual.conv1.weight").amaxNumber().doubleValue()).isLessThanOrEqualTo(1 / Math.sqrt(3 * 8 * 8));
    assertThat(p.value("logit_scale").getDouble(0)).isCloseTo(Math.log(1 / 0.07), within(1e-12));
    assertThat(p.value("logit_scale").rank()).isZero();
    assertThat(p.value("ln_final.weight").minNumber().doubleValue()).isEqualTo(1.0);
    assertThat(p.value("visual.ln_pre.bias").amaxNumber().doubleValue()).isZero();
    assertThat(p.value("transformer.resblocks.0.attn.in_proj_bias").amaxNumber().doubleValue()).isZero();
  }

  @Test
  void tinyResNetZeroesTheLastGainOfEveryBottleneck() {
    ModelConfig config = ModelConfigs.load("tiny-rn");
    ParameterSet p = ClipParameters.initialize(config, 1, DataType.FLOAT);
    for (int stage = 1; stage <= 4; stage++) {
      assertThat(p.value("visual.layer" + stage + ".0.bn3.weight").amaxNumber().doubleValue()).isZero();
      assertThat(p.value("visual.layer" + stage + ".0.bn2.weight").minNumber().doubleValue()).isEqualTo(1.0);
      assertThat(p.value("visual.layer" + stage + ".0.downsample.1.weight").minNumber().doubleValue()).isEqualTo(1.0);
    }
    assertThat(p.value("visual.bn3.weight").minNumber().doubleValue()).isEqualTo(1.0);
    int pooled = config.vision().width() * 32;
    assertStd(p.value("visual.attnpool.q_proj.weight"), 1 / Math.sqrt(pooled));
    assertStd(p.value("visual.attnpool.c_proj.weight"), 1 / Math.sqrt(pooled));
  }

  private static void assertStd(INDArray a, double expected) {
    double mean = a.meanNumber().doubleValue();
    double std = a.stdNumber().doubleValue();
    assertThat(std).isCloseTo(expected, within(0.1 * expected));
    assertThat(Math.abs(mean)).isLessThan(0.1 * expected);
  }

  private static void assertShape(Map<String, ParameterSpec> specs, String name, long... shape) {
    assertThat(specs).containsKey(name);
    assertThat(specs.get(name).shape()).as(name).containsExactly(shape);
  }

  private static Map<String, ParameterSpec> byName(ModelConfig config) {
    Map<String, ParameterSpec> map = new HashMap<>();
    ClipParameters.specs(config).forEach(s -> map.put(s.name(), s));
    return map;
  }
}
