package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.nn.ParameterSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * K workers as K threads of one JVM (in-process collective), each with its share of a global batch of rows of
 * different lengths, in micro-batches, against {@link Gpt2Model#forwardBackward} on the whole batch at once, in
 * double precision.
 */
class LmTrainStepTest {

  static final LmConfig TINY = new LmConfig("step-tiny", 40, 12, 16, 2, 2, 1e-5);
  static final int N = 12;

  static List<int[]> rows(long seed) {
    var random = new Random(seed);
    var out = new ArrayList<int[]>();
    for (int i = 0; i < N; i++) {
      int[] r = new int[2 + random.nextInt(TINY.nCtx() - 1)];
      for (int j = 0; j < r.length; j++) {
        r[j] = random.nextInt(TINY.vocabSize());
      }
      out.add(r);
    }
    return out;
  }

  static double maxRelative(INDArray a, INDArray b) {
    double scale = Math.max(Transforms.abs(b).maxNumber().doubleValue(), 1e-30);
    return Transforms.abs(a.sub(b)).maxNumber().doubleValue() / scale;
  }

  @Test
  void kWorkersInMicroBatchesGiveTheWholeBatchsGradientInDouble() throws Exception {
    List<int[]> rows = rows(3);
    int t = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
    int[][] tokens = new int[N][t];
    int[] lengths = new int[N];
    for (int i = 0; i < N; i++) {
      System.arraycopy(rows.get(i), 0, tokens[i], 0, rows.get(i).length);
      lengths[i] = rows.get(i).length;
    }
    Gpt2Model reference = Gpt2Model.initialize(TINY, 11, DataType.DOUBLE);
    reference.parameters().zeroGradients();
    NextTokenLoss.Result expected = reference.forwardBackward(tokens, lengths);
    long scored = LmCorpus.scored(rows);
    assertThat(scored).isEqualTo(expected.scored());

    for (int k : new int[] {1, 2, 4}) {
      for (int micro : new int[] {N / k, 2, 1}) {
        List<Collective> collectives = Collectives.inProcess(k);
        ExecutorService pool = Executors.newFixedThreadPool(k);
        try {
          var futures = new ArrayList<Future<Object[]>>();
          for (Collective c : collectives) {
            Gpt2Model model = Gpt2Model.initialize(TINY, 11, DataType.DOUBLE);
            List<int[]> share = rows.subList(c.rank() * N / k, (c.rank() + 1) * N / k);
            futures.add(pool.submit(() -> new Object[] {new LmTrainStep(model, c, micro).run(share, scored),
                model.parameters()}));
          }
          for (Future<Object[]> f : futures) {
            Object[] out = f.get(120, TimeUnit.SECONDS);
            LmTrainStep.Result r = (LmTrainStep.Result) out[0];
            ParameterSet params = (ParameterSet) out[1];
            assertThat(r.loss()).as("K=%d micro=%d", k, micro).isCloseTo(expected.loss(),
                org.assertj.core.data.Offset.offset(1e-12));
            assertThat(r.accuracy()).isEqualTo(expected.accuracy());
            for (String name : params.names()) {
              assertThat(maxRelative(params.gradient(name), reference.parameters().gradient(name)))
                  .as("K=%d micro=%d %s", k, micro, name).isLessThan(1e-10);
            }
          }
        } finally {
          pool.shutdownNow();
          collectives.forEach(Collective::close);
        }
      }
    }
  }

  @Test
  void aStepStartsFromZeroGradients() {
    Gpt2Model model = Gpt2Model.initialize(TINY, 11, DataType.DOUBLE);
    List<int[]> rows = rows(4);
    var step = new LmTrainStep(model, null, 4);
    step.run(rows, LmCorpus.scored(rows));
    INDArray first = model.parameters().gradient("wte.weight").dup();
    step.run(rows, LmCorpus.scored(rows));
    assertThat(model.parameters().gradient("wte.weight")).isEqualTo(first);
  }
}
