package dev.clipspark.training.model;

import dev.clipspark.training.model.ParameterSpec.Init;
import dev.clipspark.training.model.ParameterSpec.Role;
import dev.clipspark.training.nn.ParameterSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Every parameter tensor of a CLIP model, with OpenAI's {@code state_dict} names and shapes, its
 * weight-decay group and its initialiser; and a deterministic allocation of them.
 *
 * <p>Towers (OpenAI's {@code clip/model.py}):
 * <ul>
 *   <li>ViT: {@code conv1} patch embedding (no bias), class token, positional embedding, {@code ln_pre},
 *       residual attention blocks, {@code ln_post}, {@code proj} to {@code embed_dim}.</li>
 *   <li>Modified ResNet: a stem of three 3x3 convolutions (width/2, width/2, width) each with BatchNorm
 *       and ReLU, then average pooling; four stages of bottleneck blocks (expansion 4) whose strided
 *       blocks average-pool before their last 1x1 convolution, with a downsample branch
 *       avgpool, 1x1 convolution, BatchNorm; then attention pooling over {@code (image_size/32)^2 + 1}
 *       tokens of width {@code width * 32} in {@code width * 32 / head_width} heads, projecting to
 *       {@code embed_dim}. BatchNorm gains and biases are parameters; running statistics are buffers,
 *       listed apart by {@link #buffers}.</li>
 *   <li>Text: token embedding, positional embedding, causal residual attention blocks,
 *       {@code ln_final}, {@code text_projection}; and the scalar {@code logit_scale}.</li>
 * </ul>
 *
 * <p>Initialisation follows OpenAI's {@code CLIP.initialize_parameters} and, where that leaves a tensor
 * alone, PyTorch's module defaults: token embedding N(0, 0.02), text positional embedding N(0, 0.01),
 * text blocks {@code in_proj} N(0, width^-0.5), {@code out_proj} and {@code c_proj}
 * N(0, width^-0.5 (2 layers)^-0.5), {@code c_fc} N(0, (2 width)^-0.5), {@code text_projection}
 * N(0, width^-0.5); ViT class token, positional embedding and {@code proj} N(0, width^-0.5); ViT blocks
 * with PyTorch's defaults (Xavier-uniform {@code in_proj}, uniform(fan_in^-0.5) linear weights and biases,
 * zero attention biases); convolutions uniform(fan_in^-0.5); BatchNorm gains 1 except each bottleneck's
 * {@code bn3} gain 0; attention pooling projections and positional embedding N(0, (width*32)^-0.5);
 * LayerNorm gains 1 and biases 0; {@code logit_scale} = ln(1/0.07).
 */
public final class ClipParameters {

  /** OpenAI's initial logit scale, ln(1 / 0.07). */
  public static final double LOGIT_SCALE_INIT = Math.log(1 / 0.07);
  /** Bottleneck expansion of the modified ResNet. */
  public static final int BOTTLENECK_EXPANSION = 4;
  /** MLP hidden width over token width in every transformer block. */
  public static final int MLP_RATIO = 4;

  private ClipParameters() {}

  /** Every parameter of the model, in the order of PyTorch's {@code named_parameters()}; no buffers. */
  public static List<ParameterSpec> specs(ModelConfig config) {
    return Collections.unmodifiableList(build(config).list);
  }

  /**
   * Every buffer of the model (state saved in the {@code state_dict} but not trained): for each BatchNorm
   * {@code p} of a ResNet tower, {@code p.running_mean} (zeros), {@code p.running_var} (ones), both
   * {@code [channels]} in the parameters' data type, and {@code p.num_batches_tracked}, a scalar INT64
   * counter starting at 0 (PyTorch's {@code torch.long}). In module order; empty for a ViT.
   */
  public static List<BufferSpec> buffers(ModelConfig config) {
    return Collections.unmodifiableList(build(config).buffers);
  }

  private static Specs build(ModelConfig config) {
    var out = new Specs();
    TextConfig text = config.text();
    long tw = text.width();
    // CLIP's own parameters come first, then its modules in registration order.
    out.add("positional_embedding", Role.EMBEDDING, Init.normal(0.01), text.contextLength(), tw);
    out.add("text_projection", Role.WEIGHT, Init.normal(Math.pow(tw, -0.5)), tw, config.embedDim());
    out.add("logit_scale", Role.SCALE, Init.constant(LOGIT_SCALE_INIT));
    if (config.vision().isResNet()) {
      resNet(out, "visual.", config.vision(), config.embedDim());
    } else {
      vit(out, "visual.", config.vision(), config.embedDim());
    }
    double projStd = Math.pow(tw, -0.5) * Math.pow(2.0 * text.layers(), -0.5);
    for (int i = 0; i < text.layers(); i++) {
      block(out, "transformer.resblocks." + i + ".", tw,
          Init.normal(Math.pow(tw, -0.5)), Init.constant(0),
          Init.normal(projStd), Init.constant(0),
          Init.normal(Math.pow(2.0 * tw, -0.5)), Init.uniform(Math.pow(tw, -0.5)),
          Init.normal(projStd), Init.uniform(Math.pow(MLP_RATIO * tw, -0.5)));
    }
    out.add("token_embedding.weight", Role.EMBEDDING, Init.normal(0.02), text.vocabSize(), tw);
    layerNorm(out, "ln_final.", tw);
    return out;
  }

  /** Total number of parameter elements (no allocation). */
  public static long count(ModelConfig config) {
    return specs(config).stream().mapToLong(ParameterSpec::size).sum();
  }

  /**
   * Allocates and initialises every parameter (see the class comment) with zero gradients, and every
   * buffer of {@link #buffers} (floating-point ones in {@code dataType}, counters in INT64).
   * Deterministic: each tensor draws from its own {@link Random} seeded from {@code seed} and its name,
   * so a tensor's values depend only on the seed, its name and its spec.
   *
   * @param dataType FLOAT for training, DOUBLE for gradient checks
   */
  public static ParameterSet initialize(ModelConfig config, long seed, DataType dataType) {
    var set = new ParameterSet();
    for (ParameterSpec spec : specs(config)) {
      set.add(spec.name(), allocate(spec, seed, dataType));
    }
    for (BufferSpec spec : buffers(config)) {
      set.addBuffer(spec.name(), spec.allocate(dataType));
    }
    return set;
  }

  /** Allocates one parameter tensor filled by its initialiser, drawn as {@link #initialize} does. */
  public static INDArray allocate(ParameterSpec spec, long seed, DataType dataType) {
    long n = spec.size();
    if (n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("Cannot allocate parameter " + spec.name() + ": " + n + " elements");
    }
    double[] values = new double[(int) n];
    Init init = spec.init();
    switch (init.distribution()) {
      case CONSTANT -> java.util.Arrays.fill(values, init.value());
      case NORMAL -> {
        var random = new Random(tensorSeed(seed, spec.name()));
        for (int i = 0; i < values.length; i++) {
          values[i] = random.nextGaussian() * init.value();
        }
      }
      case UNIFORM -> {
        var random = new Random(tensorSeed(seed, spec.name()));
        for (int i = 0; i < values.length; i++) {
          values[i] = (2 * random.nextDouble() - 1) * init.value();
        }
      }
      default -> throw new IllegalStateException("Cannot initialise " + spec.name() + ": " + init);
    }
    long[] shape = spec.shape();
    INDArray flat = Nd4j.createFromArray(values).castTo(dataType);
    return shape.length == 0 ? flat.reshape() : flat.reshape('c', shape);
  }

  private static long tensorSeed(long seed, String name) {
    // SplitMix64 finaliser over the seed and the name's (specified, stable) String.hashCode.
    long z = seed * 0x9E3779B97F4A7C15L + name.hashCode();
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static void vit(Specs out, String p, VisionConfig v, int embedDim) {
    long w = v.width();
    double scale = Math.pow(w, -0.5);
    long patch = v.patchSize();
    long tokens = (long) v.grid() * v.grid() + 1;
    out.add(p + "class_embedding", Role.EMBEDDING, Init.normal(scale), w);
    out.add(p + "positional_embedding", Role.EMBEDDING, Init.normal(scale), tokens, w);
    out.add(p + "proj", Role.WEIGHT, Init.normal(scale), w, embedDim);
    out.add(p + "conv1.weight", Role.WEIGHT, Init.uniform(Math.pow(3 * patch * patch, -0.5)), w, 3, patch, patch);
    layerNorm(out, p + "ln_pre.", w);
    for (int i = 0; i < v.vitLayers(); i++) {
      // OpenAI leaves the ViT blocks at PyTorch's defaults (nn.MultiheadAttention, nn.Linear).
      block(out, p + "transformer.resblocks." + i + ".", w,
          Init.uniform(Math.sqrt(6.0 / (w + 3 * w))), Init.constant(0),
          Init.uniform(Math.pow(w, -0.5)), Init.constant(0),
          Init.uniform(Math.pow(w, -0.5)), Init.uniform(Math.pow(w, -0.5)),
          Init.uniform(Math.pow(MLP_RATIO * w, -0.5)), Init.uniform(Math.pow(MLP_RATIO * w, -0.5)));
    }
    layerNorm(out, p + "ln_post.", w);
  }

  private static void resNet(Specs out, String p, VisionConfig v, int embedDim) {
    long width = v.width();
    long half = width / 2;
    conv(out, p + "conv1.", half, 3, 3);
    batchNorm(out, p + "bn1.", half, 1);
    conv(out, p + "conv2.", half, half, 3);
    batchNorm(out, p + "bn2.", half, 1);
    conv(out, p + "conv3.", width, half, 3);
    batchNorm(out, p + "bn3.", width, 1);
    long inplanes = width;
    for (int stage = 0; stage < 4; stage++) {
      long planes = width << stage;
      int stride = stage == 0 ? 1 : 2;
      for (int b = 0; b < v.layers().get(stage); b++) {
        String q = p + "layer" + (stage + 1) + "." + b + ".";
        conv(out, q + "conv1.", planes, inplanes, 1);
        batchNorm(out, q + "bn1.", planes, 1);
        conv(out, q + "conv2.", planes, planes, 3);
        batchNorm(out, q + "bn2.", planes, 1);
        conv(out, q + "conv3.", planes * BOTTLENECK_EXPANSION, planes, 1);
        // OpenAI zero-initialises the last BatchNorm gain of every bottleneck.
        batchNorm(out, q + "bn3.", planes * BOTTLENECK_EXPANSION, 0);
        if ((b == 0 && stride > 1) || inplanes != planes * BOTTLENECK_EXPANSION) {
          conv(out, q + "downsample.0.", planes * BOTTLENECK_EXPANSION, inplanes, 1);
          batchNorm(out, q + "downsample.1.", planes * BOTTLENECK_EXPANSION, 1);
        }
        inplanes = planes * BOTTLENECK_EXPANSION;
      }
    }
    long pooled = width * VisionConfig.RESNET_REDUCTION;
    long spatial = v.imageSize() / VisionConfig.RESNET_REDUCTION;
    Init std = Init.normal(Math.pow(pooled, -0.5));
    Init bias = Init.uniform(Math.pow(pooled, -0.5));
    String a = p + "attnpool.";
    out.add(a + "positional_embedding", Role.EMBEDDING, std, spatial * spatial + 1, pooled);
    for (String proj : new String[] {"k_proj", "q_proj", "v_proj"}) {
      out.add(a + proj + ".weight", Role.WEIGHT, std, pooled, pooled);
      out.add(a + proj + ".bias", Role.BIAS, bias, pooled);
    }
    out.add(a + "c_proj.weight", Role.WEIGHT, std, embedDim, pooled);
    out.add(a + "c_proj.bias", Role.BIAS, bias, embedDim);
  }

  /** A residual attention block: {@code x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))}. */
  private static void block(Specs out, String p, long w, Init inProj, Init inBias, Init outProj, Init outBias,
      Init fc, Init fcBias, Init proj, Init projBias) {
    out.add(p + "attn.in_proj_weight", Role.WEIGHT, inProj, 3 * w, w);
    out.add(p + "attn.in_proj_bias", Role.BIAS, inBias, 3 * w);
    out.add(p + "attn.out_proj.weight", Role.WEIGHT, outProj, w, w);
    out.add(p + "attn.out_proj.bias", Role.BIAS, outBias, w);
    layerNorm(out, p + "ln_1.", w);
    out.add(p + "mlp.c_fc.weight", Role.WEIGHT, fc, MLP_RATIO * w, w);
    out.add(p + "mlp.c_fc.bias", Role.BIAS, fcBias, MLP_RATIO * w);
    out.add(p + "mlp.c_proj.weight", Role.WEIGHT, proj, w, MLP_RATIO * w);
    out.add(p + "mlp.c_proj.bias", Role.BIAS, projBias, w);
    layerNorm(out, p + "ln_2.", w);
  }

  private static void layerNorm(Specs out, String p, long w) {
    out.add(p + "weight", Role.GAIN, Init.constant(1), w);
    out.add(p + "bias", Role.BIAS, Init.constant(0), w);
  }

  private static void batchNorm(Specs out, String p, long channels, double gain) {
    out.add(p + "weight", Role.GAIN, Init.constant(gain), channels);
    out.add(p + "bias", Role.BIAS, Init.constant(0), channels);
    out.buffers.add(new BufferSpec(p + "running_mean", new long[] {channels}, false, 0));
    out.buffers.add(new BufferSpec(p + "running_var", new long[] {channels}, false, 1));
    out.buffers.add(new BufferSpec(p + "num_batches_tracked", new long[0], true, 0));
  }

  /** A bias-free convolution with PyTorch's default (Kaiming-uniform, a = sqrt 5) initialisation. */
  private static void conv(Specs out, String p, long outChannels, long inChannels, long kernel) {
    out.add(p + "weight", Role.WEIGHT, Init.uniform(Math.pow(inChannels * kernel * kernel, -0.5)),
        outChannels, inChannels, kernel, kernel);
  }

  /**
   * One buffer of a CLIP model: state saved with the parameters but not trained by gradients (PyTorch's
   * {@code register_buffer}), here the BatchNorm running statistics.
   *
   * @param name    OpenAI's {@code state_dict} name, e.g. {@code visual.bn1.running_mean}
   * @param shape   PyTorch's shape ({@code []} for a scalar)
   * @param counter whether it is an INT64 counter ({@code num_batches_tracked}) rather than a tensor in
   *                the parameters' data type
   * @param value   the initial value of every element
   */
  public record BufferSpec(String name, long[] shape, boolean counter, double value) {

    /** Validates and copies the shape. */
    public BufferSpec {
      Objects.requireNonNull(name, "name");
      shape = shape.clone();
      for (long d : shape) {
        if (d < 1) {
          throw new IllegalArgumentException("Cannot create buffer " + name + " of shape " + Arrays.toString(shape)
              + ": every dimension must be at least 1");
        }
      }
    }

    @Override
    public long[] shape() {
      return shape.clone();
    }

    /** The data type of the buffer in a model whose parameters are {@code parameterType}. */
    public DataType dataType(DataType parameterType) {
      return counter ? DataType.LONG : parameterType;
    }

    /** A fresh tensor filled with {@link #value()}. */
    public INDArray allocate(DataType parameterType) {
      DataType type = dataType(parameterType);
      return shape.length == 0 ? Nd4j.scalar(type, value) : Nd4j.valueArrayOf(shape, value, type);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof BufferSpec b && name.equals(b.name) && Arrays.equals(shape, b.shape)
          && counter == b.counter && Double.compare(value, b.value) == 0;
    }

    @Override
    public int hashCode() {
      return Objects.hash(name, Arrays.hashCode(shape), counter, value);
    }

    @Override
    public String toString() {
      return name + Arrays.toString(shape) + (counter ? " INT64" : "") + " = " + value;
    }
  }

  private static final class Specs {
    final List<ParameterSpec> list = new ArrayList<>();
    final List<BufferSpec> buffers = new ArrayList<>();

    void add(String name, Role role, Init init, long... shape) {
      list.add(new ParameterSpec(name, shape, role, init));
    }
  }
}
