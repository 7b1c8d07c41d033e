package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class VisionTransformerTest {

  private static final int IMAGE = 8;
  private static final int PATCH = 4;
  private static final int WIDTH = 16;
  private static final int EMBED = 8;
  private static final VisionConfig VIT = VisionConfig.vit(IMAGE, 2, WIDTH, PATCH, 8);

  /** The visual.* parameters of a tiny CLIP, jittered so that no gain is exactly 1 nor any bias 0. */
  static ParameterSet visualParameters(long seed) {
    var config = new ModelConfig("tiny", EMBED, VIT, new TextConfig(6, 20, WIDTH, 2, 2));
    ParameterSet all = ClipParameters.initialize(config, seed, DataType.DOUBLE);
    var r = new Random(seed);
    var p = new ParameterSet();
    for (String name : all.names()) {
      if (name.startsWith("visual.")) {
        INDArray v = all.value(name);
        p.add(name, v.addi(normal(r, 0, 0.1, v.shape())));
      }
    }
    return p;
  }

  @Test
  void forwardMatchesPlainLoops() {
    ParameterSet p = visualParameters(1);
    INDArray images = normal(new Random(2), 0, 1, 2, 3, IMAGE, IMAGE);
    var vit = new VisionTransformer(p, "visual", VIT, EMBED);
    INDArray out = vit.forward(images);
    assertThat(out.shape()).containsExactly(2, EMBED);
    INDArray gridOut = vit.forwardGrid(images);
    assertThat(gridOut.shape()).containsExactly(2, vit.gridPositions(), WIDTH);
    assertThat(vit.gridWidth()).isEqualTo(WIDTH);
    assertThatThrownBy(() -> vit.backward(out)).hasMessage("Cannot run backward through visual: no forward pass");
    double[][] kernel = p.value("visual.conv1.weight").reshape('c', WIDTH, 3 * PATCH * PATCH).toDoubleMatrix();
    double[] cls = p.value("visual.class_embedding").toDoubleVector();
    double[][] pos = p.value("visual.positional_embedding").toDoubleMatrix();
    int grid = IMAGE / PATCH;
    for (int b = 0; b < 2; b++) {
      double[][] x = new double[grid * grid + 1][];
      x[0] = cls.clone();
      for (int gy = 0; gy < grid; gy++) {
        for (int gx = 0; gx < grid; gx++) {
          // The convolution at this patch, written out.
          double[] token = new double[WIDTH];
          for (int o = 0; o < WIDTH; o++) {
            for (int c = 0; c < 3; c++) {
              for (int dy = 0; dy < PATCH; dy++) {
                for (int dx = 0; dx < PATCH; dx++) {
                  token[o] += kernel[o][(c * PATCH + dy) * PATCH + dx]
                      * images.getDouble(b, c, gy * PATCH + dy, gx * PATCH + dx);
                }
              }
            }
          }
          x[1 + gy * grid + gx] = token;
        }
      }
      x = NnFixtures.plus(x, pos);
      x = NnFixtures.layerNorm(x, p, "visual.ln_pre");
      for (int i = 0; i < 2; i++) {
        x = NnFixtures.residualBlock(x, p, "visual.transformer.resblocks." + i, WIDTH / 8, false);
      }
      double[][] pooled = NnFixtures.layerNorm(new double[][] {x[0]}, p, "visual.ln_post");
      double[] expected = NnFixtures.times(pooled, p.value("visual.proj").toDoubleMatrix())[0];
      for (int j = 0; j < EMBED; j++) {
        assertThat(out.getDouble(b, j)).as("[%d][%d]", b, j).isCloseTo(expected[j], within(1e-12));
      }
      // The grid (LiMBeR's grid features): every patch token through ln_post, no proj, the class token dropped.
      double[][] cells = NnFixtures.layerNorm(java.util.Arrays.copyOfRange(x, 1, x.length), p, "visual.ln_post");
      for (int c = 0; c < grid * grid; c++) {
        for (int j = 0; j < WIDTH; j++) {
          assertThat(gridOut.getDouble(b, c, j)).as("grid [%d][%d][%d]", b, c, j).isCloseTo(cells[c][j],
              within(1e-12));
        }
      }
    }
    // The grid forward leaves the pooled output as it was.
    assertThat(vit.forward(images)).isEqualTo(out);
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    ParameterSet p = visualParameters(3);
    // Every tensor, up to 24 elements of each (the blocks are checked in full by their own test).
    var result = GradientCheck.checkSampled(new VisionTransformer(p, "visual", VIT, EMBED), p,
        normal(new Random(4), 0, 1, 2, 3, IMAGE, IMAGE), 24, 5, 1e-6, 1e-8);
    long expected = 24 + p.names().stream().mapToLong(n -> Math.min(24, p.value(n).length())).sum();
    assertThat(result.checked()).isEqualTo(expected);
  }

  @Test
  void acceptsANonContiguousBatch() {
    ParameterSet p = visualParameters(5);
    var vit = new VisionTransformer(p, "visual", VIT, EMBED);
    INDArray images = normal(new Random(6), 0, 1, 3, IMAGE, IMAGE, 4);
    INDArray nchw = images.permute(3, 0, 1, 2);
    assertThat(vit.forward(nchw)).isEqualTo(vit.forward(nchw.dup('c')));
  }

  @Test
  void rejectsImagesOfTheWrongSizeAndResNetConfigs() {
    ParameterSet p = visualParameters(7);
    var vit = new VisionTransformer(p, "visual", VIT, EMBED);
    assertThatThrownBy(() -> vit.forward(Nd4j.zeros(DataType.DOUBLE, 2, 3, 16, 16)))
        .hasMessage("Cannot encode images of shape [2, 3, 16, 16] with visual: expected [batch, 3, 8, 8]");
    assertThatThrownBy(() -> vit.forward(Nd4j.zeros(DataType.FLOAT, 2, 3, IMAGE, IMAGE)))
        .hasMessage("Cannot encode FLOAT images with visual: the parameters are DOUBLE");
    assertThatThrownBy(() -> vit.backward(Nd4j.zeros(DataType.DOUBLE, 2, EMBED)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Cannot run backward through visual: no forward pass");
    assertThatThrownBy(() -> new VisionTransformer(p, "visual", VisionConfig.resNet(64, List.of(1, 1, 1, 1), 8, 8), EMBED))
        .hasMessage("Cannot build a VisionTransformer at visual: the vision config is a ResNet (vision.layers = [1, 1, 1, 1])");
  }
}
