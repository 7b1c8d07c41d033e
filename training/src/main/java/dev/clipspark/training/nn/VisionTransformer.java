package dev.clipspark.training.nn;

import dev.clipspark.training.model.VisionConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * CLIP's Vision Transformer image tower (OpenAI's {@code VisionTransformer}): images {@code [B, 3, S, S]}
 * (NCHW) in, features {@code [B, embedDim]} out.
 * <pre>
 *   x = conv1(images)                    patch embedding, kernel = stride = p, no bias: [B, g*g, width]
 *   x = [class_embedding; x] + positional_embedding                            [B, g*g + 1, width]
 *   x = transformer(ln_pre(x))           non-causal residual attention blocks
 *   out = ln_post(x[:, 0]) @ proj        the class token only                   [B, embedDim]
 * </pre>
 * The convolution is one GEMM: each image is cut into {@code [g*g, 3*p*p]} patches, channel-major within a
 * patch (the order of {@code conv1.weight [width, 3, p, p]} flattened). Parameters under {@code prefix.}
 * with OpenAI's names: {@code conv1.weight}, {@code class_embedding}, {@code positional_embedding},
 * {@code ln_pre.*}, {@code transformer.resblocks.i.*}, {@code ln_post.*}, {@code proj [width, embedDim]}.
 */
public final class VisionTransformer implements Layer {

  private final ParameterSet params;
  private final String prefix;
  private final int imageSize;
  private final int patch;
  private final int grid;
  private final long width;
  private final long embedDim;
  private final INDArray convWeight;
  private final INDArray classEmbedding;
  private final INDArray positionalEmbedding;
  private final INDArray proj;
  private final LayerNorm lnPre;
  private final List<ResidualAttentionBlock> blocks = new ArrayList<>();
  private final LayerNorm lnPost;
  private INDArray patches;
  private INDArray pooled;
  private long batch;

  /**
   * The tower over the parameters {@code prefix.*} (CLIP's is {@code "visual"}).
   *
   * @param config   a ViT configuration
   * @param embedDim width of the joint embedding ({@code proj}'s second dimension)
   * @throws IllegalArgumentException if {@code config} is a ResNet or a parameter has the wrong shape
   */
  public VisionTransformer(ParameterSet params, String prefix, VisionConfig config, int embedDim) {
    if (config.isResNet()) {
      throw new IllegalArgumentException("Cannot build a VisionTransformer at " + prefix
          + ": the vision config is a ResNet (vision.layers = " + config.layers() + ")");
    }
    this.params = params;
    this.prefix = prefix;
    this.imageSize = config.imageSize();
    this.patch = config.patchSize();
    this.grid = config.grid();
    this.width = config.width();
    this.embedDim = embedDim;
    this.convWeight = params.value(prefix + ".conv1.weight", width, 3, patch, patch);
    this.classEmbedding = params.value(prefix + ".class_embedding", width);
    this.positionalEmbedding = params.value(prefix + ".positional_embedding", (long) grid * grid + 1, width);
    this.proj = params.value(prefix + ".proj", width, embedDim);
    this.lnPre = new LayerNorm(params, prefix + ".ln_pre");
    for (int i = 0; i < config.vitLayers(); i++) {
      blocks.add(new ResidualAttentionBlock(params, prefix + ".transformer.resblocks." + i, config.heads(), false));
    }
    this.lnPost = new LayerNorm(params, prefix + ".ln_post");
  }

  @Override
  public INDArray forward(INDArray images) {
    INDArray x = encodeTokens(images);
    INDArray cls = x.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).dup('c');
    pooled = lnPost.forward(cls);
    INDArray out = Nd4j.createUninitialized(images.dataType(), batch, embedDim);
    Nd4j.gemm(pooled, proj, out, false, false, 1.0, 0.0);
    return out;
  }

  /**
   * The grid of patch tokens, for inference only (LiMBeR's {@code limber.features = grid}): the output of the last
   * block at the {@code g*g} patch positions (the class token dropped), each through {@code ln_post}, the
   * normalisation the class token gets before {@code proj}; {@code proj} itself is not applied. A {@link #backward}
   * after it is refused.
   *
   * @return {@code [B, g*g, width]}
   */
  public INDArray forwardGrid(INDArray images) {
    INDArray x = encodeTokens(images);
    pooled = null;
    patches = null;
    long tokens = (long) grid * grid + 1;
    INDArray cells = x.get(NDArrayIndex.all(), NDArrayIndex.interval(1, tokens), NDArrayIndex.all()).dup('c');
    return lnPost.forward(cells);
  }

  /** Positions of {@link #forwardGrid}: {@code g*g}. */
  public int gridPositions() {
    return grid * grid;
  }

  /** Width of {@link #forwardGrid}'s tokens. */
  public long gridWidth() {
    return width;
  }

  /** Patch embedding, class token, positions, ln_pre and the blocks: {@code [B, g*g + 1, width]}. */
  private INDArray encodeTokens(INDArray images) {
    if (images.rank() != 4 || images.size(1) != 3 || images.size(2) != imageSize || images.size(3) != imageSize) {
      throw new IllegalArgumentException(String.format("Cannot encode images of shape %s with %s: expected"
          + " [batch, 3, %d, %d]", Arrays.toString(images.shape()), prefix, imageSize, imageSize));
    }
    if (images.dataType() != convWeight.dataType()) {
      throw new IllegalArgumentException(String.format("Cannot encode %s images with %s: the parameters are %s",
          images.dataType(), prefix, convWeight.dataType()));
    }
    batch = images.size(0);
    long cells = (long) grid * grid;
    long tokens = cells + 1;
    // [B, 3, g, p, g, p] -> [B, g, g, 3, p, p]: one row of 3*p*p per patch, channel-major.
    patches = contiguous(images).reshape('c', batch, 3, grid, patch, grid, patch).permute(0, 2, 4, 1, 3, 5).dup('c')
        .reshape('c', batch * cells, 3L * patch * patch);
    INDArray embedded = Nd4j.createUninitialized(images.dataType(), batch * cells, width);
    Nd4j.gemm(patches, kernel(convWeight), embedded, false, true, 1.0, 0.0);
    INDArray x = Nd4j.createUninitialized(images.dataType(), batch, tokens, width);
    // Token 0 starts at zero and receives class_embedding together with its positional embedding.
    x.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).assign(0);
    x.get(NDArrayIndex.all(), NDArrayIndex.interval(1, tokens), NDArrayIndex.all())
        .assign(embedded.reshape('c', batch, cells, width));
    INDArray added = positionalEmbedding.dup('c');
    added.getRow(0).addi(classEmbedding);
    Broadcasts.addiRowVector(x.reshape('c', batch, tokens * width), added.reshape('c', new long[] {tokens * width}));
    x = lnPre.forward(x);
    for (ResidualAttentionBlock block : blocks) {
      x = block.forward(x);
    }
    return x;
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (pooled == null) {
      throw new IllegalStateException("Cannot run backward through " + prefix + ": no forward pass");
    }
    if (gradOutput.rank() != 2 || gradOutput.size(0) != batch || gradOutput.size(1) != embedDim) {
      throw new IllegalArgumentException(String.format("Cannot run backward through %s: gradient of shape %s,"
          + " expected [%d, %d]", prefix, Arrays.toString(gradOutput.shape()), batch, embedDim));
    }
    long cells = (long) grid * grid;
    long tokens = cells + 1;
    INDArray dy = gradOutput.dup('c');
    Nd4j.gemm(pooled, dy, params.gradient(prefix + ".proj"), true, false, 1.0, 1.0);
    INDArray dPooled = Nd4j.createUninitialized(dy.dataType(), batch, width);
    Nd4j.gemm(dy, proj, dPooled, false, true, 1.0, 0.0);
    INDArray dx = Nd4j.zeros(dy.dataType(), batch, tokens, width);
    dx.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).assign(lnPost.backward(dPooled));
    for (int i = blocks.size() - 1; i >= 0; i--) {
      dx = blocks.get(i).backward(dx);
    }
    dx = lnPre.backward(dx).dup('c');
    params.gradient(prefix + ".positional_embedding")
        .addi(dx.reshape('c', batch, tokens * width).sum(0).reshape('c', tokens, width));
    params.gradient(prefix + ".class_embedding")
        .addi(dx.get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).sum(0));
    INDArray dEmbedded = dx.get(NDArrayIndex.all(), NDArrayIndex.interval(1, tokens), NDArrayIndex.all())
        .dup('c').reshape('c', batch * cells, width);
    INDArray dKernel = Nd4j.createUninitialized(dy.dataType(), width, 3L * patch * patch);
    Nd4j.gemm(dEmbedded, patches, dKernel, true, false, 1.0, 0.0);
    params.gradient(prefix + ".conv1.weight").addi(dKernel.reshape('c', width, 3, patch, patch));
    INDArray dPatches = Nd4j.createUninitialized(dy.dataType(), batch * cells, 3L * patch * patch);
    Nd4j.gemm(dEmbedded, kernel(convWeight), dPatches, false, false, 1.0, 0.0);
    patches = null;
    pooled = null;
    // [B, g, g, 3, p, p] -> [B, 3, g, p, g, p] = [B, 3, S, S]
    return dPatches.reshape('c', batch, grid, grid, 3, patch, patch).permute(0, 3, 1, 4, 2, 5).dup('c')
        .reshape('c', batch, 3, imageSize, imageSize);
  }

  /** {@code a} itself if it is C-contiguous, else a C-ordered copy. */
  private static INDArray contiguous(INDArray a) {
    return a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) ? a : a.dup('c');
  }

  /** The convolution weight as a {@code [width, 3*p*p]} matrix. */
  private INDArray kernel(INDArray weight) {
    return Linear.rows(weight, 3L * patch * patch);
  }
}
