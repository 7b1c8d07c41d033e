package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** K ranks as K threads (in-process collective) against the dense single-process loss, in double. */
class ShardedContrastiveLossTest {

  static INDArray normal(Random r, long... shape) {
    double[] v = new double[(int) (shape[0] * shape[1])];
    for (int i = 0; i < v.length; i++) {
      v[i] = r.nextGaussian();
    }
    return Nd4j.createFromArray(v).reshape('c', shape);
  }

  static List<ContrastiveLoss.Result> sharded(INDArray x, INDArray y, double t, int k, int tile) throws Exception {
    List<Collective> collectives = Collectives.inProcess(k);
    var pool = Executors.newFixedThreadPool(k);
    try {
      long n = x.size(0) / k;
      var futures = new ArrayList<Future<ContrastiveLoss.Result>>();
      for (Collective c : collectives) {
        INDArray xr = x.get(NDArrayIndex.interval(c.rank() * n, (c.rank() + 1) * n), NDArrayIndex.all()).dup('c');
        INDArray yr = y.get(NDArrayIndex.interval(c.rank() * n, (c.rank() + 1) * n), NDArrayIndex.all()).dup('c');
        futures.add(pool.submit(() -> ShardedContrastiveLoss.compute(xr, yr, t, c, tile)));
      }
      var out = new ArrayList<ContrastiveLoss.Result>();
      for (var f : futures) {
        out.add(f.get(60, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      pool.shutdownNow();
      collectives.forEach(Collective::close);
    }
  }

  @Test
  void equalsTheDenseLossAndGradientsForOneTwoAndFourRanksAndAnyTile() throws Exception {
    var r = new Random(1);
    for (int big : new int[] {8, 12, 24}) {
      INDArray x = normal(r, big, 5);
      INDArray y = normal(r, big, 5);
      // Make a few pairs match so accuracy is neither 0 nor 1.
      y.getRow(0).assign(x.getRow(0).mul(2));
      y.getRow(3).assign(x.getRow(3));
      double t = Math.log(7.5);
      ContrastiveLoss.Result dense = ContrastiveLoss.compute(x, y, t);
      for (int k : new int[] {1, 2, 4}) {
        for (int tile : new int[] {1, 3, 5, big}) {
          List<ContrastiveLoss.Result> parts = sharded(x, y, t, k, tile);
          double dScale = 0;
          long n = big / k;
          for (int rank = 0; rank < k; rank++) {
            ContrastiveLoss.Result p = parts.get(rank);
            String what = "N=" + big + " K=" + k + " tile=" + tile + " rank=" + rank;
            assertThat(p.loss()).as(what).isCloseTo(dense.loss(), within(1e-12 * Math.abs(dense.loss()) + 1e-14));
            assertThat(p.imageToTextAccuracy()).as(what).isEqualTo(dense.imageToTextAccuracy());
            INDArray gx = dense.gradImage().get(NDArrayIndex.interval(rank * n, (rank + 1) * n), NDArrayIndex.all());
            INDArray gy = dense.gradText().get(NDArrayIndex.interval(rank * n, (rank + 1) * n), NDArrayIndex.all());
            assertThat(relative(p.gradImage(), gx)).as(what).isLessThan(1e-9);
            assertThat(relative(p.gradText(), gy)).as(what).isLessThan(1e-9);
            dScale += p.gradLogitScaleLog();
          }
          assertThat(dScale).isCloseTo(dense.gradLogitScaleLog(), within(1e-9 * Math.abs(dense.gradLogitScaleLog())));
        }
      }
    }
  }

  @Test
  void workingMemoryFollowsTheTileNotTheBatch() {
    // N = 32,768 over K = 8 workers: n = 4,096 rows, d = 512, tile 256, float: two 4 MiB tiles, five 8 MiB
    // [n, d] arrays and two gathered log-sum-exp vectors of 128 KiB: 48.25 MiB, under the 64 MiB target.
    assertThat(ShardedContrastiveLoss.workingMemoryBytes(4096, 8, 512, 256, 4)).isEqualTo((48L << 20) + (256 << 10));
    // Doubling the batch at the same tile only adds the gathered log-sum-exps.
    assertThat(ShardedContrastiveLoss.workingMemoryBytes(4096, 16, 512, 256, 4)
        - ShardedContrastiveLoss.workingMemoryBytes(4096, 8, 512, 256, 4)).isEqualTo(256 << 10);
  }

  static double relative(INDArray a, INDArray b) {
    return a.sub(b).amaxNumber().doubleValue() / Math.max(b.amaxNumber().doubleValue(), 1e-300);
  }
}
