package dev.clipspark.training.model;

import java.util.List;

/**
 * The image tower of a CLIP model, with open_clip's field names ({@code vision { ... }} in a model file).
 *
 * <p>A ViT has a single entry in {@link #layers()} (the file says {@code layers = 12}); the modified
 * ResNet has four (the file says {@code layers = [3, 4, 6, 3]}), as open_clip chooses the tower by
 * whether {@code layers} is a list. Build with {@link #vit} or {@link #resNet}; the constructor
 * validates and fails with the offending key, its value and what is allowed.
 *
 * @param imageSize  side in pixels of the square input images
 * @param layers     ViT: one entry, the number of transformer blocks; ResNet: four entries, the
 *                   bottleneck blocks in each stage
 * @param width      ViT: token width; ResNet: stem width (the stages are 4, 8, 16 and 32 times wider)
 * @param patchSize  ViT: side in pixels of the square patches; unused by the ResNet
 * @param headWidth  width of one attention head (ViT blocks, ResNet attention pooling)
 */
public record VisionConfig(int imageSize, List<Integer> layers, int width, int patchSize, int headWidth)
    implements java.io.Serializable {

  /** Key of {@link #imageSize()}. */
  public static final String IMAGE_SIZE = "image_size";
  /** open_clip's default image side. */
  public static final int IMAGE_SIZE_DEFAULT = 224;
  /** Key of {@link #layers()}: a number for a ViT, a list of four for the ResNet. */
  public static final String LAYERS = "layers";
  /** open_clip's default ViT depth. */
  public static final int LAYERS_DEFAULT = 12;
  /** Key of {@link #width()}. */
  public static final String WIDTH = "width";
  /** open_clip's default ViT width. */
  public static final int WIDTH_DEFAULT = 768;
  /** Key of {@link #patchSize()}. */
  public static final String PATCH_SIZE = "patch_size";
  /** open_clip's default patch side. */
  public static final int PATCH_SIZE_DEFAULT = 16;
  /** Key of {@link #headWidth()}. */
  public static final String HEAD_WIDTH = "head_width";
  /** open_clip's default attention head width. */
  public static final int HEAD_WIDTH_DEFAULT = 64;

  /** Total downsampling factor of the modified ResNet (stem 4, three strided stages 8). */
  public static final int RESNET_REDUCTION = 32;

  /** Validates; see the class comment. */
  public VisionConfig {
    layers = List.copyOf(layers);
    if (layers.size() != 1 && layers.size() != 4) {
      throw new IllegalArgumentException(String.format(
          "Cannot set vision.layers to %s: must be a number (ViT) or a list of 4 numbers (ResNet)", layers));
    }
    for (int n : layers) {
      if (n < 1) {
        throw new IllegalArgumentException(String.format(
            "Cannot set vision.layers to %s: block counts must be at least 1", layers.size() == 1 ? layers.get(0) : layers));
      }
    }
    positive("vision.image_size", imageSize);
    positive("vision.width", width);
    positive("vision.head_width", headWidth);
    if (layers.size() == 1) {
      positive("vision.patch_size", patchSize);
      if (imageSize % patchSize != 0) {
        throw new IllegalArgumentException(String.format(
            "Cannot set vision.image_size to %d: must be a multiple of vision.patch_size %d", imageSize, patchSize));
      }
      if (width % headWidth != 0) {
        throw new IllegalArgumentException(String.format(
            "Cannot set vision.width to %d: must be a multiple of vision.head_width %d", width, headWidth));
      }
    } else {
      if (imageSize % RESNET_REDUCTION != 0) {
        throw new IllegalArgumentException(String.format(
            "Cannot set vision.image_size to %d: a ResNet needs a multiple of %d", imageSize, RESNET_REDUCTION));
      }
      if (width % 2 != 0) {
        throw new IllegalArgumentException(String.format(
            "Cannot set vision.width to %d: a ResNet needs an even width (its stem starts at width / 2)", width));
      }
      if (width * RESNET_REDUCTION % headWidth != 0) {
        throw new IllegalArgumentException(String.format(
            "Cannot set vision.width to %d: the ResNet's attention pooling width %d (width * 32) must be a multiple"
                + " of vision.head_width %d", width, width * RESNET_REDUCTION, headWidth));
      }
    }
  }

  /** A Vision Transformer tower. */
  public static VisionConfig vit(int imageSize, int layers, int width, int patchSize, int headWidth) {
    return new VisionConfig(imageSize, List.of(layers), width, patchSize, headWidth);
  }

  /** A modified-ResNet tower with {@code layers} bottleneck blocks in its four stages. */
  public static VisionConfig resNet(int imageSize, List<Integer> layers, int width, int headWidth) {
    if (layers.size() != 4) {
      throw new IllegalArgumentException(String.format(
          "Cannot set vision.layers to %s: a ResNet needs a list of 4 block counts", layers));
    }
    return new VisionConfig(imageSize, layers, width, PATCH_SIZE_DEFAULT, headWidth);
  }

  /** Whether this is the modified ResNet (four stages) rather than a ViT. */
  public boolean isResNet() {
    return layers.size() == 4;
  }

  /** ViT: the number of transformer blocks. */
  public int vitLayers() {
    requireVit("vitLayers");
    return layers.get(0);
  }

  /** ViT: patches per image side. */
  public int grid() {
    requireVit("grid");
    return imageSize / patchSize;
  }

  /** Attention heads: ViT {@code width / head_width}; ResNet attention pooling {@code width * 32 / head_width}. */
  public int heads() {
    return isResNet() ? width * RESNET_REDUCTION / headWidth : width / headWidth;
  }

  private void requireVit(String what) {
    if (isResNet()) {
      throw new IllegalStateException("Cannot compute " + what + ": this vision tower is a ResNet");
    }
  }

  static void positive(String key, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(String.format("Cannot set %s to %d: must be at least 1", key, value));
    }
  }
}
