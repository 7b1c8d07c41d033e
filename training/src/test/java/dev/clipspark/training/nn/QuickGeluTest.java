package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class QuickGeluTest {

  @Test
  void forwardIsXTimesSigmoidOf1702X() {
    INDArray x = normal(new Random(1), 0, 3, 2, 3, 4);
    INDArray y = new QuickGelu().forward(x);
    for (long i = 0; i < x.length(); i++) {
      assertThat(y.getDouble(i)).isCloseTo(NnFixtures.quickGelu(x.getDouble(i)), within(1e-14));
    }
    // Values by hand: 0 -> 0, 1 -> 1 / (1 + e^-1.702) = 0.845828..., -1 -> -0.154171...
    INDArray v = new QuickGelu().forward(Nd4j.createFromArray(0.0, 1.0, -1.0));
    assertThat(v.getDouble(0)).isZero();
    assertThat(v.getDouble(1)).isCloseTo(0.8457957, within(1e-7));
    assertThat(v.getDouble(2)).isCloseTo(-0.1542043, within(1e-7));
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var result = GradientCheck.check(new QuickGelu(), new ParameterSet(), normal(new Random(2), 0, 2, 2, 3, 4), 3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(24);
  }
}
