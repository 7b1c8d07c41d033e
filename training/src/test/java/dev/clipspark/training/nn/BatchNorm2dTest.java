package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class BatchNorm2dTest {

  /**
   * Adds a BatchNorm's gain (near 1), bias, and running statistics (mean near 0, variance near 1, as after
   * some training) under {@code prefix}.
   */
  static void batchNorm(ParameterSet p, Random r, String prefix, long channels) {
    p.add(prefix + ".weight", normal(r, 1, 0.3, channels));
    p.add(prefix + ".bias", normal(r, 0, 0.3, channels));
    p.addBuffer(prefix + ".running_mean", normal(r, 0, 0.3, channels));
    p.addBuffer(prefix + ".running_var", normal(r, 0, 0.2, channels).addi(1));
    p.addBuffer(prefix + ".num_batches_tracked", Nd4j.scalar(DataType.LONG, 0L));
  }

  @Test
  void trainingModeNormalisesWithBatchStatistics() {
    var r = new Random(1);
    var p = new ParameterSet();
    batchNorm(p, r, "bn", 3);
    INDArray x = normal(r, 2, 3, 4, 3, 5, 2);
    INDArray y = new BatchNorm2d(p, "bn").forward(x);
    assertThat(y.shape()).containsExactly(4, 3, 5, 2);
    for (int c = 0; c < 3; c++) {
      double mean = 0;
      for (int b = 0; b < 4; b++) {
        for (int i = 0; i < 5; i++) {
          for (int j = 0; j < 2; j++) {
            mean += x.getDouble(b, c, i, j) / 40;
          }
        }
      }
      double var = 0;
      for (int b = 0; b < 4; b++) {
        for (int i = 0; i < 5; i++) {
          for (int j = 0; j < 2; j++) {
            var += Math.pow(x.getDouble(b, c, i, j) - mean, 2) / 40;
          }
        }
      }
      double g = p.value("bn.weight").getDouble(c);
      double beta = p.value("bn.bias").getDouble(c);
      for (int b = 0; b < 4; b++) {
        for (int i = 0; i < 5; i++) {
          for (int j = 0; j < 2; j++) {
            double expected = (x.getDouble(b, c, i, j) - mean) / Math.sqrt(var + 1e-5) * g + beta;
            assertThat(y.getDouble(b, c, i, j)).isCloseTo(expected, within(1e-12));
          }
        }
      }
    }
  }

  @Test
  void runningStatisticsFollowPyTorchsUpdate() {
    var p = new ParameterSet()
        .add("bn.weight", Nd4j.createFromArray(1.0, 2.0))
        .add("bn.bias", Nd4j.createFromArray(0.0, 0.0))
        .addBuffer("bn.running_mean", Nd4j.createFromArray(0.0, 1.0))
        .addBuffer("bn.running_var", Nd4j.createFromArray(1.0, 2.0))
        .addBuffer("bn.num_batches_tracked", Nd4j.scalar(DataType.LONG, 0L));
    // Channel 0 holds 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
    // Channel 1 holds 0, 0, 4, 4: mean 2, biased variance 4, unbiased 16/3.
    INDArray x = Nd4j.createFromArray(new double[] {1, 2, 0, 0, 3, 4, 4, 4}).reshape('c', 2, 2, 1, 2);
    var bn = new BatchNorm2d(p, "bn");
    bn.forward(x);
    assertThat(p.buffer("bn.running_mean").toDoubleVector()).containsExactly(new double[] {0.25, 1.1}, within(1e-12));
    assertThat(p.buffer("bn.running_var").toDoubleVector())
        .containsExactly(new double[] {0.9 + 0.5 / 3, 1.8 + 1.6 / 3}, within(1e-12));
    assertThat(p.buffer("bn.num_batches_tracked").getLong(0)).isEqualTo(1);
    bn.forward(x);
    assertThat(p.buffer("bn.running_mean").toDoubleVector()).containsExactly(new double[] {0.475, 1.19}, within(1e-12));
    assertThat(p.buffer("bn.running_var").toDoubleVector())
        .containsExactly(new double[] {0.9 * (0.9 + 0.5 / 3) + 0.5 / 3, 0.9 * (1.8 + 1.6 / 3) + 1.6 / 3}, within(1e-12));
    assertThat(p.buffer("bn.num_batches_tracked").getLong(0)).isEqualTo(2);
    // Evaluation mode reads them and leaves them alone: channel 1 of the first pixel, (0 - 1.19) / sqrt(rv + eps) * 2.
    bn.setTraining(false);
    double rv1 = 0.9 * (1.8 + 1.6 / 3) + 1.6 / 3;
    INDArray y = bn.forward(x);
    assertThat(y.getDouble(0, 1, 0, 0)).isCloseTo(-1.19 / Math.sqrt(rv1 + 1e-5) * 2, within(1e-12));
    assertThat(y.getDouble(1, 0, 0, 1)).isCloseTo((4 - 0.475) / Math.sqrt(0.9 * (0.9 + 0.5 / 3) + 0.5 / 3 + 1e-5),
        within(1e-12));
    assertThat(p.buffer("bn.running_mean").toDoubleVector()).containsExactly(new double[] {0.475, 1.19}, within(1e-12));
    assertThat(p.buffer("bn.num_batches_tracked").getLong(0)).isEqualTo(2);
  }

  @Test
  void evaluationModeIsAnAffineMapOfEachImageAlone() {
    var r = new Random(2);
    var p = new ParameterSet();
    batchNorm(p, r, "bn", 2);
    var bn = new BatchNorm2d(p, "bn");
    bn.setTraining(false);
    assertThat(bn.training()).isFalse();
    INDArray x = normal(r, 0, 1, 3, 2, 2, 2);
    INDArray y = bn.forward(x);
    for (int c = 0; c < 2; c++) {
      double mean = p.buffer("bn.running_mean").getDouble(c);
      double var = p.buffer("bn.running_var").getDouble(c);
      double g = p.value("bn.weight").getDouble(c);
      double beta = p.value("bn.bias").getDouble(c);
      for (int b = 0; b < 3; b++) {
        double expected = (x.getDouble(b, c, 1, 0) - mean) / Math.sqrt(var + 1e-5) * g + beta;
        assertThat(y.getDouble(b, c, 1, 0)).isCloseTo(expected, within(1e-12));
      }
    }
  }

  @Test
  void trainingGradientsMatchFiniteDifferences() {
    var r = new Random(3);
    var p = new ParameterSet();
    batchNorm(p, r, "bn", 3);
    var result = GradientCheck.check(new BatchNorm2d(p, "bn"), p, normal(r, 1, 2, 3, 3, 4, 3), 4, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(3 * 3 * 4 * 3 + 3 + 3);
  }

  @Test
  void evaluationGradientsMatchFiniteDifferences() {
    var r = new Random(4);
    var p = new ParameterSet();
    batchNorm(p, r, "bn", 3);
    var bn = new BatchNorm2d(p, "bn");
    bn.setTraining(false);
    var result = GradientCheck.check(bn, p, normal(r, 1, 2, 2, 3, 3, 3), 5, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(2 * 3 * 3 * 3 + 3 + 3);
  }

  @Test
  void viewsAreReadAtTheirOffset() {
    var r = new Random(7);
    var p = new ParameterSet();
    batchNorm(p, r, "bn", 2);
    var bn = new BatchNorm2d(p, "bn");
    INDArray batch = normal(r, 0, 1, 4, 2, 3, 3);
    INDArray view = batch.get(NDArrayIndex.interval(1, 3));
    INDArray dy = normal(r, 0, 1, 2, 2, 3, 3);
    INDArray y = bn.forward(view).dup();
    INDArray dx = bn.backward(dy).dup();
    INDArray gainGradient = p.gradient("bn.weight").dup();
    p.zeroGradients();
    assertThat(bn.forward(view.dup()).equalsWithEps(y, 1e-12)).isTrue();
    assertThat(bn.backward(dy).equalsWithEps(dx, 1e-12)).isTrue();
    assertThat(p.gradient("bn.weight").equalsWithEps(gainGradient, 1e-12)).isTrue();
    assertThat(bn.forward(batch).get(NDArrayIndex.interval(1, 3)).equalsWithEps(y, 1e-6)).isFalse();
  }

  @Test
  void runsInFloat() {
    var r = new Random(5);
    var p = new ParameterSet();
    p.add("bn.weight", normal(r, 1, 0.3, 2).castTo(DataType.FLOAT));
    p.add("bn.bias", normal(r, 0, 0.3, 2).castTo(DataType.FLOAT));
    p.addBuffer("bn.running_mean", Nd4j.zeros(DataType.FLOAT, 2));
    p.addBuffer("bn.running_var", Nd4j.ones(DataType.FLOAT, 2));
    p.addBuffer("bn.num_batches_tracked", Nd4j.scalar(DataType.LONG, 0L));
    var bn = new BatchNorm2d(p, "bn");
    INDArray y = bn.forward(normal(r, 3, 2, 4, 2, 3, 3).castTo(DataType.FLOAT));
    assertThat(y.dataType()).isEqualTo(DataType.FLOAT);
    assertThat(bn.backward(y.like().assign(1)).dataType()).isEqualTo(DataType.FLOAT);
    assertThat(p.buffer("bn.running_mean").getDouble(0)).isCloseTo(0.3, within(0.15));
  }

  @Test
  void rejectsBadInputAndMissingBuffers() {
    var r = new Random(6);
    var p = new ParameterSet();
    batchNorm(p, r, "bn", 2);
    var bn = new BatchNorm2d(p, "bn");
    assertThatThrownBy(() -> bn.backward(normal(r, 0, 1, 1, 2, 2, 2)))
        .hasMessage("Cannot run backward through bn: no forward pass");
    assertThatThrownBy(() -> bn.forward(normal(r, 0, 1, 1, 3, 2, 2)))
        .hasMessage("Cannot apply BatchNorm bn to input of shape [1, 3, 2, 2]: expected [batch, 2, h, w]");
    assertThatThrownBy(() -> bn.forward(normal(r, 0, 1, 1, 2, 1, 1)))
        .hasMessage("Cannot apply BatchNorm bn in training mode to input of shape [1, 2, 1, 1]: needs more than 1 value"
            + " per channel");
    bn.setTraining(false);
    assertThat(bn.forward(normal(r, 0, 1, 1, 2, 1, 1)).shape()).containsExactly(1, 2, 1, 1);
    var noBuffers = new ParameterSet().add("bn.weight", normal(r, 1, 0.3, 2)).add("bn.bias", normal(r, 0, 0.3, 2));
    assertThatThrownBy(() -> new BatchNorm2d(noBuffers, "bn")).hasMessageStartingWith("Cannot find parameter bn.running_mean");
  }
}
