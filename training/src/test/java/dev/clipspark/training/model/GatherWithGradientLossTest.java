package dev.clipspark.training.model;

import static dev.clipspark.training.model.ShardedContrastiveLossTest.normal;
import static dev.clipspark.training.model.ShardedContrastiveLossTest.relative;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** open_clip's local loss with gathered gradients, K ranks as K threads, against the dense loss in double. */
class GatherWithGradientLossTest {

  /** Runs one task per rank on its own thread; each gets its collective. */
  static <T> List<T> onRanks(List<Collective> collectives, java.util.function.Function<Collective, Callable<T>> task)
      throws Exception {
    var pool = Executors.newFixedThreadPool(collectives.size());
    try {
      var futures = new ArrayList<Future<T>>();
      for (Collective c : collectives) {
        futures.add(pool.submit(task.apply(c)));
      }
      var out = new ArrayList<T>();
      for (var f : futures) {
        out.add(f.get(60, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      pool.shutdownNow();
      collectives.forEach(Collective::close);
    }
  }

  static List<ContrastiveLoss.Result> gatherWithGradient(INDArray x, INDArray y, double t, List<Collective> group)
      throws Exception {
    long n = x.size(0) / group.size();
    return onRanks(group, c -> {
      INDArray xr = x.get(NDArrayIndex.interval(c.rank() * n, (c.rank() + 1) * n), NDArrayIndex.all()).dup('c');
      INDArray yr = y.get(NDArrayIndex.interval(c.rank() * n, (c.rank() + 1) * n), NDArrayIndex.all()).dup('c');
      return () -> GatherWithGradientLoss.compute(xr, yr, t, c);
    });
  }

  /** Asserts that every rank's result is the dense loss's: same loss and accuracy, its rows of the gradients. */
  static void assertEqualsDense(List<ContrastiveLoss.Result> parts, ContrastiveLoss.Result dense, String what) {
    int k = parts.size();
    long n = dense.gradImage().size(0) / k;
    double dScale = 0;
    for (int rank = 0; rank < k; rank++) {
      ContrastiveLoss.Result p = parts.get(rank);
      String where = what + " rank=" + rank;
      assertThat(p.loss()).as(where).isCloseTo(dense.loss(), within(1e-12 * Math.abs(dense.loss()) + 1e-14));
      assertThat(p.imageToTextAccuracy()).as(where).isEqualTo(dense.imageToTextAccuracy());
      INDArray gx = dense.gradImage().get(NDArrayIndex.interval(rank * n, (rank + 1) * n), NDArrayIndex.all());
      INDArray gy = dense.gradText().get(NDArrayIndex.interval(rank * n, (rank + 1) * n), NDArrayIndex.all());
      assertThat(relative(p.gradImage(), gx)).as(where).isLessThan(1e-9);
      assertThat(relative(p.gradText(), gy)).as(where).isLessThan(1e-9);
      dScale += p.gradLogitScaleLog();
    }
    assertThat(dScale).as(what).isCloseTo(dense.gradLogitScaleLog(), within(1e-9 * Math.abs(dense.gradLogitScaleLog())));
  }

  @Test
  void equalsTheDenseLossAndGradientsForOneTwoAndFourRanks() throws Exception {
    var r = new Random(2);
    for (int big : new int[] {8, 12, 24}) {
      INDArray x = normal(r, big, 5);
      INDArray y = normal(r, big, 5);
      // A few matching pairs, so accuracy is neither 0 nor 1.
      y.getRow(0).assign(x.getRow(0).mul(2));
      y.getRow(3).assign(x.getRow(3));
      double t = Math.log(7.5);
      ContrastiveLoss.Result dense = ContrastiveLoss.compute(x, y, t);
      for (int k : new int[] {1, 2, 4}) {
        assertEqualsDense(gatherWithGradient(x, y, t, Collectives.inProcess(k)), dense, "N=" + big + " K=" + k);
      }
    }
  }

  @Test
  void equalsTheDenseLossOverATcpRingOfThree() throws Exception {
    var r = new Random(3);
    INDArray x = normal(r, 12, 4);
    INDArray y = normal(r, 12, 4);
    double t = Math.log(20);
    var peers = Collectives.freeLoopbackAddresses(3);
    var pool = Executors.newFixedThreadPool(3);
    List<Collective> group = new ArrayList<>();
    try {
      var futures = new ArrayList<Future<Collective>>();
      for (int rank = 0; rank < 3; rank++) {
        int rk = rank;
        futures.add(pool.submit(() -> Collectives.tcpRing(rk, 3, peers, Duration.ofSeconds(20))));
      }
      for (var f : futures) {
        group.add(f.get(30, TimeUnit.SECONDS));
      }
    } finally {
      pool.shutdownNow();
    }
    assertEqualsDense(gatherWithGradient(x, y, t, group), ContrastiveLoss.compute(x, y, t), "TCP K=3");
  }

  @Test
  void sameLossAndGradientsAsTheShardedLoss() throws Exception {
    var r = new Random(4);
    INDArray x = normal(r, 16, 6);
    INDArray y = normal(r, 16, 6);
    double t = Math.log(50);
    List<ContrastiveLoss.Result> gathered = gatherWithGradient(x, y, t, Collectives.inProcess(4));
    List<ContrastiveLoss.Result> sharded = ShardedContrastiveLossTest.sharded(x, y, t, 4, 3);
    double gatheredScale = 0;
    double shardedScale = 0;
    for (int rank = 0; rank < 4; rank++) {
      assertThat(gathered.get(rank).loss()).isCloseTo(sharded.get(rank).loss(), within(1e-12));
      assertThat(relative(gathered.get(rank).gradImage(), sharded.get(rank).gradImage())).isLessThan(1e-9);
      assertThat(relative(gathered.get(rank).gradText(), sharded.get(rank).gradText())).isLessThan(1e-9);
      // The ranks' shares of dL/dt differ between the two (different splits of one sum); the sums agree.
      gatheredScale += gathered.get(rank).gradLogitScaleLog();
      shardedScale += sharded.get(rank).gradLogitScaleLog();
    }
    assertThat(gatheredScale).isCloseTo(shardedScale, within(1e-9 * Math.abs(shardedScale)));
  }

  @Test
  void workingMemoryIsTheLogitsAndTheGatheredGradients() {
    // N = 32,768 over K = 8: n = 4,096, d = 512, float: 512 MiB of logits, 128 MiB of gathered gradients and
    // 56 MiB of [n, d] arrays.
    assertThat(GatherWithGradientLoss.workingMemoryBytes(4096, 8, 512, 4)).isEqualTo((512L + 128 + 56) << 20);
  }
}
