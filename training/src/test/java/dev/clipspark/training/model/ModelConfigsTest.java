package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigsTest {

  @TempDir Path dir;

  @Test
  void listsThePackagedModels() {
    assertThat(ModelConfigs.available()).containsExactly(
        "RN101", "RN50", "ViT-B-16", "ViT-B-32", "ViT-L-14", "ViT-L-14-336", "tiny-rn", "tiny-vit");
  }

  @Test
  void loadsAVitByName() {
    ModelConfig m = ModelConfigs.load("ViT-L-14-336");
    assertThat(m.name()).isEqualTo("ViT-L-14-336");
    assertThat(m.embedDim()).isEqualTo(768);
    assertThat(m.vision()).isEqualTo(VisionConfig.vit(336, 24, 1024, 14, 64));
    assertThat(m.vision().isResNet()).isFalse();
    assertThat(m.vision().grid()).isEqualTo(24);
    assertThat(m.vision().heads()).isEqualTo(16);
    assertThat(m.text()).isEqualTo(new TextConfig(77, 49408, 768, 12, 12));
  }

  @Test
  void aListOfLayersSelectsTheResNet() {
    ModelConfig m = ModelConfigs.load("RN101");
    assertThat(m.vision().isResNet()).isTrue();
    assertThat(m.vision().layers()).containsExactly(3, 4, 23, 3);
    assertThat(m.vision().width()).isEqualTo(64);
    assertThat(m.vision().heads()).isEqualTo(32);
    assertThat(m.embedDim()).isEqualTo(512);
  }

  @Test
  void everyPackagedModelLoads() {
    for (String name : ModelConfigs.available()) {
      assertThat(ModelConfigs.load(name).name()).isEqualTo(name);
    }
  }

  @Test
  void unknownNameListsTheAvailableModels() {
    assertThatThrownBy(() -> ModelConfigs.load("ViT-X-99"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot load model ViT-X-99: unknown model; available: RN101, RN50, ViT-B-16,")
        .hasMessageContaining("tiny-vit");
  }

  @Test
  void loadsAFileByPathWithDefaults() throws IOException {
    Path file = write("my-model.conf", "embed_dim = 32\nvision { image_size = 64, layers = 3, width = 128, patch_size = 16 }\n"
        + "text { width = 64, heads = 2 }\n");
    ModelConfig m = ModelConfigs.load(file.toString());
    assertThat(m.name()).isEqualTo("my-model");
    assertThat(m.vision()).isEqualTo(VisionConfig.vit(64, 3, 128, 16, VisionConfig.HEAD_WIDTH_DEFAULT));
    assertThat(m.text()).isEqualTo(new TextConfig(TextConfig.CONTEXT_LENGTH_DEFAULT, TextConfig.VOCAB_SIZE_DEFAULT,
        64, 2, TextConfig.LAYERS_DEFAULT));
  }

  @Test
  void widthMustBeAMultipleOfTheHeadWidth() throws IOException {
    Path file = write("bad.conf", "embed_dim = 32\nvision { image_size = 32, layers = 2, width = 30, patch_size = 8 }\n");
    assertThatThrownBy(() -> ModelConfigs.load(file.toString()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot load model bad from " + file)
        .hasMessageEndingWith("Cannot set vision.width to 30: must be a multiple of vision.head_width 64");
  }

  @Test
  void validationNamesKeyValueAndRule() {
    assertThatThrownBy(() -> VisionConfig.vit(225, 12, 768, 32, 64))
        .hasMessage("Cannot set vision.image_size to 225: must be a multiple of vision.patch_size 32");
    assertThatThrownBy(() -> VisionConfig.resNet(200, List.of(3, 4, 6, 3), 64, 64))
        .hasMessage("Cannot set vision.image_size to 200: a ResNet needs a multiple of 32");
    assertThatThrownBy(() -> VisionConfig.resNet(224, List.of(3, 4, 6), 64, 64))
        .hasMessage("Cannot set vision.layers to [3, 4, 6]: a ResNet needs a list of 4 block counts");
    assertThatThrownBy(() -> VisionConfig.resNet(224, List.of(3, 0, 6, 3), 64, 64))
        .hasMessage("Cannot set vision.layers to [3, 0, 6, 3]: block counts must be at least 1");
    assertThatThrownBy(() -> VisionConfig.resNet(224, List.of(3, 4, 6, 3), 63, 64))
        .hasMessageStartingWith("Cannot set vision.width to 63: a ResNet needs an even width");
    assertThatThrownBy(() -> new TextConfig(77, 49408, 512, 7, 12))
        .hasMessage("Cannot set text.width to 512: must be a multiple of text.heads 7");
    assertThatThrownBy(() -> new TextConfig(0, 49408, 512, 8, 12))
        .hasMessage("Cannot set text.context_length to 0: must be at least 1");
    assertThat(VisionConfig.vit(224, 12, 768, 32, 64).grid()).isEqualTo(7);
    assertThatThrownBy(() -> VisionConfig.resNet(224, List.of(3, 4, 6, 3), 64, 64).grid())
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void resNetLayerListMustHaveFourEntries() throws IOException {
    Path file = write("rn.conf", "embed_dim = 32\nvision { image_size = 64, layers = [1, 1], width = 16 }\n");
    assertThatThrownBy(() -> ModelConfigs.load(file.toString()))
        .hasMessageEndingWith("Cannot set vision.layers to [1, 1]: a ResNet needs a list of 4 block counts");
  }

  @Test
  void unknownKeysAreErrors() throws IOException {
    Path file = write("typo.conf", "embed_dim = 32\ntext { widht = 64 }\n");
    assertThatThrownBy(() -> ModelConfigs.load(file.toString()))
        .hasMessageEndingWith("unknown key text.widht (allowed: text.context_length, text.heads, text.layers,"
            + " text.vocab_size, text.width)");
  }

  @Test
  void embedDimIsRequired() throws IOException {
    Path file = write("none.conf", "vision { layers = 2 }\n");
    assertThatThrownBy(() -> ModelConfigs.load(file.toString())).hasMessageEndingWith("embed_dim is required");
  }

  @Test
  void wrongTypesNameTheKey() throws IOException {
    Path file = write("type.conf", "embed_dim = 32\nvision { width = wide }\n");
    assertThatThrownBy(() -> ModelConfigs.load(file.toString()))
        .hasMessageStartingWith("Cannot load model type from")
        .hasMessageContaining("width");
  }

  @Test
  void missingFileIsAnError() {
    assertThatThrownBy(() -> ModelConfigs.load(dir.resolve("nope.conf").toString()))
        .hasMessage("Cannot load model file " + dir.resolve("nope.conf") + ": no such file");
  }

  private Path write(String name, String content) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, content);
    return file;
  }
}
