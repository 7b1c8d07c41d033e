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

class TokenEmbeddingTest {

  private static ParameterSet table(Random r) {
    return new ParameterSet().add("emb.weight", normal(r, 0, 1, 7, 3));
  }

  @Test
  void forwardLooksUpTheRowOfEveryId() {
    var r = new Random(1);
    ParameterSet p = table(r);
    INDArray tokens = Nd4j.createFromArray(new int[][] {{6, 0, 2}, {2, 2, 5}});
    INDArray out = new TokenEmbedding(p, "emb.weight").forward(tokens);
    assertThat(out.shape()).containsExactly(2, 3, 3);
    int[][] ids = tokens.toIntMatrix();
    for (int b = 0; b < 2; b++) {
      for (int t = 0; t < 3; t++) {
        for (int j = 0; j < 3; j++) {
          assertThat(out.getDouble(b, t, j)).isEqualTo(p.value("emb.weight").getDouble(ids[b][t], j));
        }
      }
    }
  }

  @Test
  void repeatedIdsAccumulateTheirGradients() {
    var r = new Random(2);
    ParameterSet p = table(r);
    var embedding = new TokenEmbedding(p, "emb.weight");
    // Id 2 appears three times, id 5 twice (within and across rows), id 6 once; ids 1, 3 and 4 never.
    INDArray tokens = Nd4j.createFromArray(new long[][] {{2, 5, 2}, {6, 2, 5}});
    embedding.forward(tokens);
    INDArray g = normal(r, 0, 1, 2, 3, 3);
    assertThat(embedding.backward(g)).isNull();
    INDArray grad = p.gradient("emb.weight");
    for (int j = 0; j < 3; j++) {
      assertThat(grad.getDouble(2, j)).isCloseTo(g.getDouble(0, 0, j) + g.getDouble(0, 2, j) + g.getDouble(1, 1, j),
          within(1e-15));
      assertThat(grad.getDouble(5, j)).isCloseTo(g.getDouble(0, 1, j) + g.getDouble(1, 2, j), within(1e-15));
      assertThat(grad.getDouble(6, j)).isEqualTo(g.getDouble(1, 0, j));
      for (int unused : new int[] {0, 1, 3, 4}) {
        assertThat(grad.getDouble(unused, j)).isZero();
      }
    }
    // A second micro-batch adds onto the accumulator.
    INDArray before = grad.dup();
    embedding.forward(Nd4j.createFromArray(new long[][] {{2}}));
    embedding.backward(Nd4j.ones(DataType.DOUBLE, 1, 1, 3));
    assertThat(grad.getRow(2)).isEqualTo(before.getRow(2).add(1.0));
    assertThat(grad.getRow(5)).isEqualTo(before.getRow(5));
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    var r = new Random(3);
    ParameterSet p = table(r);
    var result = GradientCheck.checkParameters(new TokenEmbedding(p, "emb.weight"), p,
        Nd4j.createFromArray(new int[][] {{1, 1, 4}, {4, 1, 0}}), Integer.MAX_VALUE, 4, 1e-8, 1e-10);
    assertThat(result.checked()).isEqualTo(21);
  }

  @Test
  void rejectsIdsOutsideTheVocabularyAndNonIntegerTokens() {
    var embedding = new TokenEmbedding(table(new Random(4)), "emb.weight");
    assertThatThrownBy(() -> embedding.forward(Nd4j.createFromArray(new int[][] {{1, 7}})))
        .hasMessage("Cannot look up token id 7 at flat position 1 in emb.weight: ids must lie in [0, 7)");
    assertThatThrownBy(() -> embedding.forward(Nd4j.createFromArray(new long[] {-1})))
        .hasMessage("Cannot look up token id -1 at flat position 0 in emb.weight: ids must lie in [0, 7)");
    assertThatThrownBy(() -> embedding.forward(Nd4j.createFromArray(new double[] {1})))
        .hasMessage("Cannot look up tokens of type DOUBLE in emb.weight: expected an integer type (INT or LONG)");
    assertThatThrownBy(() -> embedding.backward(Nd4j.zeros(DataType.DOUBLE, 1, 3)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Cannot run backward through emb.weight: no forward pass");
  }
}
