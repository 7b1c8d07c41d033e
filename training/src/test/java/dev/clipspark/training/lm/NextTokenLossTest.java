package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class NextTokenLossTest {

  @Test
  void lossIsTheMeanCrossEntropyOfTheScoredPositionsByHand() {
    // Row 0: logits [0, ln 2, ln 3] (softmax 1/6, 2/6, 3/6) with target 1, then an ignored position.
    // Row 1: logits [0, 0, 0] with target 2; [5, 0, 0] with target 0.
    INDArray logits = Nd4j.createFromArray(new double[][][] {
        {{0, Math.log(2), Math.log(3)}, {9, 9, 9}},
        {{0, 0, 0}, {5, 0, 0}}});
    int[][] targets = {{1, NextTokenLoss.IGNORE}, {2, 0}};
    NextTokenLoss.Result r = NextTokenLoss.compute(logits, targets);
    double expected = (-Math.log(2.0 / 6) - Math.log(1.0 / 3) - Math.log(Math.exp(5) / (Math.exp(5) + 2))) / 3;
    assertThat(r.loss()).isCloseTo(expected, within(1e-12));
    assertThat(r.scored()).isEqualTo(3);
    assertThat(r.correct()).isEqualTo(1); // only [5, 0, 0] -> 0; [0,0,0] -> first maximum 0, not 2
    assertThat(r.gradient().getDouble(0, 0, 1)).isCloseTo((2.0 / 6 - 1) / 3, within(1e-12));
    assertThat(r.gradient().getDouble(0, 0, 2)).isCloseTo((3.0 / 6) / 3, within(1e-12));
    assertThat(r.gradient().getDouble(0, 1, 0)).isZero();
    assertThat(r.gradient().getDouble(1, 0, 2)).isCloseTo((1.0 / 3 - 1) / 3, within(1e-12));
  }

  @Test
  void gradientMatchesFiniteDifferences() {
    var random = new Random(3);
    double[] v = new double[2 * 3 * 5];
    for (int i = 0; i < v.length; i++) {
      v[i] = 2 * random.nextGaussian();
    }
    INDArray logits = Nd4j.createFromArray(v).reshape(2, 3, 5);
    int[][] targets = {{4, 0, NextTokenLoss.IGNORE}, {1, 1, 3}};
    INDArray g = NextTokenLoss.compute(logits, targets).gradient();
    double h = 1e-6;
    for (int i = 0; i < v.length; i++) {
      double old = logits.getDouble(i);
      logits.putScalar(i, old + h);
      double plus = NextTokenLoss.compute(logits, targets).loss();
      logits.putScalar(i, old - h);
      double minus = NextTokenLoss.compute(logits, targets).loss();
      logits.putScalar(i, old);
      assertThat(g.getDouble(i)).as("element %d", i).isCloseTo((plus - minus) / (2 * h), within(1e-8));
    }
  }

  @Test
  void shiftedTargetsPredictTheNextTokenWithinEachRowsLength() {
    int[][] t = NextTokenLoss.shiftedTargets(new int[][] {{5, 6, 7, 0}, {8, 9, 0, 0}}, new int[] {4, 2});
    assertThat(t[0]).containsExactly(6, 7, 0, -1);
    assertThat(t[1]).containsExactly(9, -1, -1, -1);
  }

  @Test
  void badTargetsAreNamed() {
    INDArray logits = Nd4j.zeros(1, 2, 3);
    assertThatThrownBy(() -> NextTokenLoss.compute(logits, new int[][] {{0, 3}}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot score target 3 at row 0, position 1: ids must lie in [0, 3) or be -1 (ignored)");
    assertThatThrownBy(() -> NextTokenLoss.compute(logits, new int[][] {{-1, -1}}))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("Cannot score a batch whose every target is ignored");
  }
}
