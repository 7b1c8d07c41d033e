package dev.clipspark.training.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import dev.clipspark.training.nn.ParameterSet;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The committed reference fixtures of {@code tools/reference/make_clip_fixtures.py}: tiny OpenAI-architecture
 * CLIPs ({@code vit}, {@code rn}) in three formats, with the features and logits PyTorch computed for them.
 */
final class ReferenceFixtures {

  static final Path DIR = resourceDir();
  private static final ObjectMapper JSON = new ObjectMapper();

  final String name;
  final JsonNode json;
  final Path dir;

  private ReferenceFixtures(String name, JsonNode json, Path dir) {
    this.name = name;
    this.json = json;
    this.dir = dir;
  }

  /** The committed fixture {@code name} ({@code vit}, {@code rn}). */
  static ReferenceFixtures load(String name) {
    return load(DIR, name);
  }

  /** Fixture {@code name} in {@code dir} (e.g. the script's {@code --full-size} output). */
  static ReferenceFixtures load(Path dir, String name) {
    try {
      return new ReferenceFixtures(name, JSON.readTree(dir.resolve(name + ".json").toFile()), dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The file of {@code format} ({@code pytorch}, {@code torchscript}, {@code safetensors}). */
  Path file(String format) {
    return dir.resolve(json.path("files").path(format).path("file").asText());
  }

  /** The architecture as the script built it, in ClipSpark's terms (heads of width 64, as OpenAI). */
  ModelConfig model(String modelName) {
    JsonNode a = json.path("architecture");
    VisionConfig vision;
    if (a.path("vision_layers").isArray()) {
      var layers = new ArrayList<Integer>();
      a.path("vision_layers").forEach(n -> layers.add(n.asInt()));
      vision = VisionConfig.resNet(a.path("image_resolution").asInt(), layers, a.path("vision_width").asInt(), 64);
    } else {
      vision = VisionConfig.vit(a.path("image_resolution").asInt(), a.path("vision_layers").asInt(),
          a.path("vision_width").asInt(), a.path("vision_patch_size").asInt(), 64);
    }
    var text = new TextConfig(a.path("context_length").asInt(), a.path("vocab_size").asInt(),
        a.path("transformer_width").asInt(), a.path("transformer_heads").asInt(), a.path("transformer_layers").asInt());
    return new ModelConfig(modelName, a.path("embed_dim").asInt(), vision, text);
  }

  /** The fixed images, normalised with OpenAI's mean and std in float32, {@code [B, 3, S, S]}. */
  INDArray images() {
    var files = new ArrayList<String>();
    json.path("images").forEach(n -> files.add(n.asText()));
    float[] mean = floats(json.path("mean"));
    float[] std = floats(json.path("std"));
    BufferedImage first = read(dir, files.get(0));
    int s = first.getWidth();
    float[] out = new float[files.size() * 3 * s * s];
    for (int b = 0; b < files.size(); b++) {
      BufferedImage img = read(dir, files.get(b));
      for (int y = 0; y < s; y++) {
        for (int x = 0; x < s; x++) {
          int rgb = img.getRGB(x, y);
          int[] c = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
          for (int ch = 0; ch < 3; ch++) {
            out[((b * 3 + ch) * s + y) * s + x] = (c[ch] / 255.0f - mean[ch]) / std[ch];
          }
        }
      }
    }
    return Nd4j.createFromArray(out).reshape('c', files.size(), 3, s, s);
  }

  /** The captions' token ids {@code [B, context]}. */
  INDArray tokens() {
    JsonNode rows = json.path("tokens");
    long[][] ids = new long[rows.size()][];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = new long[rows.get(i).size()];
      for (int j = 0; j < ids[i].length; j++) {
        ids[i][j] = rows.get(i).get(j).asLong();
      }
    }
    return Nd4j.createFromArray(ids);
  }

  INDArray reference(String key) {
    JsonNode rows = json.path(key);
    double[][] v = new double[rows.size()][];
    for (int i = 0; i < v.length; i++) {
      v[i] = new double[rows.get(i).size()];
      for (int j = 0; j < v[i].length; j++) {
        v[i][j] = rows.get(i).get(j).asDouble();
      }
    }
    return Nd4j.createFromArray(v);
  }

  /** What ClipSpark computes with {@code parameters}: image features, text features, logits per image. */
  static List<INDArray> compute(ModelConfig model, ParameterSet parameters, INDArray images, INDArray tokens) {
    ClipModel clip = ClipModel.create(model, parameters);
    clip.setTraining(false);
    INDArray fi = clip.encodeImage(images).castTo(DataType.DOUBLE);
    INDArray ft = clip.encodeText(tokens).castTo(DataType.DOUBLE);
    INDArray ni = fi.divColumnVector(fi.norm2(1).reshape(-1, 1));
    INDArray nt = ft.divColumnVector(ft.norm2(1).reshape(-1, 1));
    INDArray logits = ni.mmul(nt.transpose()).muli(Math.exp(clip.logitScale()));
    return List.of(fi, ft, logits);
  }

  /**
   * The largest element-wise relative difference {@code |a - b| / max(|b|, 0.01 max|b|)}, as the script measures
   * it: elements below 1% of the tensor's largest magnitude are measured at that scale, where float32 rounding of
   * the larger ones lives.
   */
  static double maxRelative(INDArray actual, INDArray expected) {
    INDArray a = actual.castTo(DataType.DOUBLE);
    INDArray b = expected.castTo(DataType.DOUBLE);
    INDArray diff = Transforms.abs(a.sub(b));
    double floor = 0.01 * Transforms.abs(b).maxNumber().doubleValue();
    INDArray denom = Transforms.max(Transforms.abs(b), floor);
    return diff.div(denom).maxNumber().doubleValue();
  }

  private static float[] floats(JsonNode n) {
    float[] out = new float[n.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) n.get(i).asDouble();
    }
    return out;
  }

  private static BufferedImage read(Path dir, String file) {
    try {
      return ImageIO.read(dir.resolve(file).toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path resourceDir() {
    try {
      return Paths.get(ReferenceFixtures.class.getResource("/reference/vit.json").toURI()).getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
