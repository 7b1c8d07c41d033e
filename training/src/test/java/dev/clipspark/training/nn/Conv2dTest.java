package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class Conv2dTest {

  /** A bias-free convolution of NCHW {@code x} with {@code w [out, in, k, k]}, by loops. */
  static double[][][][] convolve(INDArray x, INDArray w, int stride, int padding) {
    int batch = (int) x.size(0);
    int in = (int) x.size(1);
    int h = (int) x.size(2);
    int wd = (int) x.size(3);
    int out = (int) w.size(0);
    int k = (int) w.size(2);
    int oh = (h + 2 * padding - k) / stride + 1;
    int ow = (wd + 2 * padding - k) / stride + 1;
    double[][][][] y = new double[batch][out][oh][ow];
    for (int b = 0; b < batch; b++) {
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < oh; i++) {
          for (int j = 0; j < ow; j++) {
            double s = 0;
            for (int c = 0; c < in; c++) {
              for (int u = 0; u < k; u++) {
                for (int v = 0; v < k; v++) {
                  int row = i * stride - padding + u;
                  int col = j * stride - padding + v;
                  if (row >= 0 && row < h && col >= 0 && col < wd) {
                    s += x.getDouble(b, c, row, col) * w.getDouble(o, c, u, v);
                  }
                }
              }
            }
            y[b][o][i][j] = s;
          }
        }
      }
    }
    return y;
  }

  /** Checks every element of an NCHW tensor against {@code expected}. */
  static void assertImages(INDArray actual, double[][][][] expected, double tolerance) {
    assertThat(actual.shape()).containsExactly(expected.length, expected[0].length, expected[0][0].length,
        expected[0][0][0].length);
    for (int b = 0; b < expected.length; b++) {
      for (int c = 0; c < expected[0].length; c++) {
        for (int i = 0; i < expected[0][0].length; i++) {
          for (int j = 0; j < expected[0][0][0].length; j++) {
            assertThat(actual.getDouble(b, c, i, j)).as("[%d][%d][%d][%d]", b, c, i, j)
                .isCloseTo(expected[b][c][i][j], within(tolerance));
          }
        }
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"3, 1, 1", "3, 2, 1", "1, 1, 0", "1, 2, 0", "2, 2, 0", "3, 1, 0"})
  void forwardMatchesPlainLoops(int kernel, int stride, int padding) {
    var r = new Random(kernel * 100 + stride * 10 + padding);
    var p = new ParameterSet().add("conv.weight", normal(r, 0, 0.5, 4, 3, kernel, kernel));
    INDArray x = normal(r, 0, 1, 2, 3, 7, 6);
    INDArray y = Conv2d.of(p, "conv", stride, padding).forward(x);
    assertImages(y, convolve(x, p.value("conv.weight"), stride, padding), 1e-12);
  }

  @ParameterizedTest
  @CsvSource({"3, 1, 1", "3, 2, 1", "1, 1, 0", "2, 2, 0"})
  void gradientsMatchFiniteDifferences(int kernel, int stride, int padding) {
    var r = new Random(7 + kernel + stride);
    var p = new ParameterSet().add("conv.weight", normal(r, 0, 0.5, 3, 2, kernel, kernel));
    var result = GradientCheck.check(Conv2d.of(p, "conv", stride, padding), p, normal(r, 0, 1, 2, 2, 5, 6), 3,
        1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(2 * 2 * 5 * 6 + 3 * 2 * kernel * kernel);
  }

  @Test
  void weightGradientsAccumulateAndNonContiguousInputIsAccepted() {
    var r = new Random(11);
    var p = new ParameterSet().add("conv.weight", normal(r, 0, 0.5, 2, 3, 3, 3));
    var conv = Conv2d.of(p, "conv", 1, 1);
    INDArray x = normal(r, 0, 1, 3, 2, 4, 4).permute(1, 0, 2, 3); // [2, 3, 4, 4], not C-contiguous
    INDArray dy = normal(r, 0, 1, 2, 2, 4, 4);
    assertImages(conv.forward(x), convolve(x.dup('c'), p.value("conv.weight"), 1, 1), 1e-12);
    INDArray dx = conv.backward(dy);
    INDArray once = p.gradient("conv.weight").dup();
    conv.forward(x);
    INDArray dxAgain = conv.backward(dy);
    assertThat(p.gradient("conv.weight").equalsWithEps(once.mul(2), 1e-12)).isTrue();
    assertThat(dxAgain.equalsWithEps(dx, 1e-12)).isTrue();
    // dW[o][c][u][v] = sum over b, i, j of dy[b][o][i][j] x[b][c][i + u - 1][j + v - 1], by hand for one element.
    double s = 0;
    for (int b = 0; b < 2; b++) {
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
          int row = i + 2 - 1;
          int col = j + 0 - 1;
          if (row < 4 && col >= 0) {
            s += dy.getDouble(b, 1, i, j) * x.getDouble(b, 2, row, col);
          }
        }
      }
    }
    assertThat(once.getDouble(1, 2, 2, 0)).isCloseTo(s, within(1e-12));
  }

  @Test
  void runsInFloat() {
    var r = new Random(5);
    var p = new ParameterSet().add("conv.weight", normal(r, 0, 0.5, 4, 3, 3, 3).castTo(DataType.FLOAT));
    INDArray x = normal(r, 0, 1, 2, 3, 8, 8).castTo(DataType.FLOAT);
    var conv = Conv2d.of(p, "conv", 2, 1);
    INDArray y = conv.forward(x);
    assertThat(y.dataType()).isEqualTo(DataType.FLOAT);
    assertImages(y, convolve(x, p.value("conv.weight"), 2, 1), 1e-4);
    assertThat(conv.backward(y.like().assign(1)).dataType()).isEqualTo(DataType.FLOAT);
  }

  @Test
  void rejectsBadArgumentsAndBackwardWithoutForward() {
    var p = new ParameterSet().add("conv.weight", normal(new Random(1), 0, 1, 4, 3, 3, 3))
        .add("fc.weight", normal(new Random(2), 0, 1, 4, 3));
    var conv = Conv2d.of(p, "conv", 1, 0);
    assertThatThrownBy(() -> conv.backward(normal(new Random(3), 0, 1, 1, 4, 2, 2)))
        .hasMessage("Cannot run backward through conv.weight: no forward pass");
    assertThatThrownBy(() -> conv.forward(normal(new Random(3), 0, 1, 1, 2, 5, 5)))
        .hasMessage("Cannot apply convolution conv.weight to input of shape [1, 2, 5, 5]: expected [batch, 3, h, w]"
            + " with h, w >= 3");
    assertThatThrownBy(() -> conv.forward(normal(new Random(3), 0, 1, 1, 3, 2, 5)))
        .hasMessageStartingWith("Cannot apply convolution conv.weight to input of shape [1, 3, 2, 5]");
    conv.forward(normal(new Random(4), 0, 1, 1, 3, 4, 4));
    assertThatThrownBy(() -> conv.backward(normal(new Random(5), 0, 1, 1, 4, 3, 3)))
        .hasMessage("Cannot run backward through conv.weight: gradient of shape [1, 4, 3, 3], expected [1, 4, 2, 2]");
    assertThatThrownBy(() -> Conv2d.of(p, "fc", 1, 0))
        .hasMessage("Cannot use fc.weight of shape [4, 3] as a convolution weight: expected [out, in, k, k]");
    assertThatThrownBy(() -> Conv2d.of(p, "conv", 0, 0))
        .hasMessage("Cannot build convolution conv.weight with stride 0: must be at least 1");
    assertThatThrownBy(() -> Conv2d.of(p, "conv", 1, -1))
        .hasMessage("Cannot build convolution conv.weight with padding -1: must be at least 0");
  }
}
