package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clipspark.dataset.source.SyntheticShapes;
import dev.clipspark.training.optim.AdamW;
import dev.clipspark.training.optim.GradientClipping;
import dev.clipspark.training.optim.LearningRateSchedule;
import dev.clipspark.training.tokenizer.Gpt2BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A tiny GPT-2 with a byte-level BPE learned from the synthetic coloured-shape captions, trained briefly with
 * AdamW: on held-out captions its next-token loss falls well below the unigram entropy of their tokens (the loss
 * of the best predictor that ignores the context), so it learns from context, not just token frequencies.
 */
class Gpt2LearnsTest {

  private static List<String> captions(long seed, int n) {
    var rnd = new SplittableRandom(seed);
    var out = new ArrayList<String>();
    for (int i = 0; i < n; i++) {
      out.add(SyntheticShapes.caption(SyntheticShapes.classOf(rnd.nextInt(1 << 20)), rnd));
    }
    return out;
  }

  /** {@code <|endoftext|> caption <|endoftext|>}: the first token is predicted from the start token. */
  private static int[] row(Gpt2Tokenizer t, String caption) {
    int[] ids = t.encode(caption);
    int[] row = new int[ids.length + 2];
    row[0] = t.endOfText();
    System.arraycopy(ids, 0, row, 1, ids.length);
    row[row.length - 1] = t.endOfText();
    return row;
  }

  private static NextTokenLoss.Result batchLoss(Gpt2Model model, List<int[]> rows, boolean backward) {
    int t = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
    int[][] tokens = new int[rows.size()][t];
    int[] lengths = new int[rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      System.arraycopy(rows.get(i), 0, tokens[i], 0, rows.get(i).length);
      lengths[i] = rows.get(i).length;
    }
    if (backward) {
      return model.forwardBackward(tokens, lengths);
    }
    return NextTokenLoss.compute(model.logits(Nd4j.createFromArray(tokens)), NextTokenLoss.shiftedTargets(tokens,
        lengths));
  }

  @Test
  void nextTokenLossFallsWellBelowTheUnigramEntropy() {
    List<String> train = captions(1, 2000);
    List<String> heldOut = captions(2, 200);
    Gpt2Tokenizer tokenizer = Gpt2BpeTrainer.learn(train, 320);
    var config = new LmConfig("test-tiny", tokenizer.vocabSize(), 32, 32, 2, 4, 1e-5);
    Gpt2Model model = Gpt2Model.initialize(config, 3, DataType.FLOAT);
    var optimizer = new AdamW(model.parameters(), AdamW.decayedNames(Gpt2Parameters.specs(config)), 0.9, 0.98, 1e-6,
        0.01);
    int steps = 80;
    int batch = 16;
    LearningRateSchedule schedule = LearningRateSchedule.cosine(5e-3, 8, steps);
    var rows = new ArrayList<int[]>();
    for (String c : train) {
      rows.add(row(tokenizer, c));
    }
    var test = new ArrayList<int[]>();
    for (String c : heldOut) {
      test.add(row(tokenizer, c));
    }
    double before = batchLoss(model, test, false).loss();
    var rnd = new SplittableRandom(4);
    for (int step = 0; step < steps; step++) {
      var b = new ArrayList<int[]>();
      for (int i = 0; i < batch; i++) {
        b.add(rows.get(rnd.nextInt(rows.size())));
      }
      model.parameters().zeroGradients();
      batchLoss(model, b, true);
      GradientClipping.clipByGlobalNorm(model.parameters(), 1.0);
      optimizer.step(schedule.at(step));
    }
    NextTokenLoss.Result after = batchLoss(model, test, false);
    // Unigram entropy (nats) of the held-out targets: what a context-free predictor scores at best.
    Map<Integer, Integer> counts = new HashMap<>();
    long n = 0;
    for (int[] r : test) {
      for (int i = 1; i < r.length; i++) {
        counts.merge(r[i], 1, Integer::sum);
        n++;
      }
    }
    double entropy = 0;
    for (int c : counts.values()) {
      double p = (double) c / n;
      entropy -= p * Math.log(p);
    }
    System.out.printf("Gpt2LearnsTest: vocabulary %d, %,d parameters, %d steps of %d captions: held-out loss %.3f"
            + " -> %.3f nats/token (accuracy %.3f); unigram entropy %.3f, uniform %.3f%n", tokenizer.vocabSize(),
        model.parameters().elementCount(), steps, batch, before, after.loss(), after.accuracy(), entropy,
        Math.log(tokenizer.vocabSize()));
    assertThat(after.loss()).isLessThan(0.7 * entropy);
    assertThat(before).isGreaterThan(entropy);
  }
}
