package dev.clipspark.training.nn;

import dev.clipspark.training.model.VisionConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * OpenAI CLIP's modified ResNet image tower ({@code clip/model.py: ModifiedResNet}): input images
 * {@code [batch, 3, S, S]} (NCHW), output {@code [batch, embed_dim]}.
 * <pre>
 *   x = relu(bn1(conv1(x)))          3x3 stride 2, 3 -> width / 2
 *   x = relu(bn2(conv2(x)))          3x3, width / 2 -> width / 2
 *   x = relu(bn3(conv3(x)))          3x3, width / 2 -> width
 *   x = avgpool(x)                   2x2
 *   x = layer4(layer3(layer2(layer1(x))))   bottlenecks of width w, 2w, 4w, 8w, strides 1, 2, 2, 2
 *   y = attnpool(x)                  over (S / 32)^2 + 1 tokens of width 32 w
 * </pre>
 * Tensors under {@code prefix.} (OpenAI's {@code visual.} names with {@code prefix = "visual"}), as
 * {@code ClipParameters} lists them, plus the BatchNorm running statistics as buffers.
 * {@link #setTraining} switches every BatchNorm between batch and running statistics.
 */
public final class ModifiedResNet implements Layer {

  private final VisionConfig config;
  private final List<Layer> stem;
  private final List<Bottleneck> blocks;
  private final AttentionPool2d attnpool;

  /**
   * The tower over the tensors under {@code prefix}.
   *
   * @param config   a ResNet vision configuration ({@code layers} of four block counts)
   * @param embedDim width of the output embedding ({@code attnpool.c_proj}'s output)
   * @throws IllegalArgumentException if the configuration is not a ResNet or a tensor is missing or has
   *                                  another shape
   */
  public ModifiedResNet(ParameterSet params, String prefix, VisionConfig config, int embedDim) {
    if (!config.isResNet()) {
      throw new IllegalArgumentException("Cannot build a modified ResNet from vision.layers " + config.layers()
          + ": needs a list of 4 block counts");
    }
    this.config = config;
    long width = config.width();
    long half = width / 2;
    params.value(prefix + ".conv1.weight", half, 3, 3, 3);
    params.value(prefix + ".conv2.weight", half, half, 3, 3);
    params.value(prefix + ".conv3.weight", width, half, 3, 3);
    var s = new ArrayList<Layer>();
    s.add(Conv2d.of(params, prefix + ".conv1", 2, 1));
    s.add(new BatchNorm2d(params, prefix + ".bn1"));
    s.add(new Relu());
    s.add(Conv2d.of(params, prefix + ".conv2", 1, 1));
    s.add(new BatchNorm2d(params, prefix + ".bn2"));
    s.add(new Relu());
    s.add(Conv2d.of(params, prefix + ".conv3", 1, 1));
    s.add(new BatchNorm2d(params, prefix + ".bn3"));
    s.add(new Relu());
    s.add(new AvgPool2d(2));
    this.stem = Collections.unmodifiableList(s);
    var b = new ArrayList<Bottleneck>();
    long inplanes = width;
    for (int stage = 0; stage < 4; stage++) {
      long planes = width << stage;
      for (int i = 0; i < config.layers().get(stage); i++) {
        int stride = stage > 0 && i == 0 ? 2 : 1;
        b.add(new Bottleneck(params, prefix + ".layer" + (stage + 1) + "." + i, inplanes, planes, stride));
        inplanes = planes * Bottleneck.EXPANSION;
      }
    }
    this.blocks = Collections.unmodifiableList(b);
    long spatial = config.imageSize() / VisionConfig.RESNET_REDUCTION;
    params.value(prefix + ".attnpool.positional_embedding", spatial * spatial + 1, inplanes);
    params.value(prefix + ".attnpool.c_proj.weight", embedDim, inplanes);
    this.attnpool = new AttentionPool2d(params, prefix + ".attnpool", config.heads());
  }

  /** The stem: three convolutions with BatchNorm and ReLU, then 2x2 average pooling, in order. */
  public List<Layer> stem() {
    return stem;
  }

  /** The bottleneck blocks of the four stages, in order. */
  public List<Bottleneck> blocks() {
    return blocks;
  }

  /** The attention pooling head. */
  public AttentionPool2d attnpool() {
    return attnpool;
  }

  @Override
  public INDArray forward(INDArray images) {
    return attnpool.forward(featureMap(images));
  }

  /**
   * The feature map before attention pooling, for inference only (LiMBeR's {@code limber.features = grid}): the
   * output of the last bottleneck, one token per spatial position in row-major order. A {@link #backward} after it
   * is not meaningful.
   *
   * @return {@code [B, (S/32)^2, 32 * width]}
   */
  public INDArray forwardGrid(INDArray images) {
    INDArray x = featureMap(images);
    long b = x.size(0);
    long c = x.size(1);
    long hw = x.size(2) * x.size(3);
    return x.dup('c').reshape('c', b, c, hw).permute(0, 2, 1).dup('c');
  }

  /** Positions of {@link #forwardGrid}: {@code (S/32)^2}. */
  public int gridPositions() {
    int side = config.imageSize() / VisionConfig.RESNET_REDUCTION;
    return side * side;
  }

  /** Channels of {@link #forwardGrid}'s tokens: {@code 32 * width}. */
  public long gridWidth() {
    return attnpool.inputWidth();
  }

  private INDArray featureMap(INDArray images) {
    long size = config.imageSize();
    if (images.rank() != 4 || images.size(1) != 3 || images.size(2) != size || images.size(3) != size) {
      throw new IllegalArgumentException(String.format("Cannot apply the modified ResNet to images of shape %s:"
          + " expected [batch, 3, %d, %d]", Arrays.toString(images.shape()), size, size));
    }
    INDArray x = images;
    for (Layer layer : stem) {
      x = layer.forward(x);
    }
    for (Bottleneck block : blocks) {
      x = block.forward(x);
    }
    return x;
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    INDArray d = attnpool.backward(gradOutput);
    for (int i = blocks.size() - 1; i >= 0; i--) {
      d = blocks.get(i).backward(d);
    }
    for (int i = stem.size() - 1; i >= 0; i--) {
      d = stem.get(i).backward(d);
    }
    return d;
  }

  @Override
  public void setTraining(boolean training) {
    stem.forEach(layer -> layer.setTraining(training));
    blocks.forEach(block -> block.setTraining(training));
  }
}
