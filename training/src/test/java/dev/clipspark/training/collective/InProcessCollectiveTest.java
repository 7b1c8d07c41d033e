package dev.clipspark.training.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class InProcessCollectiveTest {

  /** Rank r's array of shape [rows, 3]: element (i, j) = 100 r + 10 i + j + 0.25. */
  static INDArray rankArray(int r, int rows, DataType type) {
    var a = Nd4j.create(type, rows, 3);
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < 3; j++) {
        a.putScalar(new long[] {i, j}, 100 * r + 10 * i + j + 0.25);
      }
    }
    return a;
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void allGatherConcatenatesInRankOrder(int k) throws Exception {
    List<Collective> group = Collectives.inProcess(k);
    List<INDArray> gathered = RankThreads.run(k, r -> group.get(r).allGather(rankArray(r, 2, DataType.FLOAT)));
    for (int r = 0; r < k; r++) {
      INDArray g = gathered.get(r);
      assertThat(g.shape()).containsExactly(2L * k, 3);
      assertThat(g.dataType()).isEqualTo(DataType.FLOAT);
      for (int s = 0; s < k; s++) {
        for (int i = 0; i < 2; i++) {
          for (int j = 0; j < 3; j++) {
            assertThat(g.getDouble(2L * s + i, j)).isEqualTo(100 * s + 10 * i + j + 0.25);
          }
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void allReduceSumAddsEveryRankInPlace(int k) throws Exception {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      List<Collective> group = Collectives.inProcess(k);
      List<INDArray> inputs = RankThreads.run(k, r -> rankArray(r, 4, type));
      List<INDArray> outputs = RankThreads.run(k, r -> group.get(r).allReduceSum(inputs.get(r)));
      for (int r = 0; r < k; r++) {
        assertThat(outputs.get(r)).isSameAs(inputs.get(r));
        for (int i = 0; i < 4; i++) {
          for (int j = 0; j < 3; j++) {
            double expected = 0;
            for (int s = 0; s < k; s++) {
              expected += 100 * s + 10 * i + j + 0.25;
            }
            assertThat(outputs.get(r).getDouble(i, j)).as("%s rank %d (%d, %d)", type, r, i, j).isEqualTo(expected);
          }
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void reduceScatterSumReturnsThisRanksRowsOfThePlainSum(int k) throws Exception {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      List<Collective> group = Collectives.inProcess(k);
      int rows = 2 * k;
      List<INDArray> inputs = RankThreads.run(k, r -> rankArray(r, rows, type));
      List<INDArray> shares = RankThreads.run(k, r -> group.get(r).reduceScatterSum(inputs.get(r)));
      INDArray sum = rankArray(0, rows, type);
      for (int s = 1; s < k; s++) {
        sum.addi(rankArray(s, rows, type));
      }
      for (int r = 0; r < k; r++) {
        assertThat(shares.get(r).shape()).containsExactly(2, 3);
        assertThat(shares.get(r).dataType()).isEqualTo(type);
        assertThat(shares.get(r).equalsWithEps(sum.get(NDArrayIndex.interval(2 * r, 2 * r + 2), NDArrayIndex.all()), 0))
            .as("%s rank %d", type, r).isTrue();
        assertThat(inputs.get(r).equalsWithEps(rankArray(r, rows, type), 0)).as("input unchanged").isTrue();
      }
    }
  }

  @Test
  void reduceScatterSumRefusesRowsThatDoNotSplitEvenly() throws Exception {
    List<Collective> group = Collectives.inProcess(3);
    var outcomes = RankThreads.outcomes(3, r -> group.get(r).reduceScatterSum(Nd4j.ones(DataType.FLOAT, 4, 2)));
    for (int r = 0; r < 3; r++) {
      assertThat(outcomes.get(r).error()).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("Cannot reduceScatterSum on rank " + r + " of 3: array of shape [4, 2] does not split by rows"
              + " into 3 equal shares");
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void broadcastCopiesTheRootsValues(int k) throws Exception {
    int root = k - 1;
    List<Collective> group = Collectives.inProcess(k);
    List<INDArray> outputs = RankThreads.run(k, r -> group.get(r).broadcast(rankArray(r, 2, DataType.DOUBLE), root));
    for (INDArray out : outputs) {
      assertThat(out.equalsWithEps(rankArray(root, 2, DataType.DOUBLE), 0)).isTrue();
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void barrierWaitsForEveryRankAndOperationsCanRepeat(int k) throws Exception {
    List<Collective> group = Collectives.inProcess(k);
    var arrivals = new java.util.concurrent.atomic.AtomicInteger();
    List<Integer> seen = RankThreads.run(k, r -> {
      int total = 0;
      for (int round = 0; round < 20; round++) {
        arrivals.incrementAndGet();
        group.get(r).barrier();
        total += arrivals.get() >= (round + 1) * k ? 1 : 0;
        group.get(r).barrier();
        INDArray x = Nd4j.scalar(DataType.DOUBLE, r + round).reshape('c', new long[] {1});
        group.get(r).allReduceSum(x);
        assertThat(x.getDouble(0)).isEqualTo(k * (k - 1) / 2.0 + k * round);
      }
      return total;
    });
    assertThat(seen).containsOnly(20);
  }

  @Test
  void aRankThatNeverArrivesFailsTheOthersWithinTheTimeout() throws Exception {
    List<Collective> group = Collectives.inProcess(3, Duration.ofMillis(300));
    var outcomes = RankThreads.outcomes(3, r -> {
      if (r == 1) {
        return null; // never calls allReduceSum
      }
      return group.get(r).allReduceSum(Nd4j.ones(DataType.FLOAT, 4));
    });
    for (int r : new int[] {0, 2}) {
      assertThat(outcomes.get(r).error()).isInstanceOf(CollectiveException.class)
          .hasMessageStartingWith("Cannot allReduceSum on rank " + r + " of 3: ranks [1] did not arrive within PT0.3S");
    }
    assertThatThrownBy(() -> group.get(1).barrier()).isInstanceOf(CollectiveException.class)
        .hasMessage("Cannot barrier on rank 1 of 3: ranks [1] did not arrive within PT0.3S");
  }

  @Test
  void closingARankFailsTheWaitingOthers() throws Exception {
    List<Collective> group = Collectives.inProcess(2, Duration.ofSeconds(30));
    var outcomes = RankThreads.outcomes(2, r -> {
      if (r == 1) {
        Thread.sleep(100);
        group.get(1).close();
        return null;
      }
      group.get(0).barrier();
      return null;
    });
    assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class)
        .hasMessage("Cannot barrier on rank 0 of 2: rank 1 closed the group");
  }

  @Test
  void mismatchedShapesFailEveryRank() throws Exception {
    List<Collective> group = Collectives.inProcess(2);
    var outcomes = RankThreads.outcomes(2, r -> group.get(r).allReduceSum(Nd4j.ones(DataType.FLOAT, 2 + r)));
    assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class)
        .hasMessage("Cannot allReduceSum on rank 0 of 2: rank 1 passed FLOAT [3], rank 0 FLOAT [2];"
            + " all ranks must pass the same shape and data type");
    assertThat(outcomes.get(1).error()).isInstanceOf(CollectiveException.class);
  }

  @Test
  void localGathersACopyAndLeavesDataAlone() {
    try (Collective local = Collectives.local()) {
      INDArray x = rankArray(0, 2, DataType.FLOAT);
      INDArray g = local.allGather(x);
      assertThat(g).isNotSameAs(x);
      assertThat(g.equalsWithEps(x, 0)).isTrue();
      x.addi(1);
      assertThat(g.getDouble(0, 0)).isEqualTo(0.25);
      assertThat(local.allReduceSum(x)).isSameAs(x);
      assertThat(local.broadcast(x, 0)).isSameAs(x);
      INDArray share = local.reduceScatterSum(x);
      assertThat(share).isNotSameAs(x);
      assertThat(share.equalsWithEps(x, 0)).isTrue();
      assertThat(x.getDouble(0, 0)).isEqualTo(1.25);
      local.barrier();
      assertThat(local.rank()).isZero();
      assertThat(local.size()).isEqualTo(1);
      assertThatThrownBy(() -> local.broadcast(x, 1)).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("Cannot broadcast on rank 0 of 1 from root 1: must be 0 to 0");
    }
  }

  @Test
  void rejectsBadArguments() {
    assertThatThrownBy(() -> Collectives.inProcess(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot create an in-process group of 0 ranks: must be at least 1");
    assertThatThrownBy(() -> Collectives.inProcess(2, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot use timeout PT0S: must be positive");
  }
}
