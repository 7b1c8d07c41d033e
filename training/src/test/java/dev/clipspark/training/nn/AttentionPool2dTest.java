package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class AttentionPool2dTest {

  /** Adds OpenAI's attention pooling tensors for {@code side x side} maps of {@code width} channels. */
  static void attentionPool(ParameterSet p, Random r, String prefix, long side, long width, long outputDim) {
    p.add(prefix + ".positional_embedding", normal(r, 0, 0.5, side * side + 1, width));
    for (String proj : new String[] {"k_proj", "q_proj", "v_proj"}) {
      NnFixtures.linear(p, r, prefix + "." + proj, width, width);
    }
    NnFixtures.linear(p, r, prefix + ".c_proj", outputDim, width);
  }

  /** OpenAI's AttentionPool2d.forward for image {@code b}, by loops. */
  private static double[] reference(ParameterSet p, String prefix, INDArray x, int b, int heads) {
    int c = (int) x.size(1);
    int hw = (int) (x.size(2) * x.size(3));
    double[][] tokens = new double[hw + 1][c];
    for (int ch = 0; ch < c; ch++) {
      for (int i = 0; i < x.size(2); i++) {
        for (int j = 0; j < x.size(3); j++) {
          double v = x.getDouble(b, ch, i, j);
          tokens[1 + i * (int) x.size(3) + j][ch] = v;
          tokens[0][ch] += v / hw;
        }
      }
    }
    double[][] pos = p.value(prefix + ".positional_embedding").toDoubleMatrix();
    tokens = NnFixtures.plus(tokens, pos);
    double[][] q = NnFixtures.linear(new double[][] {tokens[0]}, p.value(prefix + ".q_proj.weight").toDoubleMatrix(),
        p.value(prefix + ".q_proj.bias").toDoubleVector());
    double[][] k = NnFixtures.linear(tokens, p.value(prefix + ".k_proj.weight").toDoubleMatrix(),
        p.value(prefix + ".k_proj.bias").toDoubleVector());
    double[][] v = NnFixtures.linear(tokens, p.value(prefix + ".v_proj.weight").toDoubleMatrix(),
        p.value(prefix + ".v_proj.bias").toDoubleVector());
    int d = c / heads;
    double[] attended = new double[c];
    for (int h = 0; h < heads; h++) {
      double[] s = new double[hw + 1];
      double max = Double.NEGATIVE_INFINITY;
      for (int t = 0; t <= hw; t++) {
        for (int e = 0; e < d; e++) {
          s[t] += q[0][h * d + e] * k[t][h * d + e] / Math.sqrt(d);
        }
        max = Math.max(max, s[t]);
      }
      double sum = 0;
      for (int t = 0; t <= hw; t++) {
        s[t] = Math.exp(s[t] - max);
        sum += s[t];
      }
      for (int t = 0; t <= hw; t++) {
        for (int e = 0; e < d; e++) {
          attended[h * d + e] += s[t] / sum * v[t][h * d + e];
        }
      }
    }
    return NnFixtures.linear(new double[][] {attended}, p.value(prefix + ".c_proj.weight").toDoubleMatrix(),
        p.value(prefix + ".c_proj.bias").toDoubleVector())[0];
  }

  @Test
  void forwardMatchesOpenAisPoolingByLoops() {
    var r = new Random(1);
    var p = new ParameterSet();
    attentionPool(p, r, "pool", 3, 8, 5);
    var pool = new AttentionPool2d(p, "pool", 2);
    assertThat(pool.outputDim()).isEqualTo(5);
    INDArray x = normal(r, 0, 1, 3, 8, 3, 3);
    INDArray y = pool.forward(x);
    assertThat(y.shape()).containsExactly(3, 5);
    for (int b = 0; b < 3; b++) {
      assertThat(y.getRow(b).toDoubleVector()).containsExactly(reference(p, "pool", x, b, 2), within(1e-12));
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var r = new Random(2);
    var p = new ParameterSet();
    attentionPool(p, r, "pool", 2, 8, 6);
    var result = GradientCheck.check(new AttentionPool2d(p, "pool", 4), p, normal(r, 0, 1, 2, 8, 2, 2), 3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(2 * 8 * 4 + 5 * 8 + 3 * (8 * 8 + 8) + 6 * 8 + 6);
  }

  @Test
  void rejectsMismatchedShapes() {
    var r = new Random(3);
    var p = new ParameterSet();
    attentionPool(p, r, "pool", 2, 8, 6);
    assertThatThrownBy(() -> new AttentionPool2d(p, "pool", 3))
        .hasMessage("Cannot build attention pooling pool with 3 heads: must divide the width 8");
    var pool = new AttentionPool2d(p, "pool", 2);
    assertThatThrownBy(() -> pool.forward(normal(r, 0, 1, 1, 8, 3, 3)))
        .hasMessage("Cannot apply attention pooling pool to input of shape [1, 8, 3, 3]: expected [batch, 8, h, w]"
            + " with h w = 4");
    assertThatThrownBy(() -> pool.backward(normal(r, 0, 1, 1, 6)))
        .hasMessage("Cannot run backward through attention pooling pool: no forward pass");
  }
}
