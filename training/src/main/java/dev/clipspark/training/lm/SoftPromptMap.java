package dev.clipspark.training.lm;

import dev.clipspark.training.nn.Layer;
import dev.clipspark.training.nn.Linear;
import dev.clipspark.training.nn.ParameterSet;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * LiMBeR's linear map P (Merullo et al. 2023): an image encoding {@code h [B, d]} to {@code k} soft prompts in a
 * language model's input embedding space, {@code [B, k, e]}:
 * <pre>
 *   prompts[b] = reshape(h[b] W^T + bias, [k, e])      W [k e, d], bias [k e]  (PyTorch's nn.Linear layout)
 * </pre>
 * For a grid encoder ({@link #grid}: a ViT's patch tokens, a ResNet's feature map) P maps each of the {@code k}
 * positions with one shared linear map, as the paper does for its grid encoders:
 * <pre>
 *   prompts[b, j] = h[b, j] W^T + bias                 h [B, k, c], W [e, c], bias [e]
 * </pre>
 * Parameters {@value #WEIGHT} and {@value #BIAS} live in their own {@link ParameterSet}, apart from the frozen
 * language model's, so an optimiser over that set trains P alone.
 */
public final class SoftPromptMap implements Layer {

  /** Name of P's weight, {@code [k * e, d]}. */
  public static final String WEIGHT = "proj.weight";
  /** Name of P's bias, {@code [k * e]}. */
  public static final String BIAS = "proj.bias";

  private final ParameterSet params;
  private final Linear proj;
  private final int prompts;
  private final long width;
  private final boolean grid;

  /**
   * P over existing parameters.
   *
   * @param prompts k, the number of soft prompts; must divide the weight's rows
   */
  public SoftPromptMap(ParameterSet params, int prompts) {
    this.params = params;
    this.proj = new Linear(params, WEIGHT, BIAS);
    if (prompts < 1 || proj.outFeatures() % prompts != 0) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot split %s of %d rows into %d soft"
          + " prompts: k must be at least 1 and divide the rows", WEIGHT, proj.outFeatures(), prompts));
    }
    this.prompts = prompts;
    this.width = proj.outFeatures() / prompts;
    this.grid = false;
  }

  private SoftPromptMap(ParameterSet params, int positions, boolean grid) {
    this.params = params;
    this.proj = new Linear(params, WEIGHT, BIAS);
    if (positions < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot map a grid of %d positions to soft"
          + " prompts: must be at least 1", positions));
    }
    this.prompts = positions;
    this.width = proj.outFeatures();
    this.grid = grid;
  }

  /**
   * P for a grid of {@code positions} tokens over existing parameters: weight {@code [e, c]}, bias {@code [e]},
   * shared by every position; k is the number of positions.
   */
  public static SoftPromptMap grid(ParameterSet params, int positions) {
    return new SoftPromptMap(params, positions, true);
  }

  /**
   * Fresh parameters of a grid map ({@link #grid}): weight N(0, c^-1/2) from {@code seed}, bias 0.
   *
   * @param channels c, the width of each grid token
   * @param lmWidth  e, the language model's embedding width
   */
  public static ParameterSet initializeGrid(int channels, int lmWidth, long seed, DataType dataType) {
    return initialize(channels, 1, lmWidth, seed, dataType);
  }

  /**
   * Fresh parameters: weight N(0, d^-1/2) (PyTorch's default scale for a linear layer's fan-in) from {@code seed},
   * bias 0.
   *
   * @param inputWidth d, the image encoding's width
   * @param prompts    k
   * @param lmWidth    e, the language model's embedding width
   */
  public static ParameterSet initialize(int inputWidth, int prompts, int lmWidth, long seed, DataType dataType) {
    if (inputWidth < 1 || prompts < 1 || lmWidth < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot build a soft-prompt map from width %d"
          + " to %d prompts of width %d: all must be at least 1", inputWidth, prompts, lmWidth));
    }
    var random = new Random(seed);
    int rows = Math.multiplyExact(prompts, lmWidth);
    double[] w = new double[Math.multiplyExact(rows, inputWidth)];
    double std = 1 / Math.sqrt(inputWidth);
    for (int i = 0; i < w.length; i++) {
      w[i] = random.nextGaussian() * std;
    }
    return new ParameterSet()
        .add(WEIGHT, Nd4j.createFromArray(w).reshape('c', rows, inputWidth).castTo(dataType))
        .add(BIAS, Nd4j.zeros(dataType, rows));
  }

  /** Whether P maps a grid of positions ({@link #grid}) rather than one pooled encoding. */
  public boolean isGrid() {
    return grid;
  }

  /** Width of the image encoding P reads: d (pooled) or c (grid). */
  public long inputWidth() {
    return proj.inFeatures();
  }

  /** k. */
  public int prompts() {
    return prompts;
  }

  /** e. */
  public long width() {
    return width;
  }

  /** The parameters of P. */
  public ParameterSet parameters() {
    return params;
  }

  /** {@code [B, d]} (pooled) or {@code [B, k, c]} (grid) to {@code [B, k, e]}. */
  @Override
  public INDArray forward(INDArray features) {
    if (grid) {
      if (features.rank() != 3 || features.size(1) != prompts || features.size(2) != proj.inFeatures()) {
        throw new IllegalArgumentException(String.format("Cannot map image grids of shape %s: expected [batch, %d, %d]",
            Arrays.toString(features.shape()), prompts, proj.inFeatures()));
      }
      return proj.forward(features);
    }
    if (features.rank() != 2) {
      throw new IllegalArgumentException(String.format("Cannot map image encodings of shape %s: expected [batch, %d]",
          Arrays.toString(features.shape()), proj.inFeatures()));
    }
    return proj.forward(features).reshape('c', features.size(0), prompts, width);
  }

  /** dLoss/dprompts {@code [B, k, e]} to dLoss/dfeatures ({@code [B, d]} or {@code [B, k, c]}); accumulates P's gradients. */
  @Override
  public INDArray backward(INDArray gradOutput) {
    if (grid) {
      return proj.backward(gradOutput.dup('c'));
    }
    return proj.backward(gradOutput.dup('c').reshape('c', gradOutput.size(0), (long) prompts * width));
  }
}
