package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;

class AvgPool2dTest {

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3})
  void forwardAveragesEachWindowAndDropsTheRemainder(int kernel) {
    var r = new Random(kernel);
    INDArray x = normal(r, 0, 1, 2, 3, 7, 6);
    INDArray y = new AvgPool2d(kernel).forward(x);
    assertThat(y.shape()).containsExactly(2, 3, 7 / kernel, 6 / kernel);
    for (int b = 0; b < 2; b++) {
      for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 7 / kernel; i++) {
          for (int j = 0; j < 6 / kernel; j++) {
            double s = 0;
            for (int u = 0; u < kernel; u++) {
              for (int v = 0; v < kernel; v++) {
                s += x.getDouble(b, c, i * kernel + u, j * kernel + v);
              }
            }
            assertThat(y.getDouble(b, c, i, j)).isCloseTo(s / (kernel * kernel), within(1e-12));
          }
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void gradientsMatchFiniteDifferences(int kernel) {
    var result = GradientCheck.check(new AvgPool2d(kernel), new ParameterSet(), normal(new Random(9), 0, 1, 2, 2, 7, 6),
        3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(2 * 2 * 7 * 6);
  }

  @Test
  void theRemainderGetsNoGradient() {
    var pool = new AvgPool2d(2);
    pool.forward(normal(new Random(1), 0, 1, 1, 1, 3, 3));
    INDArray dx = pool.backward(normal(new Random(2), 0, 1, 1, 1, 1, 1).assign(8));
    assertThat(dx.reshape('c', new long[] {9}).toDoubleVector()).containsExactly(2, 2, 0, 2, 2, 0, 0, 0, 0);
  }

  @Test
  void rejectsBadArgumentsAndBackwardWithoutForward() {
    assertThatThrownBy(() -> new AvgPool2d(0)).hasMessage("Cannot build average pooling with kernel 0: must be at least 1");
    var pool = new AvgPool2d(2);
    assertThatThrownBy(() -> pool.backward(normal(new Random(1), 0, 1, 1, 1, 1, 1)))
        .hasMessage("Cannot run backward through average pooling: no forward pass");
    assertThatThrownBy(() -> pool.forward(normal(new Random(1), 0, 1, 1, 1, 1, 4)))
        .hasMessage("Cannot apply 2x2 average pooling to input of shape [1, 1, 1, 4]: expected [batch, c, h, w]"
            + " with h, w >= 2");
  }
}
