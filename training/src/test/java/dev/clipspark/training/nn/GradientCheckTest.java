package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The checker itself must catch wrong gradients, for inputs and for parameters. */
class GradientCheckTest {

  @Test
  void catchesAWrongInputGradient() {
    Layer doubledInputGradient = new Layer() {
      private final QuickGelu gelu = new QuickGelu();

      @Override
      public INDArray forward(INDArray x) {
        return gelu.forward(x);
      }

      @Override
      public INDArray backward(INDArray dy) {
        return gelu.backward(dy).muli(1.001);
      }
    };
    assertThatThrownBy(() -> GradientCheck.check(doubledInputGradient, new ParameterSet(),
        normal(new Random(1), 0, 1, 2, 3), 2, 1e-6, 1e-9))
        .isInstanceOf(AssertionError.class).hasMessageContaining("input[");
  }

  @Test
  void catchesAWrongParameterGradient() {
    var p = new ParameterSet();
    NnFixtures.linear(p, new Random(3), "fc", 2, 3);
    Linear linear = Linear.of(p, "fc");
    Layer forgetsToAccumulateTheBias = new Layer() {
      @Override
      public INDArray forward(INDArray x) {
        return linear.forward(x);
      }

      @Override
      public INDArray backward(INDArray dy) {
        INDArray dx = linear.backward(dy);
        p.gradient("fc.bias").assign(0);
        return dx;
      }
    };
    assertThatThrownBy(() -> GradientCheck.check(forgetsToAccumulateTheBias, p, normal(new Random(4), 0, 1, 4, 3), 5,
        1e-6, 1e-9))
        .isInstanceOf(AssertionError.class).hasMessageContaining("fc.bias[");
  }
}
