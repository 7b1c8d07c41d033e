package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class LayerNormTest {

  @Test
  void forwardNormalisesTheLastDimension() {
    var r = new Random(1);
    var p = new ParameterSet();
    NnFixtures.layerNorm(p, r, "ln", 6);
    INDArray x = normal(r, 2, 3, 2, 3, 6);
    INDArray y = new LayerNorm(p, "ln").forward(x);
    assertThat(y.shape()).containsExactly(2, 3, 6);
    for (int b = 0; b < 2; b++) {
      double[][] expected = NnFixtures.layerNorm(NnFixtures.sequence(x, b), p.value("ln.weight").toDoubleVector(),
          p.value("ln.bias").toDoubleVector(), LayerNorm.EPS_DEFAULT);
      NnFixtures.assertSequence(y, b, expected, 1e-12);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var r = new Random(2);
    var p = new ParameterSet();
    NnFixtures.layerNorm(p, r, "ln", 6);
    var result = GradientCheck.check(new LayerNorm(p, "ln"), p, normal(r, 0.5, 2, 2, 3, 6), 3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(36 + 12);
  }
}
