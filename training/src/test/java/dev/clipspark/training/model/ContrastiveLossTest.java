package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class ContrastiveLossTest {

  private static final double SQRT2 = Math.sqrt(2);

  /** Image rows normalise to (1, 0) and (1, 1)/sqrt 2, text rows to (1, 1)/sqrt 2 and (0, -1). */
  private static INDArray images() {
    return Nd4j.createFromArray(new double[][] {{3, 0}, {1, 1}});
  }

  private static INDArray texts() {
    return Nd4j.createFromArray(new double[][] {{2, 2}, {0, -1}});
  }

  @Test
  void twoPairsByHand() {
    // Scale 2: logits [[sqrt 2, 0], [2, -sqrt 2]].
    var result = ContrastiveLoss.compute(images(), texts(), Math.log(2));
    double row1 = Math.log(Math.exp(SQRT2) + Math.exp(0)) - SQRT2;
    double row2 = Math.log(Math.exp(2) + Math.exp(-SQRT2)) + SQRT2;
    double col1 = Math.log(Math.exp(SQRT2) + Math.exp(2)) - SQRT2;
    double col2 = Math.log(Math.exp(0) + Math.exp(-SQRT2)) + SQRT2;
    assertThat(result.loss()).isCloseTo(((row1 + row2) / 2 + (col1 + col2) / 2) / 2, within(1e-14));
    // Image 1's best text is text 1; image 2's best is text 1 as well.
    assertThat(result.imageToTextAccuracy()).isEqualTo(0.5);
    // dloss/dlog-scale = sum(G * L) with G = (P + Q - 2I) / 4.
    double[][] logits = {{SQRT2, 0}, {2, -SQRT2}};
    double expected = 0;
    for (int i = 0; i < 2; i++) {
      for (int j = 0; j < 2; j++) {
        double p = Math.exp(logits[i][j]) / (Math.exp(logits[i][0]) + Math.exp(logits[i][1]));
        double q = Math.exp(logits[i][j]) / (Math.exp(logits[0][j]) + Math.exp(logits[1][j]));
        expected += (p + q - (i == j ? 2 : 0)) / 4 * logits[i][j];
      }
    }
    assertThat(result.gradLogitScaleLog()).isCloseTo(expected, within(1e-14));
  }

  @Test
  void hugeScalesStayFinite() {
    // exp(50) ~ 5e21: the logits' exponentials overflow unless shifted. With such a scale each cross-entropy
    // term is (max logit - target logit): rows 0 and e^50 (1 + 1/sqrt 2), columns e^50 (1 - 1/sqrt 2) and
    // e^50 / sqrt 2.
    var result = ContrastiveLoss.compute(images(), texts(), 50);
    double expected = Math.exp(50) * (2 + 1 / SQRT2) / 4;
    assertThat(result.loss()).isCloseTo(expected, within(expected * 1e-12));
    assertThat(result.gradImage().isInfinite().any()).isFalse();
    assertThat(result.gradImage().isNaN().any()).isFalse();
    assertThat(Double.isFinite(result.gradLogitScaleLog())).isTrue();
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var r = new Random(1);
    INDArray image = random(r, 5, 3);
    INDArray text = random(r, 5, 3);
    double scale = 1.3;
    var result = ContrastiveLoss.compute(image, text, scale);
    assertThat(result.gradImage().shape()).containsExactly(5, 3);
    assertThat(result.gradText().shape()).containsExactly(5, 3);
    double h = 1e-6;
    for (INDArray[] pair : new INDArray[][] {{image, result.gradImage()}, {text, result.gradText()}}) {
      INDArray x = pair[0];
      for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 3; j++) {
          double original = x.getDouble(i, j);
          x.putScalar(i, j, original + h);
          double plus = ContrastiveLoss.compute(image, text, scale).loss();
          x.putScalar(i, j, original - h);
          double minus = ContrastiveLoss.compute(image, text, scale).loss();
          x.putScalar(i, j, original);
          assertThat(pair[1].getDouble(i, j)).as("[%d][%d]", i, j).isCloseTo((plus - minus) / (2 * h), within(1e-8));
        }
      }
    }
    double numeric = (ContrastiveLoss.compute(image, text, scale + h).loss()
        - ContrastiveLoss.compute(image, text, scale - h).loss()) / (2 * h);
    assertThat(result.gradLogitScaleLog()).isCloseTo(numeric, within(1e-8));
  }

  @Test
  void perfectlyAlignedPairsHaveFullAccuracy() {
    INDArray features = Nd4j.createFromArray(new double[][] {{1, 0, 0}, {0, 2, 0}, {0, 0, 3}});
    var result = ContrastiveLoss.compute(features, features.mul(5), Math.log(10));
    assertThat(result.imageToTextAccuracy()).isEqualTo(1.0);
    // Each row and column: log(e^10 + 2) - 10.
    assertThat(result.loss()).isCloseTo(Math.log(Math.exp(10) + 2) - 10, within(1e-14));
  }

  @Test
  void worksInFloat() {
    var r = new Random(2);
    INDArray image = random(r, 4, 6);
    INDArray text = random(r, 4, 6);
    var exact = ContrastiveLoss.compute(image, text, 2.0);
    var single = ContrastiveLoss.compute(image.castTo(DataType.FLOAT), text.castTo(DataType.FLOAT), 2.0);
    assertThat(single.gradImage().dataType()).isEqualTo(DataType.FLOAT);
    assertThat(single.gradText().dataType()).isEqualTo(DataType.FLOAT);
    assertThat(single.loss()).isCloseTo(exact.loss(), within(1e-5));
    assertThat(single.gradImage().castTo(DataType.DOUBLE).sub(exact.gradImage()).amaxNumber().doubleValue())
        .isLessThan(1e-5);
  }

  @Test
  void rejectsMismatchedInputs() {
    assertThatThrownBy(() -> ContrastiveLoss.compute(images(), Nd4j.zeros(DataType.DOUBLE, 3, 2), 1))
        .hasMessage("Cannot compute the contrastive loss of image features [2, 2] and text features [3, 2]: both must"
            + " be [N, d] with the same N >= 1 and d");
    assertThatThrownBy(() -> ContrastiveLoss.compute(images(), texts().castTo(DataType.FLOAT), 1))
        .hasMessage("Cannot compute the contrastive loss of DOUBLE image and FLOAT text features: both must have one"
            + " floating point data type");
    assertThatThrownBy(() -> ContrastiveLoss.compute(images(), texts(), Double.NaN))
        .hasMessage("Cannot compute the contrastive loss with logit scale log NaN: must be finite");
  }

  private static INDArray random(Random r, int rows, int cols) {
    double[][] v = new double[rows][cols];
    for (double[] row : v) {
      for (int j = 0; j < cols; j++) {
        row[j] = r.nextGaussian();
      }
    }
    return Nd4j.createFromArray(v);
  }
}
