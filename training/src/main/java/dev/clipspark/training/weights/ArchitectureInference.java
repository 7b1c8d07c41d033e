package dev.clipspark.training.weights;

import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The architecture of a CLIP state dict from its tensor shapes, as OpenAI's {@code build_model} infers it: a ViT
 * when {@code visual.proj} exists, else the modified ResNet; widths, depths, patch and image size, context length,
 * vocabulary and embedding size from the shapes; attention heads {@code width / 64} in every tower, as in all of
 * OpenAI's and open_clip's CLIP models.
 */
final class ArchitectureInference {

  /** Width of one attention head in OpenAI's models. */
  static final int HEAD_WIDTH = 64;

  private ArchitectureInference() {}

  /**
   * The model of {@code shapes} named {@code name}.
   *
   * @throws WeightsException naming {@code origin} and the tensors that are missing or inconsistent
   */
  static ModelConfig infer(String name, Map<String, long[]> shapes, String origin) {
    var missing = new ArrayList<String>();
    boolean vit = shapes.containsKey("visual.proj");
    List<String> needed = new ArrayList<>(List.of("text_projection", "positional_embedding", "token_embedding.weight",
        "ln_final.weight"));
    needed.addAll(vit
        ? List.of("visual.conv1.weight", "visual.positional_embedding")
        : List.of("visual.layer1.0.conv1.weight", "visual.attnpool.positional_embedding"));
    for (String n : needed) {
      if (!shapes.containsKey(n)) {
        missing.add(n);
      }
    }
    if (!missing.isEmpty()) {
      throw new WeightsException(String.format("Cannot infer the architecture of %s: it lacks %s, so it is not a "
          + "CLIP state dict with OpenAI's names (found %d tensors%s)", origin, String.join(", ", missing),
          shapes.size(), shapes.isEmpty() ? "" : ", e.g. " + String.join(", ", shapes.keySet().stream().limit(5).toList())));
    }
    try {
      VisionConfig vision = vit ? vit(shapes, origin) : resNet(shapes, origin);
      int embedDim = dim(shapes, "text_projection", 1);
      int textWidth = dim(shapes, "ln_final.weight", 0);
      int textLayers = count(shapes, Pattern.compile("transformer\\.resblocks\\.(\\d+)\\..*"));
      if (textWidth % HEAD_WIDTH != 0) {
        throw new WeightsException(String.format("Cannot infer the text heads of %s: its text width %d is not a "
            + "multiple of %d (OpenAI's head width); give the model (--model NAME|FILE)", origin, textWidth, HEAD_WIDTH));
      }
      var text = new TextConfig(dim(shapes, "positional_embedding", 0), dim(shapes, "token_embedding.weight", 0),
          textWidth, textWidth / HEAD_WIDTH, textLayers);
      return new ModelConfig(name, embedDim, vision, text);
    } catch (WeightsException e) {
      throw e;
    } catch (IllegalArgumentException e) {
      throw new WeightsException("Cannot infer the architecture of " + origin + ": its shapes give an invalid model ("
          + e.getMessage() + ")", e);
    }
  }

  private static VisionConfig vit(Map<String, long[]> shapes, String origin) {
    int width = dim(shapes, "visual.conv1.weight", 0);
    int patch = dim(shapes, "visual.conv1.weight", 3);
    int layers = count(shapes, Pattern.compile("visual\\.transformer\\.resblocks\\.(\\d+)\\..*"));
    int tokens = dim(shapes, "visual.positional_embedding", 0);
    int grid = (int) Math.round(Math.sqrt(tokens - 1));
    if (grid * grid + 1 != tokens) {
      throw new WeightsException(String.format("Cannot infer the image size of %s: visual.positional_embedding has "
          + "%d rows, not a square grid plus one class token", origin, tokens));
    }
    if (width % HEAD_WIDTH != 0) {
      throw new WeightsException(String.format("Cannot infer the vision heads of %s: its ViT width %d is not a "
          + "multiple of %d (OpenAI's head width); give the model (--model NAME|FILE)", origin, width, HEAD_WIDTH));
    }
    return VisionConfig.vit(patch * grid, layers, width, patch, HEAD_WIDTH);
  }

  private static VisionConfig resNet(Map<String, long[]> shapes, String origin) {
    var layers = new ArrayList<Integer>();
    for (int stage = 1; stage <= 4; stage++) {
      layers.add(count(shapes, Pattern.compile("visual\\.layer" + stage + "\\.(\\d+)\\..*")));
    }
    int width = dim(shapes, "visual.layer1.0.conv1.weight", 0);
    int tokens = dim(shapes, "visual.attnpool.positional_embedding", 0);
    int grid = (int) Math.round(Math.sqrt(tokens - 1));
    if (grid * grid + 1 != tokens) {
      throw new WeightsException(String.format("Cannot infer the image size of %s: visual.attnpool.positional_embedding"
          + " has %d rows, not a square grid plus one token", origin, tokens));
    }
    return VisionConfig.resNet(grid * VisionConfig.RESNET_REDUCTION, layers, width, HEAD_WIDTH);
  }

  private static int dim(Map<String, long[]> shapes, String name, int axis) {
    long[] shape = shapes.get(name);
    if (shape == null || shape.length <= axis) {
      throw new WeightsException("Cannot infer the architecture: tensor " + name + " has shape "
          + (shape == null ? "none" : java.util.Arrays.toString(shape)) + ", which has no axis " + axis);
    }
    return Math.toIntExact(shape[axis]);
  }

  /** Number of distinct block indices among the names matching {@code pattern} (group 1 is the index). */
  private static int count(Map<String, long[]> shapes, Pattern pattern) {
    var indices = new TreeSet<Integer>();
    for (String name : shapes.keySet()) {
      Matcher m = pattern.matcher(name);
      if (m.matches()) {
        indices.add(Integer.parseInt(m.group(1)));
      }
    }
    return indices.size();
  }
}
