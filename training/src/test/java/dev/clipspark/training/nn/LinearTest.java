package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class LinearTest {

  @Test
  void forwardIsXTimesWeightTransposedPlusBias() {
    var r = new Random(1);
    var p = new ParameterSet();
    NnFixtures.linear(p, r, "fc", 4, 5);
    INDArray x = normal(r, 0, 1, 2, 3, 5);
    INDArray y = Linear.of(p, "fc").forward(x);
    assertThat(y.shape()).containsExactly(2, 3, 4);
    for (int b = 0; b < 2; b++) {
      double[][] expected = NnFixtures.linear(NnFixtures.sequence(x, b), p.value("fc.weight").toDoubleMatrix(),
          p.value("fc.bias").toDoubleVector());
      NnFixtures.assertSequence(y, b, expected, 1e-12);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var r = new Random(2);
    var p = new ParameterSet();
    NnFixtures.linear(p, r, "fc", 4, 5);
    var result = GradientCheck.check(Linear.of(p, "fc"), p, normal(r, 0, 1, 2, 3, 5), 3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(30 + 20 + 4);
  }

  @Test
  void worksWithoutBiasAndOnNonContiguousInput() {
    var r = new Random(3);
    var p = new ParameterSet().add("w", normal(r, 0, 1, 3, 4));
    var layer = new Linear(p, "w", null);
    INDArray x = normal(r, 0, 1, 4, 6).transpose(); // [6, 4], F-ordered view
    INDArray y = layer.forward(x);
    double[][] expected = NnFixtures.linear(x.toDoubleMatrix(), p.value("w").toDoubleMatrix(), null);
    for (int i = 0; i < 6; i++) {
      for (int o = 0; o < 3; o++) {
        assertThat(y.getDouble(i, o)).isCloseTo(expected[i][o], within(1e-12));
      }
    }
    GradientCheck.check(layer, p, x.dup('c'), 4, 1e-6, 1e-9);
  }

  @Test
  void gradientsAccumulateAcrossBackwardPasses() {
    var r = new Random(4);
    var p = new ParameterSet();
    NnFixtures.linear(p, r, "fc", 3, 2);
    var layer = Linear.of(p, "fc");
    INDArray x = normal(r, 0, 1, 5, 2);
    INDArray dy = normal(r, 0, 1, 5, 3);
    layer.forward(x);
    layer.backward(dy);
    INDArray once = p.gradient("fc.weight").dup();
    INDArray onceBias = p.gradient("fc.bias").dup();
    layer.forward(x);
    layer.backward(dy);
    assertThat(p.gradient("fc.weight").equalsWithEps(once.mul(2), 1e-12)).isTrue();
    assertThat(p.gradient("fc.bias").equalsWithEps(onceBias.mul(2), 1e-12)).isTrue();
    // dW = dy^T x, db = column sums of dy, computed here by hand.
    double[][] xs = x.toDoubleMatrix();
    double[][] dys = dy.toDoubleMatrix();
    for (int o = 0; o < 3; o++) {
      double bias = 0;
      for (int i = 0; i < 5; i++) {
        bias += dys[i][o];
      }
      assertThat(onceBias.getDouble(o)).isCloseTo(bias, within(1e-12));
      for (int k = 0; k < 2; k++) {
        double s = 0;
        for (int i = 0; i < 5; i++) {
          s += dys[i][o] * xs[i][k];
        }
        assertThat(once.getDouble(o, k)).isCloseTo(s, within(1e-12));
      }
    }
    p.zeroGradients();
    assertThat(p.gradient("fc.weight").amaxNumber().doubleValue()).isZero();
  }

  @Test
  void runsInFloat() {
    var r = new Random(5);
    var p = new ParameterSet();
    p.add("fc.weight", normal(r, 0, 1, 3, 2).castTo(DataType.FLOAT));
    p.add("fc.bias", normal(r, 0, 1, 3).castTo(DataType.FLOAT));
    INDArray x = normal(r, 0, 1, 4, 2);
    var layer = Linear.of(p, "fc");
    INDArray y = layer.forward(x.castTo(DataType.FLOAT));
    assertThat(y.dataType()).isEqualTo(DataType.FLOAT);
    double[][] expected = NnFixtures.linear(x.castTo(DataType.FLOAT).castTo(DataType.DOUBLE).toDoubleMatrix(),
        p.value("fc.weight").castTo(DataType.DOUBLE).toDoubleMatrix(), p.value("fc.bias").castTo(DataType.DOUBLE).toDoubleVector());
    for (int i = 0; i < 4; i++) {
      for (int o = 0; o < 3; o++) {
        assertThat(y.getDouble(i, o)).isCloseTo(expected[i][o], within(1e-5));
      }
    }
    assertThat(layer.backward(y.like().assign(1)).dataType()).isEqualTo(DataType.FLOAT);
  }

  @Test
  void rejectsMismatchedShapesAndBackwardWithoutForward() {
    var p = new ParameterSet();
    NnFixtures.linear(p, new Random(6), "fc", 3, 2);
    var layer = Linear.of(p, "fc");
    assertThatThrownBy(() -> layer.backward(normal(new Random(7), 0, 1, 4, 3)))
        .hasMessage("Cannot run backward through fc.weight: no forward pass");
    assertThatThrownBy(() -> layer.forward(normal(new Random(7), 0, 1, 4, 5)))
        .hasMessage("Cannot apply fc.weight to input of shape [4, 5]: last dimension must be 2");
    assertThatThrownBy(() -> Linear.of(p, "nope")).hasMessage("Cannot find parameter nope.weight: not among the 2 parameters of this set");
    assertThatThrownBy(() -> p.add("fc.bias", normal(new Random(8), 0, 1, 3)))
        .hasMessage("Cannot add parameter fc.bias: the name is taken");
  }

  @Test
  void conv1DIsXTimesWeightPlusBiasWithWeightInFeaturesByOutFeatures() {
    var r = new Random(5);
    var p = new ParameterSet();
    p.add("c.weight", normal(r, 0, 0.5, 5, 4));
    p.add("c.bias", normal(r, 0, 0.3, 4));
    Linear conv = Linear.conv1D(p, "c");
    assertThat(conv.inFeatures()).isEqualTo(5);
    assertThat(conv.outFeatures()).isEqualTo(4);
    INDArray x = normal(r, 0, 1, 2, 3, 5);
    INDArray y = conv.forward(x);
    assertThat(y.shape()).containsExactly(2, 3, 4);
    double[][] transposed = p.value("c.weight").transpose().toDoubleMatrix();
    for (int b = 0; b < 2; b++) {
      NnFixtures.assertSequence(y, b, NnFixtures.linear(NnFixtures.sequence(x, b), transposed,
          p.value("c.bias").toDoubleVector()), 1e-12);
    }
    var result = GradientCheck.check(Linear.conv1D(p, "c"), p, normal(r, 0, 1, 2, 3, 5), 6, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(30 + 20 + 4);
  }

  @Test
  void conv1DRejectsABiasOfTheInputWidth() {
    var p = new ParameterSet().add("c.weight", normal(new Random(6), 0, 1, 5, 4)).add("c.bias", normal(new Random(7), 0, 1, 5));
    assertThatThrownBy(() -> Linear.conv1D(p, "c")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("c.bias").hasMessageContaining("[4]");
  }
}
