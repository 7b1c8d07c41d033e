package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class SoftPromptCaptionerTest {

  private static final LmConfig TINY = new LmConfig("t", 11, 12, 8, 1, 2, 1e-5);

  @Test
  void trainingPChangesPAndLeavesTheLanguageModelBitIdentical() {
    Gpt2Model lm = Gpt2Model.initialize(TINY, 1, DataType.FLOAT);
    Map<String, INDArray> before = new HashMap<>();
    for (String name : lm.parameters().names()) {
      before.put(name, lm.parameters().value(name).dup());
    }
    ParameterSet p = SoftPromptMap.initialize(5, 3, 8, 2, DataType.FLOAT);
    INDArray p0 = p.value(SoftPromptMap.WEIGHT).dup();
    var captioner = new SoftPromptCaptioner(lm, new SoftPromptMap(p, 3));
    var optimizer = new AdamW(p, Set.of(SoftPromptMap.WEIGHT), 0.9, 0.98, 1e-6, 0.0);
    INDArray features = Nd4j.rand(DataType.FLOAT, 4, 5);
    int[][] captions = {{1, 2, 10, 10}, {3, 4, 5, 10}, {6, 10, 10, 10}, {7, 8, 9, 10}};
    int[] lengths = {3, 4, 2, 4};
    double first = Double.NaN;
    double last = Double.NaN;
    for (int step = 0; step < 30; step++) {
      p.zeroGradients();
      lm.parameters().zeroGradients();
      last = captioner.forwardBackward(features, captions, lengths).loss();
      first = step == 0 ? last : first;
      optimizer.step(1e-2);
    }
    for (String name : lm.parameters().names()) {
      assertThat(lm.parameters().value(name)).as(name).isEqualTo(before.get(name));
    }
    assertThat(p.value(SoftPromptMap.WEIGHT)).isNotEqualTo(p0);
    assertThat(last).isLessThan(first);
  }

  @Test
  void targetsScoreTheCaptionAfterTheLastPrompt() {
    int[][] t = SoftPromptCaptioner.targets(2, new int[][] {{5, 6, 9}, {7, 9, 9}}, new int[] {3, 2});
    assertThat(t[0]).containsExactly(-1, 5, 6, 9, -1);
    assertThat(t[1]).containsExactly(-1, 7, 9, -1, -1);
  }

  @Test
  void promptWidthMustBeTheModelsEmbeddingWidth() {
    Gpt2Model lm = Gpt2Model.initialize(TINY, 1, DataType.FLOAT);
    var map = new SoftPromptMap(SoftPromptMap.initialize(5, 2, 6, 2, DataType.FLOAT), 2);
    assertThatThrownBy(() -> new SoftPromptCaptioner(lm, map)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot feed soft prompts of width 6 to t: its embedding width n_embd is 8");
    assertThatThrownBy(() -> new SoftPromptMap(SoftPromptMap.initialize(5, 2, 6, 2, DataType.FLOAT), 5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot split proj.weight of 12 rows into 5 soft prompts: k must be at least 1 and divide the rows");
  }
}
