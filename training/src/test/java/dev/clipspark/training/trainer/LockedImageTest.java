package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

/**
 * Locked-image tuning on a modified-ResNet CLIP (the tower with BatchNorm statistics): the image tower's
 * parameters and running statistics stay bit-identical, the text tower learns, and the gradients of the
 * whole batch, of gradient caching and of two workers agree.
 */
class LockedImageTest {

  static final ModelConfig RN = new ModelConfig("locked-rn", 8, VisionConfig.resNet(32, List.of(1, 1, 1, 1), 8, 16),
      new TextConfig(6, 20, 16, 2, 1));
  static final int N = 8;

  static Map<String, INDArray> copies(ParameterSet params) {
    var out = new LinkedHashMap<String, INDArray>();
    for (String name : params.names()) {
      out.put(name, params.value(name).dup());
    }
    for (String name : params.bufferNames()) {
      out.put(name, params.buffer(name).dup());
    }
    return out;
  }

  static AdamW optimizer(ClipModel model) {
    List<String> trained = model.parameters().names().stream().filter(n -> !ClipModel.isImageTower(n)).toList();
    var decayed = new java.util.LinkedHashSet<>(AdamW.decayedNames(ClipParameters.specs(model.config())));
    decayed.retainAll(trained);
    return new AdamW(model.parameters(), trained, decayed, 0.9, 0.98, 1e-6, 0.2);
  }

  static List<INDArray[]> batches(int count) {
    var random = new Random(5);
    var out = new ArrayList<INDArray[]>();
    for (int i = 0; i < count; i++) {
      out.add(new INDArray[] {Nd4j.randn(random.nextLong(), new long[] {N, 3, 32, 32}).castTo(DataType.FLOAT),
          TrainBenchmark.syntheticTokens(random, N, 6, 20)});
    }
    return out;
  }

  @Test
  void theLockedTowerAndItsBatchNormStatisticsStayBitIdenticalWhileTheTextTowerLearns() {
    ClipModel model = ClipModel.create(RN, ClipParameters.initialize(RN, 3, DataType.FLOAT));
    model.lockImage();
    model.setTraining(true);
    assertThat(model.parameters().bufferNames()).anyMatch(n -> n.endsWith("running_mean"));
    Map<String, INDArray> before = copies(model.parameters());
    AdamW optimizer = optimizer(model);
    assertThat(optimizer.names()).noneMatch(ClipModel::isImageTower).contains("logit_scale");
    var step = new TrainStep(model, N / 2);
    for (INDArray[] batch : batches(3)) {
      step.run(batch[0], batch[1]);
      for (String name : model.parameters().names()) {
        if (ClipModel.isImageTower(name)) {
          assertThat(model.parameters().gradient(name).amaxNumber().doubleValue()).as(name).isZero();
        }
      }
      optimizer.step(1e-2);
    }
    Map<String, INDArray> after = copies(model.parameters());
    for (String name : before.keySet()) {
      if (ClipModel.isImageTower(name)) {
        assertThat(after.get(name)).as(name).isEqualTo(before.get(name));
      }
    }
    assertThat(after.get("token_embedding.weight")).isNotEqualTo(before.get("token_embedding.weight"));
    assertThat(after.get("transformer.resblocks.0.attn.in_proj_weight"))
        .isNotEqualTo(before.get("transformer.resblocks.0.attn.in_proj_weight"));
    assertThatThrownBy(() -> model.backwardImage(Nd4j.zeros(DataType.FLOAT, N, 8)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Cannot backpropagate through the image tower of locked-rn: it is locked (train.lock-image)");
  }

  @Test
  void wholeBatchGradientCachingAndTwoWorkersGiveTheSameTextGradients() throws Exception {
    INDArray[] batch = batches(1).get(0);
    ClipModel whole = locked();
    TrainStep.Result a = new TrainStep(whole, N).run(batch[0], batch[1]);
    ClipModel cached = locked();
    TrainStep.Result b = new TrainStep(cached, N / 4).run(batch[0], batch[1]);
    assertThat(b.loss()).isCloseTo(a.loss(), org.assertj.core.api.Assertions.within(1e-5));
    assertSameGradients(whole.parameters(), cached.parameters(), "gradient caching");

    List<Collective> collectives = Collectives.inProcess(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      var futures = new ArrayList<Future<ClipModel>>();
      for (Collective c : collectives) {
        futures.add(pool.submit(() -> {
          ClipModel m = locked();
          long n = N / 2;
          new DistributedTrainStep(m, c, (int) n, 3).run(
              batch[0].get(NDArrayIndex.interval(c.rank() * n, (c.rank() + 1) * n)).dup('c'),
              batch[1].get(NDArrayIndex.interval(c.rank() * n, (c.rank() + 1) * n)).dup('c'));
          return m;
        }));
      }
      for (Future<ClipModel> f : futures) {
        assertSameGradients(whole.parameters(), f.get(60, TimeUnit.SECONDS).parameters(), "two workers");
      }
    } finally {
      pool.shutdownNow();
      collectives.forEach(Collective::close);
    }
  }

  private static ClipModel locked() {
    ClipModel m = ClipModel.create(RN, ClipParameters.initialize(RN, 3, DataType.FLOAT));
    m.lockImage();
    m.setTraining(true);
    return m;
  }

  private static void assertSameGradients(ParameterSet want, ParameterSet got, String what) {
    for (String name : want.names()) {
      INDArray w = want.gradient(name);
      double scale = Math.max(w.amaxNumber().doubleValue(), 1e-6);
      assertThat(got.gradient(name).sub(w).amaxNumber().doubleValue() / scale).as("%s: %s", what, name)
          .isLessThan(1e-3);
      if (ClipModel.isImageTower(name)) {
        assertThat(got.gradient(name).amaxNumber().doubleValue()).as("%s: %s", what, name).isZero();
      } else {
        assertThat(w.amaxNumber().doubleValue()).as("%s: %s has a gradient", what, name).isPositive();
      }
    }
  }
}
