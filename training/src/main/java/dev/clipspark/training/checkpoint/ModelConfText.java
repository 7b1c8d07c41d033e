package dev.clipspark.training.checkpoint;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import java.util.stream.Collectors;

/** A model architecture as the HOCON of {@code conf/models/NAME.conf}, and back. */
final class ModelConfText {

  private ModelConfText() {}

  /** The model file's text: {@code embed_dim}, {@code vision { ... }}, {@code text { ... }}, every field explicit. */
  static String render(ModelConfig model) {
    VisionConfig v = model.vision();
    TextConfig t = model.text();
    var s = new StringBuilder();
    s.append("# Model ").append(model.name()).append(", saved with a ClipSpark checkpoint.\n");
    s.append(ModelConfig.EMBED_DIM).append(" = ").append(model.embedDim()).append('\n');
    s.append(ModelConfig.VISION).append(" {\n");
    line(s, VisionConfig.IMAGE_SIZE, Integer.toString(v.imageSize()));
    line(s, VisionConfig.LAYERS, v.isResNet()
        ? v.layers().stream().map(String::valueOf).collect(Collectors.joining(", ", "[", "]"))
        : Integer.toString(v.vitLayers()));
    line(s, VisionConfig.WIDTH, Integer.toString(v.width()));
    if (!v.isResNet()) {
      line(s, VisionConfig.PATCH_SIZE, Integer.toString(v.patchSize()));
    }
    line(s, VisionConfig.HEAD_WIDTH, Integer.toString(v.headWidth()));
    s.append("}\n");
    s.append(ModelConfig.TEXT).append(" {\n");
    line(s, TextConfig.CONTEXT_LENGTH, Integer.toString(t.contextLength()));
    line(s, TextConfig.VOCAB_SIZE, Integer.toString(t.vocabSize()));
    line(s, TextConfig.WIDTH, Integer.toString(t.width()));
    line(s, TextConfig.HEADS, Integer.toString(t.heads()));
    line(s, TextConfig.LAYERS, Integer.toString(t.layers()));
    s.append("}\n");
    return s.toString();
  }

  /** Parses {@link #render}'s text (or any model file's) as model {@code name}. */
  static ModelConfig parse(String name, String text, String origin) {
    return ModelConfigs.parse(name, ConfigFactory.parseString(text), origin);
  }

  private static void line(StringBuilder s, String key, String value) {
    s.append("  ").append(key).append(" = ").append(value).append('\n');
  }
}
