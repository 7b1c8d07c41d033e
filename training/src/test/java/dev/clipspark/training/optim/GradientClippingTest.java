package dev.clipspark.training.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.nn.ParameterSet;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class GradientClippingTest {

  /** Gradients (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13. */
  private static ParameterSet params(DataType type) {
    var p = new ParameterSet()
        .add("a", Nd4j.zeros(type, 2))
        .add("b", Nd4j.zeros(type, 1, 1));
    p.gradient("a").assign(Nd4j.createFromArray(3.0, 4.0));
    p.gradient("b").assign(12.0);
    return p;
  }

  @Test
  void globalNormIsTheNormOfAllGradientsTogether() {
    assertThat(GradientClipping.globalNorm(params(DataType.DOUBLE))).isEqualTo(13.0);
    assertThat(GradientClipping.globalNorm(params(DataType.FLOAT))).isEqualTo(13.0);
  }

  @Test
  void scalesEveryGradientByMaxNormOverNormPlusEps() {
    var p = params(DataType.DOUBLE);
    double norm = GradientClipping.clipByGlobalNorm(p, 6.5);
    assertThat(norm).isEqualTo(13.0);
    double coefficient = 6.5 / (13 + 1e-6);
    assertThat(p.gradient("a").toDoubleVector()).containsExactly(3 * coefficient, 4 * coefficient);
    assertThat(p.gradient("b").getDouble(0, 0)).isEqualTo(12 * coefficient);
    assertThat(GradientClipping.globalNorm(p)).isCloseTo(6.5, within(1e-6));
  }

  @Test
  void leavesGradientsAloneBelowTheLimitOrWhenDisabled() {
    for (double maxNorm : new double[] {13.5, 0, -1, Double.POSITIVE_INFINITY}) {
      var p = params(DataType.FLOAT);
      assertThat(GradientClipping.clipByGlobalNorm(p, maxNorm)).isEqualTo(13.0);
      assertThat(p.gradient("a").toDoubleVector()).containsExactly(3.0, 4.0);
      assertThat(p.gradient("b").getDouble(0, 0)).isEqualTo(12.0);
    }
  }

  @Test
  void aNormJustAtTheLimitIsNotScaledButOneAboveIs() {
    // PyTorch scales only when maxNorm / (norm + 1e-6) < 1.
    var at = params(DataType.DOUBLE);
    GradientClipping.clipByGlobalNorm(at, 13.0);
    assertThat(at.gradient("b").getDouble(0, 0)).isEqualTo(12 * 13.0 / (13 + 1e-6));
    var above = params(DataType.DOUBLE);
    GradientClipping.clipByGlobalNorm(above, 13.0 + 1e-6);
    assertThat(above.gradient("b").getDouble(0, 0)).isEqualTo(12.0);
  }

  @Test
  void reportsANonFiniteNormAndRejectsANanLimit() {
    var p = params(DataType.DOUBLE);
    p.gradient("a").putScalar(0, Double.NaN);
    assertThat(GradientClipping.clipByGlobalNorm(p, 1.0)).isNaN();
    assertThat(p.gradient("b").getDouble(0, 0)).isEqualTo(12.0);
    assertThatThrownBy(() -> GradientClipping.clipByGlobalNorm(params(DataType.DOUBLE), Double.NaN))
        .hasMessage("Cannot clip gradients to a global norm of NaN: give a number (0 or less, or infinity, "
            + "disables clipping)");
  }
}
