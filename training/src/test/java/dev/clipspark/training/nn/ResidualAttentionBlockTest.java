package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;

class ResidualAttentionBlockTest {

  private static final int WIDTH = 4;
  private static final int HEADS = 2;

  private static ParameterSet block(Random r) {
    var p = new ParameterSet();
    NnFixtures.attention(p, r, "b.attn", WIDTH);
    NnFixtures.layerNorm(p, r, "b.ln_1", WIDTH);
    NnFixtures.linear(p, r, "b.mlp.c_fc", 4 * WIDTH, WIDTH);
    NnFixtures.linear(p, r, "b.mlp.c_proj", WIDTH, 4 * WIDTH);
    NnFixtures.layerNorm(p, r, "b.ln_2", WIDTH);
    return p;
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void forwardIsPreNormAttentionThenMlpWithResiduals(boolean causal) {
    var r = new Random(1);
    ParameterSet p = block(r);
    INDArray x = normal(r, 0, 1, 2, 3, WIDTH);
    INDArray y = new ResidualAttentionBlock(p, "b", HEADS, causal).forward(x);
    for (int b = 0; b < 2; b++) {
      double[][] s = NnFixtures.sequence(x, b);
      double[][] h = NnFixtures.plus(s, NnFixtures.attention(ln(s, p, "b.ln_1"), p, "b.attn", HEADS, causal));
      double[][] hidden = NnFixtures.linear(ln(h, p, "b.ln_2"), p.value("b.mlp.c_fc.weight").toDoubleMatrix(),
          p.value("b.mlp.c_fc.bias").toDoubleVector());
      for (double[] row : hidden) {
        for (int j = 0; j < row.length; j++) {
          row[j] = NnFixtures.quickGelu(row[j]);
        }
      }
      double[][] out = NnFixtures.plus(h, NnFixtures.linear(hidden, p.value("b.mlp.c_proj.weight").toDoubleMatrix(),
          p.value("b.mlp.c_proj.bias").toDoubleVector()));
      NnFixtures.assertSequence(y, b, out, 1e-12);
    }
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void gradientsMatchFiniteDifferences(boolean causal) {
    var r = new Random(2);
    ParameterSet p = block(r);
    var result = GradientCheck.check(new ResidualAttentionBlock(p, "b", HEADS, causal), p, normal(r, 0, 1, 2, 3, WIDTH),
        3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(24 + p.elementCount());
  }

  private static double[][] ln(double[][] x, ParameterSet p, String prefix) {
    return NnFixtures.layerNorm(x, p.value(prefix + ".weight").toDoubleVector(), p.value(prefix + ".bias").toDoubleVector(),
        LayerNorm.EPS_DEFAULT);
  }
}
