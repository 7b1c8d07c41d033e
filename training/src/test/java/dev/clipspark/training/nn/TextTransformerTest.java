package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class TextTransformerTest {

  private static final int CONTEXT = 6;
  private static final int VOCAB = 20;
  private static final int WIDTH = 16;
  private static final int HEADS = 2;
  private static final int EMBED = 8;
  private static final TextConfig TEXT = new TextConfig(CONTEXT, VOCAB, WIDTH, HEADS, 2);

  /** Rows with the end-of-text id 19 at different positions, zero padding after it. */
  private static final long[][] TOKENS = {
      {1, 5, 19, 0, 0, 0},
      {1, 3, 3, 7, 19, 0},
      {1, 7, 7, 7, 7, 19},
      {19, 0, 0, 0, 0, 0}};

  /** The text parameters of a tiny CLIP, jittered so that no gain is exactly 1 nor any bias 0. */
  static ParameterSet textParameters(long seed) {
    var config = new ModelConfig("tiny", EMBED, VisionConfig.vit(8, 1, 16, 4, 8), TEXT);
    ParameterSet all = ClipParameters.initialize(config, seed, DataType.DOUBLE);
    var r = new Random(seed);
    var p = new ParameterSet();
    for (String name : all.names()) {
      if (!name.startsWith("visual.") && !name.equals("logit_scale")) {
        INDArray v = all.value(name);
        p.add(name, v.addi(normal(r, 0, 0.1, v.shape())));
      }
    }
    return p;
  }

  @Test
  void forwardMatchesPlainLoopsAtTheEndOfTextToken() {
    ParameterSet p = textParameters(1);
    INDArray out = new TextTransformer(p, TEXT, EMBED).forward(Nd4j.createFromArray(TOKENS));
    assertThat(out.shape()).containsExactly(TOKENS.length, EMBED);
    double[][] table = p.value("token_embedding.weight").toDoubleMatrix();
    double[][] pos = p.value("positional_embedding").toDoubleMatrix();
    int[] eot = {2, 4, 5, 0};
    for (int b = 0; b < TOKENS.length; b++) {
      double[][] x = new double[CONTEXT][];
      for (int t = 0; t < CONTEXT; t++) {
        x[t] = table[(int) TOKENS[b][t]].clone();
      }
      x = NnFixtures.plus(x, pos);
      for (int i = 0; i < 2; i++) {
        x = NnFixtures.residualBlock(x, p, "transformer.resblocks." + i, HEADS, true);
      }
      double[][] pooled = NnFixtures.layerNorm(new double[][] {x[eot[b]]}, p, "ln_final");
      double[] expected = NnFixtures.times(pooled, p.value("text_projection").toDoubleMatrix())[0];
      for (int j = 0; j < EMBED; j++) {
        assertThat(out.getDouble(b, j)).as("[%d][%d]", b, j).isCloseTo(expected[j], within(1e-12));
      }
    }
  }

  @Test
  void endOfTextIsTheFirstLargestIdOfEachRow() {
    INDArray tokens = Nd4j.createFromArray(new int[][] {{1, 5, 19, 0}, {1, 19, 4, 19}, {3, 2, 1, 0}, {0, 0, 0, 0}});
    assertThat(TextTransformer.endOfText(tokens)).containsExactly(2, 1, 0, 0);
  }

  @Test
  void paddingAfterTheEndOfTextDoesNotChangeTheFeaturesButEarlierTokensDo() {
    ParameterSet p = textParameters(2);
    var text = new TextTransformer(p, TEXT, EMBED);
    INDArray base = text.forward(Nd4j.createFromArray(TOKENS)).dup();
    long[][] padded = copy(TOKENS);
    padded[0][4] = 11;
    padded[1][5] = 3;
    assertThat(text.forward(Nd4j.createFromArray(padded))).isEqualTo(base);
    long[][] changed = copy(TOKENS);
    changed[1][2] = 12;
    INDArray after = text.forward(Nd4j.createFromArray(changed));
    assertThat(after.getRow(1)).isNotEqualTo(base.getRow(1));
    assertThat(after.getRow(0)).isEqualTo(base.getRow(0));
    // INT ids and shorter rows (t < context length) give the same features.
    assertThat(text.forward(Nd4j.createFromArray(TOKENS).castTo(DataType.INT))).isEqualTo(base);
    long[][] shorter = {{1, 5, 19}, {19, 0, 0}};
    INDArray shortOut = text.forward(Nd4j.createFromArray(shorter));
    assertThat(shortOut.getRow(0)).isEqualTo(base.getRow(0));
    assertThat(shortOut.getRow(1)).isEqualTo(base.getRow(3));
  }

  @Test
  void gradientsMatchFiniteDifferencesWithRepeatedIds() {
    ParameterSet p = textParameters(3);
    // Every tensor, up to 32 elements of each (the blocks are checked in full by their own test).
    var result = GradientCheck.checkParameters(new TextTransformer(p, TEXT, EMBED), p, Nd4j.createFromArray(TOKENS),
        32, 4, 1e-6, 1e-8);
    assertThat(result.checked()).isEqualTo(p.names().stream().mapToLong(n -> Math.min(32, p.value(n).length())).sum());
  }

  @Test
  void tokenEmbeddingGradientCollectsEveryPositionOfAnId() {
    ParameterSet p = textParameters(4);
    var text = new TextTransformer(p, TEXT, EMBED);
    INDArray tokens = Nd4j.createFromArray(TOKENS);
    text.forward(tokens);
    text.backward(normal(new Random(5), 0, 1, TOKENS.length, EMBED));
    INDArray grad = p.gradient("token_embedding.weight").dup();
    // Id 7 occurs five times; its row's gradient must match the finite difference of the whole row.
    INDArray upstream = normal(new Random(5), 0, 1, TOKENS.length, EMBED);
    INDArray row = p.value("token_embedding.weight").getRow(7);
    double h = 1e-6;
    for (int j = 0; j < WIDTH; j++) {
      double original = row.getDouble(j);
      row.putScalar(j, original + h);
      double plus = text.forward(tokens).mul(upstream).sumNumber().doubleValue();
      row.putScalar(j, original - h);
      double minus = text.forward(tokens).mul(upstream).sumNumber().doubleValue();
      row.putScalar(j, original);
      assertThat(grad.getDouble(7, j)).as("row 7 [%d]", j).isCloseTo((plus - minus) / (2 * h), within(1e-8));
    }
    // Ids that never occur get no gradient.
    assertThat(grad.getRow(2).sumNumber().doubleValue()).isZero();
    assertThat(grad.getRow(7).norm2Number().doubleValue()).isGreaterThan(1e-3);
  }

  @Test
  void rejectsTokensOfTheWrongShape() {
    var text = new TextTransformer(textParameters(6), TEXT, EMBED);
    assertThatThrownBy(() -> text.forward(Nd4j.zeros(DataType.LONG, 2, 7)))
        .hasMessage("Cannot encode tokens of shape [2, 7]: expected [batch, t] with 1 <= t <= context_length 6");
    assertThatThrownBy(() -> text.forward(Nd4j.createFromArray(new long[][] {{1, 20}})))
        .hasMessage("Cannot look up token id 20 at flat position 1 in token_embedding.weight: ids must lie in [0, 20)");
    assertThatThrownBy(() -> text.backward(Nd4j.zeros(DataType.DOUBLE, 2, EMBED)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Cannot run backward through the text tower: no forward pass");
  }

  private static long[][] copy(long[][] a) {
    long[][] c = new long[a.length][];
    for (int i = 0; i < a.length; i++) {
      c[i] = a[i].clone();
    }
    return c;
  }
}
