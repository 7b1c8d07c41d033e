package dev.clipspark.training.model;

import dev.clipspark.training.nn.Layer;
import dev.clipspark.training.nn.ModifiedResNet;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.nn.TextTransformer;
import dev.clipspark.training.nn.VisionTransformer;
import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A CLIP model: an image tower, a text tower and the learned logit scale over one {@link ParameterSet}
 * with OpenAI's {@code state_dict} names (see {@link ClipParameters}). It only composes: the towers live in
 * {@code dev.clipspark.training.nn}, the loss in {@link ContrastiveLoss}.
 *
 * <p>Each {@code encode} keeps its tower's activations for one matching {@code backward}, which adds the
 * tower's parameter gradients into the set's accumulators. Features are returned un-normalised, as
 * OpenAI's {@code encode_image}/{@code encode_text} do; the loss normalises them.
 */
public final class ClipModel {

  /** Name of the scalar log logit scale. */
  public static final String LOGIT_SCALE = "logit_scale";
  /** Upper bound of the stored log-scale, ln 100, as open_clip clamps it. */
  public static final double LOGIT_SCALE_MAX = Math.log(100);
  /** Prefix of every image-tower parameter and buffer name ({@code visual.}). */
  public static final String IMAGE_TOWER_PREFIX = "visual.";

  /**
   * What one {@link #forwardBackward} step measured.
   *
   * @param loss                the contrastive loss of the batch
   * @param imageToTextAccuracy fraction of images whose most similar text in the batch is their own
   */
  public record Step(double loss, double imageToTextAccuracy) {}

  private final ModelConfig config;
  private final ParameterSet params;
  private final Layer imageTower;
  private final TextTransformer textTower;
  private boolean imageLocked;

  private ClipModel(ModelConfig config, ParameterSet params, Layer imageTower, TextTransformer textTower) {
    this.config = config;
    this.params = params;
    this.imageTower = imageTower;
    this.textTower = textTower;
  }

  /**
   * Builds the model over existing parameters, e.g. from {@link ClipParameters#initialize}.
   *
   * @throws IllegalArgumentException if a parameter the config needs is missing or mis-shaped
   * @throws UnsupportedOperationException for a ResNet image tower (not wired yet)
   */
  public static ClipModel create(ModelConfig config, ParameterSet params) {
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(params, "params");
    params.value(LOGIT_SCALE, new long[0]);
    return new ClipModel(config, params, imageTower(config, params), new TextTransformer(params, config.text(),
        config.embedDim()));
  }

  /** The image tower of {@code config} over the {@code visual.*} parameters. */
  private static Layer imageTower(ModelConfig config, ParameterSet params) {
    VisionConfig vision = config.vision();
    if (vision.isResNet()) {
      return new ModifiedResNet(params, "visual", vision, config.embedDim());
    }
    return new VisionTransformer(params, "visual", vision, config.embedDim());
  }

  /** The architecture. */
  public ModelConfig config() {
    return config;
  }

  /** The parameters and their gradient accumulators (the live set). */
  public ParameterSet parameters() {
    return params;
  }

  /**
   * Training (the default) or evaluation behaviour of layers that differ, i.e. BatchNorm in a ResNet. A locked
   * image tower stays in evaluation mode.
   */
  public void setTraining(boolean training) {
    imageTower.setTraining(training && !imageLocked);
    textTower.setTraining(training);
  }

  /**
   * Locks the image tower for locked-image tuning (LiT, Zhai et al. 2022): from now on it runs in evaluation mode
   * (a ResNet's BatchNorm normalises with its running statistics and no longer updates them), and
   * {@link #backwardImage} is refused, so its parameters receive no gradient. The optimiser is the caller's to
   * restrict (see {@link #isImageTower}).
   */
  public void lockImage() {
    imageLocked = true;
    imageTower.setTraining(false);
  }

  /** Whether {@link #lockImage} was called. */
  public boolean imageLocked() {
    return imageLocked;
  }

  /** Whether the parameter or buffer {@code name} belongs to the image tower. */
  public static boolean isImageTower(String name) {
    return name.startsWith(IMAGE_TOWER_PREFIX);
  }

  /**
   * Image features, un-normalised; keeps the activations for one {@link #backwardImage}.
   *
   * @param images {@code [B, 3, S, S]} (NCHW) in the parameters' data type
   * @return {@code [B, embed_dim]}
   */
  public INDArray encodeImage(INDArray images) {
    return imageTower.forward(images);
  }

  /**
   * The image tower's grid of position features, for inference (LiMBeR's {@code limber.features = grid}): a ViT's
   * patch tokens after the last block and {@code ln_post}, before the class token is taken and projected
   * ({@link VisionTransformer#forwardGrid}); a ResNet's feature map before attention pooling
   * ({@link ModifiedResNet#forwardGrid}). Call {@link #setTraining setTraining(false)} first for a ResNet.
   *
   * @param images {@code [B, 3, S, S]} (NCHW) in the parameters' data type
   * @return {@code [B, gridPositions(), gridWidth()]}
   */
  public INDArray encodeImageGrid(INDArray images) {
    return imageTower instanceof VisionTransformer vit ? vit.forwardGrid(images)
        : ((ModifiedResNet) imageTower).forwardGrid(images);
  }

  /** Positions of {@link #encodeImageGrid}: a ViT's {@code g*g} patches, a ResNet's {@code (S/32)^2} cells. */
  public int gridPositions() {
    return imageTower instanceof VisionTransformer vit ? vit.gridPositions()
        : ((ModifiedResNet) imageTower).gridPositions();
  }

  /** Width of {@link #encodeImageGrid}'s tokens: a ViT's {@code width}, a ResNet's {@code 32 * width}. */
  public long gridWidth() {
    return imageTower instanceof VisionTransformer vit ? vit.gridWidth() : ((ModifiedResNet) imageTower).gridWidth();
  }

  /**
   * Adds the image tower's parameter gradients for dloss/d(features) of the last {@link #encodeImage}.
   *
   * @throws IllegalStateException when the image tower is locked
   */
  public void backwardImage(INDArray gradFeatures) {
    if (imageLocked) {
      throw new IllegalStateException("Cannot backpropagate through the image tower of " + config.name()
          + ": it is locked (train.lock-image)");
    }
    imageTower.backward(gradFeatures);
  }

  /**
   * Text features, un-normalised, taken at each row's end-of-text (largest) id; keeps the activations for
   * one {@link #backwardText}.
   *
   * @param tokens INT or LONG ids {@code [B, t]}, {@code t <= context_length}
   * @return {@code [B, embed_dim]}
   */
  public INDArray encodeText(INDArray tokens) {
    return textTower.forward(tokens);
  }

  /** Adds the text tower's parameter gradients for dloss/d(features) of the last {@link #encodeText}. */
  public void backwardText(INDArray gradFeatures) {
    textTower.backward(gradFeatures);
  }

  /** The stored log of the logit scale (the logits are multiplied by its exponential). */
  public double logitScale() {
    return params.value(LOGIT_SCALE).getDouble(0);
  }

  /** Clamps the stored log-scale to {@code [0, ln 100]}, as open_clip does after each optimiser step. */
  public void clampLogitScale() {
    INDArray scale = params.value(LOGIT_SCALE);
    scale.assign(Math.min(Math.max(scale.getDouble(0), 0.0), LOGIT_SCALE_MAX));
  }

  /**
   * One dense step on a batch of matching pairs: encodes both, computes the {@link ContrastiveLoss} and runs
   * both backward passes (the text tower's alone when the image tower is locked), adding every gradient (the
   * logit scale's included) into the accumulators.
   *
   * @param images {@code [N, 3, S, S]}
   * @param tokens {@code [N, t]}; row i describes image i
   */
  public Step forwardBackward(INDArray images, INDArray tokens) {
    if (images.size(0) != tokens.size(0)) {
      throw new IllegalArgumentException(String.format(
          "Cannot train on %d images and %d texts: every image needs exactly one text", images.size(0), tokens.size(0)));
    }
    INDArray imageFeatures = encodeImage(images);
    INDArray textFeatures = encodeText(tokens);
    ContrastiveLoss.Result result = ContrastiveLoss.compute(imageFeatures, textFeatures, logitScale());
    if (!imageLocked) {
      backwardImage(result.gradImage());
    }
    backwardText(result.gradText());
    INDArray scaleGradient = params.gradient(LOGIT_SCALE);
    scaleGradient.assign(scaleGradient.getDouble(0) + result.gradLogitScaleLog());
    return new Step(result.loss(), result.imageToTextAccuracy());
  }
}
