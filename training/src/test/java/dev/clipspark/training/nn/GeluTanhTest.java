package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class GeluTanhTest {

  /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written out here. */
  private static double reference(double x) {
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  }

  @Test
  void forwardIsTheTanhApproximationOfGelu() {
    INDArray x = normal(new Random(1), 0, 3, 2, 3, 4);
    INDArray y = new GeluTanh().forward(x);
    for (long i = 0; i < x.length(); i++) {
      assertThat(y.getDouble(i)).isCloseTo(reference(x.getDouble(i)), within(1e-14));
    }
    // PyTorch 1.13: gelu([1, -1, 2], approximate="tanh") = [0.8411919906, -0.1588080094, 1.9545976941]
    INDArray v = new GeluTanh().forward(Nd4j.createFromArray(0.0, 1.0, -1.0, 2.0));
    assertThat(v.getDouble(0)).isZero();
    assertThat(v.getDouble(1)).isCloseTo(0.8411919906, within(1e-10));
    assertThat(v.getDouble(2)).isCloseTo(-0.1588080094, within(1e-10));
    assertThat(v.getDouble(3)).isCloseTo(1.9545976941, within(1e-10));
    assertThat(GeluTanh.apply(1.0)).isCloseTo(0.8411919906, within(1e-10));
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var result = GradientCheck.check(new GeluTanh(), new ParameterSet(), normal(new Random(2), 0, 2, 2, 3, 4), 3, 1e-6,
        1e-9);
    assertThat(result.checked()).isEqualTo(24);
  }

  @Test
  void backwardWithoutForwardFails() {
    assertThatThrownBy(() -> new GeluTanh().backward(Nd4j.ones(2)))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("no forward pass");
  }
}
