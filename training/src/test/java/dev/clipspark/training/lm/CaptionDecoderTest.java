package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.nn.Gpt2Transformer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

class CaptionDecoderTest {

  /** 13 tokens, 24 positions, width 8, 2 layers, 2 heads; the end token is 12. */
  private static final LmConfig TINY = new LmConfig("t", 13, 24, 8, 2, 2, 1e-5);
  private static final int END = 12;

  /** A random model in double precision with peaked next-token distributions (embeddings scaled up). */
  private static Gpt2Model model(long seed) {
    Gpt2Model lm = Gpt2Model.initialize(TINY, seed, DataType.DOUBLE);
    lm.parameters().value("wte.weight").muli(60);
    lm.parameters().value("wpe.weight").muli(30);
    return lm;
  }

  private static INDArray prefix(long seed, int batch, int positions) {
    var r = new Random(seed);
    double[] v = new double[batch * positions * TINY.nEmbd()];
    for (int i = 0; i < v.length; i++) {
      v[i] = r.nextGaussian();
    }
    return Nd4j.createFromArray(v).reshape('c', batch, positions, TINY.nEmbd());
  }

  private static INDArray row(INDArray prefix, int b) {
    return prefix.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.all()).dup('c');
  }

  private static List<CaptionDecoder.Generated> decode(Gpt2Model lm, INDArray prefix, Decoding d, long... seeds) {
    return new CaptionDecoder(END, d).decode(Gpt2Scorer.start(lm, prefix, TINY.nCtx()),
        seeds.length == 0 ? null : seeds);
  }

  @Test
  void cachedLogitsEqualTheFullForwardPass() {
    Gpt2Model lm = model(1);
    Gpt2Transformer tr = lm.transformer();
    INDArray seq = prefix(2, 3, 7);
    INDArray full = tr.forwardEmbeddings(seq);
    Gpt2Transformer.Cache cache = tr.newCache(10);
    INDArray a = tr.forwardCached(seq.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 3), NDArrayIndex.all()), cache);
    INDArray b = tr.forwardCached(seq.get(NDArrayIndex.all(), NDArrayIndex.interval(3, 4), NDArrayIndex.all()), cache);
    INDArray c = tr.forwardCached(seq.get(NDArrayIndex.all(), NDArrayIndex.interval(4, 7), NDArrayIndex.all()), cache);
    INDArray pieces = Nd4j.concat(1, a, b, c);
    assertThat(cache.length()).isEqualTo(7);
    assertThat(maxAbsDiff(pieces, full)).isLessThan(1e-9);
    assertThat(full.amaxNumber().doubleValue()).isGreaterThan(1);
    // Rows kept, reordered and repeated (as beam search does) continue as their own sequences.
    cache.select(new int[] {2, 0, 2});
    INDArray more = prefix(3, 3, 1);
    INDArray next = tr.forwardCached(more, cache);
    INDArray reordered = Nd4j.concat(0, row(seq, 2), row(seq, 0), row(seq, 2));
    INDArray expected = tr.forwardEmbeddings(Nd4j.concat(1, reordered, more));
    assertThat(maxAbsDiff(next, expected.get(NDArrayIndex.all(), NDArrayIndex.interval(7, 8), NDArrayIndex.all())))
        .isLessThan(1e-9);
    assertThatThrownBy(() -> tr.forwardCached(prefix(4, 3, 3), cache))
        .hasMessageContaining("Cannot run the language model on 3 more positions after 8: at most 10 fit");
    assertThatThrownBy(() -> tr.newCache(25)).hasMessageContaining("must be between 1 and n_ctx 24");
  }

  @Test
  void greedyIsTheArgmaxOfAFullForwardPassAtEveryStep() {
    Gpt2Model lm = model(3);
    for (long s = 0; s < 4; s++) {
      INDArray seq = prefix(10 + s, 1, 2);
      var expected = new ArrayList<Integer>();
      double logp = 0;
      boolean ended = false;
      for (int step = 0; step < 12; step++) {
        INDArray logits = lm.transformer().forwardEmbeddings(seq);
        double[] last = logits.get(NDArrayIndex.point(0), NDArrayIndex.point(seq.size(1) - 1), NDArrayIndex.all())
            .toDoubleVector();
        int t = CaptionDecoder.argmax(last);
        logp += CaptionDecoder.logSoftmax(last)[t];
        if (t == END) {
          ended = true;
          break;
        }
        expected.add(t);
        seq = Nd4j.concat(1, seq, lm.transformer().embed(t).reshape(1, 1, TINY.nEmbd()));
      }
      var g = decode(lm, prefix(10 + s, 1, 2), Decoding.greedy(12)).get(0);
      assertThat(g.tokens()).containsExactly(expected.stream().mapToInt(Integer::intValue).toArray());
      assertThat(g.finished()).isEqualTo(ended);
      assertThat(g.logProbability()).isCloseTo(logp, within(1e-9));
      var uncached = new CaptionDecoder(END, Decoding.greedy(12))
          .decode(Gpt2Scorer.startUncached(lm, prefix(10 + s, 1, 2), TINY.nCtx()), null).get(0);
      assertThat(uncached.tokens()).isEqualTo(g.tokens());
    }
  }

  @Test
  void beamWidthOneIsGreedy() {
    Gpt2Model lm = model(4);
    INDArray p = prefix(5, 6, 3);
    var greedy = decode(lm, p, Decoding.greedy(15));
    for (double alpha : new double[] {0, 1, 2}) {
      var beam = decode(lm, p, Decoding.defaults().withBeamWidth(1).withLengthPenalty(alpha).withMaxTokens(15));
      for (int i = 0; i < 6; i++) {
        assertThat(beam.get(i).tokens()).as("row %d, alpha %s", i, alpha).isEqualTo(greedy.get(i).tokens());
      }
    }
  }

  @Test
  void aBatchDecodesLikeEachRowAlone() {
    Gpt2Model lm = model(5);
    INDArray p = prefix(6, 4, 3);
    long[] seeds = {11, 12, 13, 14};
    for (Decoding d : List.of(Decoding.greedy(10), Decoding.defaults().withBeamWidth(3).withMaxTokens(10),
        Decoding.defaults().withStrategy(Decoding.Strategy.NUCLEUS).withTemperature(1.5).withMaxTokens(10))) {
      var batch = decode(lm, p, d, seeds);
      for (int i = 0; i < 4; i++) {
        var alone = decode(lm, row(p, i), d, seeds[i]).get(0);
        assertThat(batch.get(i).tokens()).as("%s row %d", d.strategy(), i).isEqualTo(alone.tokens());
        assertThat(batch.get(i).logProbability()).isCloseTo(alone.logProbability(), within(1e-9));
      }
    }
  }

  @Test
  void samplingIsDeterministicPerSeedAndDependsOnIt() {
    Gpt2Model lm = model(6);
    INDArray p = prefix(7, 8, 2);
    Decoding d = Decoding.defaults().withStrategy(Decoding.Strategy.NUCLEUS).withTopP(0.95).withTemperature(3)
        .withMaxTokens(12);
    long[] seeds = new long[8];
    long[] other = new long[8];
    for (int i = 0; i < 8; i++) {
      seeds[i] = CaptionDecoder.rowSeed(42, "key-" + i);
      other[i] = CaptionDecoder.rowSeed(43, "key-" + i);
    }
    var a = decode(lm, p, d, seeds);
    var b = decode(lm, p, d, seeds);
    var c = decode(lm, p, d, other);
    int differ = 0;
    for (int i = 0; i < 8; i++) {
      assertThat(a.get(i).tokens()).isEqualTo(b.get(i).tokens());
      differ += Arrays.equals(a.get(i).tokens(), c.get(i).tokens()) ? 0 : 1;
    }
    assertThat(differ).isGreaterThan(0);
    // A tiny top-p keeps only the most likely token: sampling is then greedy.
    var narrow = decode(lm, p, d.withTopP(1e-9).withTemperature(1), seeds);
    var greedy = decode(lm, p, Decoding.greedy(12));
    for (int i = 0; i < 8; i++) {
      assertThat(narrow.get(i).tokens()).isEqualTo(greedy.get(i).tokens());
    }
  }

  @Test
  void sequencesNeverOutgrowTheContext() {
    Gpt2Model lm = model(7);
    // A prefix of 20 positions leaves 24 - 20 + 1 = 5 tokens, however many are asked for.
    INDArray p = prefix(8, 2, 20);
    for (Decoding d : List.of(Decoding.greedy(1000), Decoding.defaults().withBeamWidth(3).withMaxTokens(1000))) {
      for (var g : decode(lm, p, d)) {
        assertThat(g.tokens().length + (g.finished() ? 1 : 0)).isLessThanOrEqualTo(5);
      }
    }
    // A full context still yields one token.
    assertThat(decode(lm, prefix(9, 1, 24), Decoding.greedy(50)).get(0).tokens().length).isLessThanOrEqualTo(1);
    assertThatThrownBy(() -> Gpt2Scorer.start(lm, prefix(9, 1, 25), 100))
        .hasMessageContaining("Cannot start sequences from a prefix of 25 positions: t holds at most n_ctx 24");
  }

  @Test
  void beamSearchFindsAMoreLikelyCaptionThanGreedyWhereGreedyIsMyopic() {
    // From the start, "a" (0.55) beats "b" (0.45); after "a" every continuation is unlikely (c 0.34, d 0.33,
    // end 0.33) and after "c" or "d" the end is certain; after "b" the end has 0.99.
    // Greedy: a c <end>, probability 0.55 x 0.34 = 0.187; the best caption: b <end>, 0.45 x 0.99 = 0.4455.
    double[][] table = new double[5][];
    table[4] = new double[] {0, 0.55, 0.45, 0, 0}; // start
    table[1] = new double[] {0.33, 0, 0, 0.34, 0.33};
    table[2] = new double[] {0.99, 0.005, 0.005, 0, 0};
    table[3] = new double[] {1, 0, 0, 0, 0};
    table[0] = new double[] {1, 0, 0, 0, 0};
    var greedy = new CaptionDecoder(0, Decoding.greedy(10)).decode(new Markov(table, 2), null).get(0);
    assertThat(greedy.tokens()).containsExactly(1, 3);
    assertThat(greedy.logProbability()).isCloseTo(Math.log(0.55 * 0.34 * 1), within(1e-12));
    for (double alpha : new double[] {0, 1}) {
      var beam = new CaptionDecoder(0, Decoding.defaults().withBeamWidth(2).withLengthPenalty(alpha).withMaxTokens(10))
          .decode(new Markov(table, 2), null);
      for (var g : beam) {
        assertThat(g.tokens()).containsExactly(2);
        assertThat(g.logProbability()).isCloseTo(Math.log(0.45 * 0.99), within(1e-12));
        assertThat(g.logProbability()).isGreaterThan(greedy.logProbability());
        assertThat(g.finished()).isTrue();
      }
    }
  }

  @Test
  void badSettingsAreNamed() {
    assertThatThrownBy(() -> Decoding.defaults().withTopP(1.5))
        .hasMessage("Cannot set lm.decode.top-p to 1.5: must be above 0 and at most 1");
    assertThatThrownBy(() -> Decoding.defaults().withTemperature(0))
        .hasMessage("Cannot set lm.decode.temperature to 0.0: must be above 0 and at most 100");
    assertThatThrownBy(() -> Decoding.defaults().withBeamWidth(0))
        .hasMessage("Cannot set lm.decode.beam-width to 0: must be between 1 and 1000");
    assertThatThrownBy(() -> Decoding.greedy(0))
        .hasMessage("Cannot set lm.decode.max-tokens to 0: must be between 1 and 100000");
    assertThatThrownBy(() -> Decoding.Strategy.parse("--decode", "topk"))
        .hasMessage("Cannot set --decode to topk: must be greedy, beam or nucleus");
    assertThatThrownBy(() -> new CaptionDecoder(99, Decoding.greedy(3)).decode(Gpt2Scorer.start(model(1),
        prefix(1, 1, 1), 24), null)).hasMessage("Cannot stop at token 99: the vocabulary has 13 tokens");
  }

  private static double maxAbsDiff(INDArray a, INDArray b) {
    return Transforms.abs(a.sub(b)).maxNumber().doubleValue();
  }

  /** A first-order Markov chain over a probability table (row: last token; the start row is the last). */
  private static final class Markov implements TokenScorer {
    private final double[][] table;
    private int[] last;
    private int length = 1;

    Markov(double[][] table, int batch) {
      this.table = table;
      this.last = new int[batch];
      Arrays.fill(last, table.length - 1);
    }

    @Override
    public int vocabSize() {
      return table[0].length;
    }

    @Override
    public int batch() {
      return last.length;
    }

    @Override
    public int length() {
      return length;
    }

    @Override
    public int maxLength() {
      return 100;
    }

    @Override
    public double[][] logits() {
      double[][] out = new double[last.length][];
      for (int i = 0; i < last.length; i++) {
        out[i] = Arrays.stream(table[last[i]]).map(Math::log).toArray();
      }
      return out;
    }

    @Override
    public void append(int[] tokens) {
      last = tokens.clone();
      length++;
    }

    @Override
    public void select(int[] rows) {
      int[] kept = new int[rows.length];
      for (int i = 0; i < rows.length; i++) {
        kept[i] = last[rows[i]];
      }
      last = kept;
    }
  }
}
