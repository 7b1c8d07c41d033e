package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
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
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** K workers as K threads of one JVM (in-process collective) against one process computing the whole batch. */
class DistributedTrainStepTest {

  static final ModelConfig VIT = new ModelConfig("dist-vit", 8, VisionConfig.vit(8, 1, 16, 4, 8),
      new TextConfig(6, 20, 16, 2, 1));
  static final int N = 12;

  interface Body<T> {
    T run(Collective collective, ClipModel model) throws Exception;
  }

  /** Runs {@code body} on K threads, each with its own copy of the same model. */
  static <T> List<T> onWorkers(int k, ModelConfig config, DataType type, Body<T> body) throws Exception {
    List<Collective> collectives = Collectives.inProcess(k);
    ExecutorService pool = Executors.newFixedThreadPool(k);
    try {
      var futures = new ArrayList<Future<T>>();
      for (Collective c : collectives) {
        ClipModel model = ClipModel.create(config, ClipParameters.initialize(config, 7, type));
        futures.add(pool.submit(() -> body.run(c, model)));
      }
      var results = new ArrayList<T>();
      for (Future<T> f : futures) {
        results.add(f.get(120, TimeUnit.SECONDS));
      }
      return results;
    } finally {
      pool.shutdownNow();
      collectives.forEach(Collective::close);
    }
  }

  static INDArray rows(INDArray a, int rank, int k) {
    long n = a.size(0) / k;
    return a.get(NDArrayIndex.interval(rank * n, (rank + 1) * n)).dup('c');
  }

  @Test
  void gradientsOfKWorkersEqualTheWholeBatchsInDouble() throws Exception {
    INDArray images = Nd4j.randn(new Random(1).nextLong(), new long[] {N, 3, 8, 8}).castTo(DataType.DOUBLE);
    INDArray tokens = TrainBenchmark.syntheticTokens(new Random(2), N, 6, 20);
    ClipModel reference = ClipModel.create(VIT, ClipParameters.initialize(VIT, 7, DataType.DOUBLE));
    TrainStep.Result expected = new TrainStep(reference, N).run(images, tokens);
    for (int k : new int[] {1, 2, 4}) {
      for (int micro : new int[] {N / k, N / k / (k == 4 ? 3 : 2)}) {
        List<Object[]> results = onWorkers(k, VIT, DataType.DOUBLE, (c, model) -> {
          TrainStep.Result r = new DistributedTrainStep(model, c, micro, 5)
              .run(rows(images, c.rank(), k), rows(tokens, c.rank(), k));
          return new Object[] {r, model.parameters()};
        });
        for (Object[] result : results) {
          TrainStep.Result r = (TrainStep.Result) result[0];
          ParameterSet params = (ParameterSet) result[1];
          assertThat(r.loss()).as("K=%d micro=%d", k, micro)
              .isCloseTo(expected.loss(), org.assertj.core.api.Assertions.within(1e-12));
          for (String name : params.names()) {
            INDArray want = reference.parameters().gradient(name);
            double scale = Math.max(want.amaxNumber().doubleValue(), 1e-12);
            assertThat(params.gradient(name).sub(want).amaxNumber().doubleValue() / scale)
                .as("K=%d micro=%d %s", k, micro, name).isLessThan(1e-9);
          }
        }
      }
    }
  }

  @Test
  void fiveStepsOnTwoWorkersEqualFiveStepsOnOne() throws Exception {
    var random = new Random(3);
    var batches = new ArrayList<INDArray[]>();
    for (int s = 0; s < 5; s++) {
      batches.add(new INDArray[] {Nd4j.randn(random.nextLong(), new long[] {N, 3, 8, 8}).castTo(DataType.FLOAT),
          TrainBenchmark.syntheticTokens(random, N, 6, 20)});
    }
    List<ParameterSet> one = train(1, batches);
    List<ParameterSet> two = train(2, batches);
    for (ParameterSet params : two) {
      for (String name : params.names()) {
        INDArray want = one.get(0).value(name);
        double diff = params.value(name).sub(want).amaxNumber().doubleValue();
        assertThat(diff).as(name).isLessThan(1e-4 * Math.max(1, want.amaxNumber().doubleValue()));
      }
    }
    // Both workers hold the same parameters exactly.
    for (String name : two.get(0).names()) {
      assertThat(two.get(1).value(name)).as(name).isEqualTo(two.get(0).value(name));
    }
  }

  static List<ParameterSet> train(int k, List<INDArray[]> batches) throws Exception {
    return onWorkers(k, VIT, DataType.FLOAT, (c, model) -> {
      var optimizer = new AdamW(model.parameters(), AdamW.decayedNames(ClipParameters.specs(VIT)));
      var step = new DistributedTrainStep(model, c, N / k, 4);
      for (INDArray[] batch : batches) {
        step.run(rows(batch[0], c.rank(), k), rows(batch[1], c.rank(), k));
        optimizer.step(1e-3);
        model.clampLogitScale();
      }
      return model.parameters();
    });
  }
}
