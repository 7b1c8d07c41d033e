package dev.clipspark.training.model;

/**
 * Floating-point operations of a CLIP model's matrix products and convolutions, the work that model FLOP
 * utilisation (MFU) counts: one multiply-add is two FLOPs, element-wise work (normalisation, activations,
 * softmax) is left out, attention is counted in full (the causal mask does not skip work here). A training
 * step costs three forward passes' worth: the forward pass, and a backward pass of twice that (gradients
 * with respect to inputs and to weights).
 *
 * <p>Per tower, forward, per sample:
 * <ul>
 *   <li>transformer block over {@code T} tokens of width {@code w}: {@code 2 (12 T w^2 + 2 T^2 w)} (q, k, v
 *       and output projections {@code 4 T w^2}, attention scores and weighted values {@code 2 T^2 w}, MLP
 *       {@code 8 T w^2});</li>
 *   <li>ViT patch embedding {@code 2 G^2 (3 p^2) w}, projection {@code 2 w e};</li>
 *   <li>convolution: {@code 2 H_out W_out C_out C_in k^2}; attention pooling: key and value projections over
 *       all {@code L} tokens, the query of one token, scores and values, output projection.</li>
 * </ul>
 */
public final class ModelFlops {

  private ModelFlops() {}

  /** Forward FLOPs of the image tower for one image. */
  public static double imageForward(ModelConfig config) {
    VisionConfig v = config.vision();
    return v.isResNet() ? resNet(v, config.embedDim()) : vit(v, config.embedDim());
  }

  /** Forward FLOPs of the text tower for one text of the model's context length. */
  public static double textForward(ModelConfig config) {
    TextConfig t = config.text();
    return t.layers() * block(t.contextLength(), t.width()) + 2.0 * t.width() * config.embedDim();
  }

  /** FLOPs of one training step's forward and backward passes for one (image, text) pair. */
  public static double trainingPerSample(ModelConfig config) {
    return 3 * (imageForward(config) + textForward(config));
  }

  /**
   * FLOPs of the dense contrastive loss over a batch of {@code n}: the {@code n x n} similarity product
   * forward and its two gradient products.
   */
  public static double loss(ModelConfig config, long n) {
    return 3 * 2.0 * n * n * config.embedDim();
  }

  static double block(long tokens, long width) {
    return 2.0 * (12.0 * tokens * width * width + 2.0 * tokens * tokens * width);
  }

  private static double vit(VisionConfig v, int embedDim) {
    long grid = v.grid();
    long tokens = grid * grid + 1;
    double patch = 2.0 * grid * grid * 3L * v.patchSize() * v.patchSize() * v.width();
    return patch + v.vitLayers() * block(tokens, v.width()) + 2.0 * v.width() * embedDim;
  }

  private static double resNet(VisionConfig v, int embedDim) {
    long w = v.width();
    long side = v.imageSize() / 2;
    double flops = conv(side, 3, w / 2, 3) + conv(side, w / 2, w / 2, 3) + conv(side, w / 2, w, 3);
    side /= 2;
    long inplanes = w;
    for (int stage = 0; stage < 4; stage++) {
      long planes = w << stage;
      int stride = stage == 0 ? 1 : 2;
      for (int b = 0; b < v.layers().get(stage); b++) {
        long out = side / (b == 0 ? stride : 1);
        flops += conv(side, inplanes, planes, 1) + conv(side, planes, planes, 3) + conv(out, planes, planes * 4, 1);
        if (b == 0 && (stride > 1 || inplanes != planes * 4)) {
          flops += conv(out, inplanes, planes * 4, 1);
        }
        side = out;
        inplanes = planes * 4;
      }
    }
    long c = w * VisionConfig.RESNET_REDUCTION;
    long tokens = side * side + 1;
    flops += 2.0 * 2 * tokens * c * c + 2.0 * c * c + 2.0 * 2 * tokens * c + 2.0 * c * embedDim;
    return flops;
  }

  private static double conv(long outSide, long in, long out, int kernel) {
    return 2.0 * outSide * outSide * out * in * kernel * kernel;
  }
}
