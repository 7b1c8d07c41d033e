package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class Gpt2TransformerTest {

  private static final int VOCAB = 7;
  private static final int CTX = 5;
  private static final int WIDTH = 4;
  private static final int HEADS = 2;
  private static final int LAYERS = 2;
  private static final double EPS = 1e-5;

  /** Random GPT-2 parameters with Hugging Face's names and Conv1D [in, out] layouts. */
  private static ParameterSet gpt2(Random r) {
    return gpt2(r, LAYERS);
  }

  private static ParameterSet gpt2(Random r, int layers) {
    var p = new ParameterSet();
    p.add("wte.weight", normal(r, 0, 0.5, VOCAB, WIDTH));
    p.add("wpe.weight", normal(r, 0, 0.5, CTX, WIDTH));
    for (int i = 0; i < layers; i++) {
      String b = "h." + i;
      NnFixtures.layerNorm(p, r, b + ".ln_1", WIDTH);
      conv1D(p, r, b + ".attn.c_attn", WIDTH, 3 * WIDTH);
      conv1D(p, r, b + ".attn.c_proj", WIDTH, WIDTH);
      NnFixtures.layerNorm(p, r, b + ".ln_2", WIDTH);
      conv1D(p, r, b + ".mlp.c_fc", WIDTH, 4 * WIDTH);
      conv1D(p, r, b + ".mlp.c_proj", 4 * WIDTH, WIDTH);
    }
    NnFixtures.layerNorm(p, r, "ln_f", WIDTH);
    return p;
  }

  private static void conv1D(ParameterSet p, Random r, String prefix, long in, long out) {
    p.add(prefix + ".weight", normal(r, 0, 1 / Math.sqrt(in), in, out));
    p.add(prefix + ".bias", normal(r, 0, 0.3, out));
  }

  @Test
  void forwardIsGpt2WithLearnedPositionsPreNormBlocksGeluTanhAndTiedHead() {
    var r = new Random(1);
    ParameterSet p = gpt2(r);
    int[][] ids = {{3, 1, 4, 1}, {5, 0, 6, 6}};
    INDArray logits = new Gpt2Transformer(p, LAYERS, HEADS, EPS).forward(Nd4j.createFromArray(ids));
    assertThat(logits.shape()).containsExactly(2, 4, VOCAB);
    double[][] wte = p.value("wte.weight").toDoubleMatrix();
    double[][] wpe = p.value("wpe.weight").toDoubleMatrix();
    for (int b = 0; b < 2; b++) {
      double[][] x = new double[4][WIDTH];
      for (int i = 0; i < 4; i++) {
        for (int c = 0; c < WIDTH; c++) {
          x[i][c] = wte[ids[b][i]][c] + wpe[i][c];
        }
      }
      for (int l = 0; l < LAYERS; l++) {
        x = block(x, p, "h." + l);
      }
      double[][] h = NnFixtures.layerNorm(x, p, "ln_f");
      // The head is wte itself: logits = h wte^T.
      double[][] expected = NnFixtures.linear(h, wte, null);
      NnFixtures.assertSequence(logits, b, expected, 1e-12);
    }
  }

  /** One GPT-2 block by loops: the CLIP reference block's attention on transposed Conv1D weights, GELU-tanh MLP. */
  private static double[][] block(double[][] x, ParameterSet p, String prefix) {
    var clipNamed = new ParameterSet();
    clipNamed.add("a.in_proj_weight", p.value(prefix + ".attn.c_attn.weight").transpose().dup());
    clipNamed.add("a.in_proj_bias", p.value(prefix + ".attn.c_attn.bias"));
    clipNamed.add("a.out_proj.weight", p.value(prefix + ".attn.c_proj.weight").transpose().dup());
    clipNamed.add("a.out_proj.bias", p.value(prefix + ".attn.c_proj.bias"));
    double[][] h = NnFixtures.plus(x, NnFixtures.attention(NnFixtures.layerNorm(x, p, prefix + ".ln_1"), clipNamed, "a",
        HEADS, true));
    double[][] hidden = NnFixtures.linear(NnFixtures.layerNorm(h, p, prefix + ".ln_2"),
        p.value(prefix + ".mlp.c_fc.weight").transpose().toDoubleMatrix(), p.value(prefix + ".mlp.c_fc.bias").toDoubleVector());
    for (double[] row : hidden) {
      for (int j = 0; j < row.length; j++) {
        double v = row[j];
        row[j] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
      }
    }
    return NnFixtures.plus(h, NnFixtures.linear(hidden, p.value(prefix + ".mlp.c_proj.weight").transpose().toDoubleMatrix(),
        p.value(prefix + ".mlp.c_proj.bias").toDoubleVector()));
  }

  @Test
  void laterTokensDoNotChangeEarlierLogits() {
    ParameterSet p = gpt2(new Random(2));
    var model = new Gpt2Transformer(p, LAYERS, HEADS, EPS);
    INDArray a = model.forward(Nd4j.createFromArray(new int[][] {{1, 2, 3, 4}}));
    INDArray b = model.forward(Nd4j.createFromArray(new int[][] {{1, 2, 6, 0}}));
    for (int i = 0; i < 2; i++) {
      for (int v = 0; v < VOCAB; v++) {
        assertThat(b.getDouble(0, i, v)).isCloseTo(a.getDouble(0, i, v), within(1e-12));
      }
    }
    assertThat(b.getDouble(0, 2, 0)).isNotCloseTo(a.getDouble(0, 2, 0), within(1e-6));
  }

  @Test
  void gradientsOfEveryParameterMatchFiniteDifferencesWithTheTiedTableFedFromBothUses() {
    // One block keeps the check fast (each finite difference runs the whole model); the forward test covers depth.
    var r = new Random(3);
    ParameterSet p = gpt2(r, 1);
    var model = new Gpt2Transformer(p, 1, HEADS, EPS);
    // Id 1 repeats; ids 2 and 6 never occur, so their rows of wte get gradient from the head alone.
    INDArray ids = Nd4j.createFromArray(new int[][] {{3, 1, 4, 1, 5}, {0, 1, 4, 3, 5}});
    // All of wte (28) and wpe (20), every LayerNorm, bias and c_proj.weight element, 28 of each larger weight.
    var result = GradientCheck.checkParameters(model, p, ids, 28, 4, 1e-5, 1e-8);
    assertThat(result.checked()).isEqualTo(28 + 20 + 3 * 8 + 28 + 12 + 16 + 4 + 28 + 16 + 28 + 4);
    model.forward(ids);
    p.zeroGradients();
    model.backward(normal(new Random(5), 0, 1, 2, 5, VOCAB));
    INDArray g = p.gradient("wte.weight");
    assertThat(g.getRow(2).norm2Number().doubleValue()).isGreaterThan(0);
    assertThat(g.getRow(6).norm2Number().doubleValue()).isGreaterThan(0);
    // Positions past t = 5 of wpe receive nothing.
    assertThat(p.gradient("wpe.weight").norm2Number().doubleValue()).isGreaterThan(0);
  }

  @Test
  void gradientsThroughInputEmbeddingsMatchFiniteDifferences() {
    var r = new Random(6);
    ParameterSet p = gpt2(r, 1);
    var model = new Gpt2Transformer(p, 1, HEADS, EPS);
    Layer embeddingsPath = new Layer() {
      @Override
      public INDArray forward(INDArray input) {
        return model.forwardEmbeddings(input);
      }

      @Override
      public INDArray backward(INDArray gradOutput) {
        return model.backwardEmbeddings(gradOutput);
      }
    };
    INDArray embeddings = normal(r, 0, 1, 2, 3, WIDTH);
    INDArray before = embeddings.dup();
    var result = GradientCheck.checkSampled(embeddingsPath, p, embeddings, 24, 7, 1e-5, 1e-8);
    assertThat(result.checked()).isGreaterThan(24 + 24);
    model.forwardEmbeddings(embeddings);
    assertThat(embeddings).isEqualTo(before);
  }

  @Test
  void embeddingsOfTokensGiveTheSameLogitsAsTheTokens() {
    ParameterSet p = gpt2(new Random(8));
    var model = new Gpt2Transformer(p, LAYERS, HEADS, EPS);
    int[][] ids = {{2, 6, 1}};
    INDArray fromIds = model.forward(Nd4j.createFromArray(ids));
    INDArray embeds = Nd4j.pullRows(p.value("wte.weight"), 1, ids[0]).reshape(1, 3, WIDTH);
    INDArray fromEmbeds = model.forwardEmbeddings(embeds);
    assertThat(fromEmbeds.sub(fromIds).amaxNumber().doubleValue()).isLessThan(1e-12);
  }

  @Test
  void rejectsSequencesLongerThanTheContextAndIdsOutsideTheVocabulary() {
    var model = new Gpt2Transformer(gpt2(new Random(9)), LAYERS, HEADS, EPS);
    assertThatThrownBy(() -> model.forward(Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.INT, 1, CTX + 1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot run the language model on 6 positions: must be between 1 and n_ctx 5");
    assertThatThrownBy(() -> model.forward(Nd4j.createFromArray(new int[][] {{1, VOCAB}})))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("token id 7").hasMessageContaining("[0, 7)");
  }

  @Test
  void softPromptMapGradientsThroughTheFrozenModelMatchFiniteDifferences() {
    var r = new Random(10);
    var lm = dev.clipspark.training.lm.Gpt2Model.create(
        new dev.clipspark.training.lm.LmConfig("t", VOCAB, CTX, WIDTH, 1, HEADS, EPS), gpt2(r, 1));
    int k = 2;
    var p = new ParameterSet().add("proj.weight", normal(r, 0, 0.5, k * WIDTH, 3)).add("proj.bias", normal(r, 0, 0.3,
        k * WIDTH));
    var captioner = new dev.clipspark.training.lm.SoftPromptCaptioner(lm,
        new dev.clipspark.training.lm.SoftPromptMap(p, k));
    int[][] captions = {{3, 1, 6}, {0, 6, 6}};
    Layer throughLm = new Layer() {
      @Override
      public INDArray forward(INDArray features) {
        return captioner.logits(features, captions);
      }

      @Override
      public INDArray backward(INDArray gradOutput) {
        return captioner.backward(gradOutput);
      }
    };
    // Every element of P (weight 24, bias 8) and of the image encodings (6).
    var result = GradientCheck.check(throughLm, p, normal(r, 0, 1, 2, 3), 11, 1e-5, 1e-8);
    assertThat(result.checked()).isEqualTo(6 + 24 + 8);
  }

  @Test
  void gridSoftPromptMapGradientsThroughTheFrozenModelMatchFiniteDifferences() {
    var r = new Random(11);
    var lm = dev.clipspark.training.lm.Gpt2Model.create(
        new dev.clipspark.training.lm.LmConfig("t", VOCAB, CTX, WIDTH, 1, HEADS, EPS), gpt2(r, 1));
    int positions = 2;
    int channels = 3;
    var p = new ParameterSet().add("proj.weight", normal(r, 0, 0.5, WIDTH, channels)).add("proj.bias",
        normal(r, 0, 0.3, WIDTH));
    var map = dev.clipspark.training.lm.SoftPromptMap.grid(p, positions);
    assertThat(map.isGrid()).isTrue();
    assertThat(map.prompts()).isEqualTo(positions);
    var captioner = new dev.clipspark.training.lm.SoftPromptCaptioner(lm, map);
    int[][] captions = {{3, 1, 6}, {0, 6, 6}};
    Layer throughLm = new Layer() {
      @Override
      public INDArray forward(INDArray features) {
        return captioner.logits(features, captions);
      }

      @Override
      public INDArray backward(INDArray gradOutput) {
        return captioner.backward(gradOutput);
      }
    };
    // Every element of P (weight 12, bias 4) and of the grids (2 x 2 x 3).
    var result = GradientCheck.check(throughLm, p, normal(r, 0, 1, 2, positions, channels), 12, 1e-5, 1e-8);
    assertThat(result.checked()).isEqualTo(12 + WIDTH * channels + WIDTH);
    assertThatThrownBy(() -> map.forward(normal(r, 0, 1, 2, channels)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot map image grids of shape [2, 3]: expected [batch, 2, 3]");
  }
}
