package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

class MultiHeadAttentionTest {

  private static final int WIDTH = 6;
  private static final int HEADS = 2;

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void forwardMatchesPlainLoops(boolean causal) {
    var r = new Random(1);
    var p = new ParameterSet();
    NnFixtures.attention(p, r, "attn", WIDTH);
    INDArray x = normal(r, 0, 1, 3, 5, WIDTH);
    INDArray y = new MultiHeadAttention(p, "attn", HEADS, causal).forward(x);
    assertThat(y.shape()).containsExactly(3, 5, WIDTH);
    for (int b = 0; b < 3; b++) {
      NnFixtures.assertSequence(y, b, NnFixtures.attention(NnFixtures.sequence(x, b), p, "attn", HEADS, causal), 1e-12);
    }
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void gradientsMatchFiniteDifferences(boolean causal) {
    var r = new Random(2);
    var p = new ParameterSet();
    NnFixtures.attention(p, r, "attn", WIDTH);
    var result = GradientCheck.check(new MultiHeadAttention(p, "attn", HEADS, causal), p, normal(r, 0, 1, 2, 4, WIDTH),
        3, 1e-6, 1e-9);
    assertThat(result.checked()).isEqualTo(2 * 4 * WIDTH + 3 * WIDTH * WIDTH + 3 * WIDTH + WIDTH * WIDTH + WIDTH);
  }

  @Test
  void causalAttentionNeverLooksAhead() {
    var r = new Random(3);
    var p = new ParameterSet();
    NnFixtures.attention(p, r, "attn", WIDTH);
    INDArray x = normal(r, 0, 1, 2, 5, WIDTH);
    INDArray changed = x.dup();
    changed.get(NDArrayIndex.all(), NDArrayIndex.point(4), NDArrayIndex.all()).addi(1.0);
    var causal = new MultiHeadAttention(p, "attn", HEADS, true);
    INDArray before = causal.forward(x).dup();
    INDArray after = causal.forward(changed).dup();
    INDArray firstFour = before.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 4), NDArrayIndex.all());
    assertThat(after.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 4), NDArrayIndex.all())).isEqualTo(firstFour);
    assertThat(after.get(NDArrayIndex.all(), NDArrayIndex.point(4), NDArrayIndex.all()))
        .isNotEqualTo(before.get(NDArrayIndex.all(), NDArrayIndex.point(4), NDArrayIndex.all()));
    var full = new MultiHeadAttention(p, "attn", HEADS, false);
    INDArray fullBefore = full.forward(x).get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).dup();
    INDArray fullAfter = full.forward(changed).get(NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()).dup();
    assertThat(fullAfter).isNotEqualTo(fullBefore);
  }

  @Test
  void headsMustDivideTheWidth() {
    var p = new ParameterSet();
    NnFixtures.attention(p, new Random(4), "attn", WIDTH);
    assertThatThrownBy(() -> new MultiHeadAttention(p, "attn", 4, false))
        .hasMessage("Cannot build attention attn with 4 heads: must divide the width 6");
  }
}
