package dev.clipspark.training.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

@Timeout(value = 60, unit = TimeUnit.SECONDS) // guards against a hang; no timing is asserted
class TcpRingCollectiveTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  /** Connects a ring of k ranks on loopback, one thread each. */
  static List<Collective> ring(int k, Duration timeout) throws Exception {
    List<InetSocketAddress> peers = Collectives.freeLoopbackAddresses(k);
    return RankThreads.run(k, r -> Collectives.tcpRing(r, k, peers, timeout));
  }

  static void closeAll(List<Collective> group) {
    group.forEach(Collective::close);
  }

  /** Rank r's array: integers (so every summation order gives the same float) or Gaussians. */
  static INDArray data(int r, int seed, DataType type, boolean integers, long... shape) {
    var random = new Random(1000L * seed + r);
    INDArray a = Nd4j.create(type, shape);
    for (long i = 0; i < a.length(); i++) {
      a.putScalar(i, integers ? random.nextInt(2001) - 1000 : random.nextGaussian());
    }
    return a;
  }

  /** The elements in C order, as doubles (exact for FLOAT and DOUBLE). */
  static double[] values(INDArray a) {
    return a.dup('c').reshape('c', new long[] {a.length()}).toDoubleVector();
  }

  /** Asserts equal shapes and elements within {@code tolerance}, naming the first element that differs. */
  static void assertSameValues(INDArray actual, INDArray expected, double tolerance, String what) {
    assertThat(actual.shape()).as(what).containsExactly(expected.shape());
    double[] a = values(actual);
    double[] e = values(expected);
    for (int i = 0; i < a.length; i++) {
      if (!(Math.abs(a[i] - e[i]) <= tolerance)) {
        throw new AssertionError(what + ": element " + i + " of " + a.length + " is " + a[i] + ", expected " + e[i]);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void resultsEqualTheInProcessBackend(int k) throws Exception {
    List<Collective> tcp = ring(k, TIMEOUT);
    List<Collective> mem = Collectives.inProcess(k);
    try {
      long[][] shapes = {{5, 7}, {1}, {2}, {1001}, {4, 3, 2}};
      int seed = 0;
      for (long[] shape : shapes) {
        for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
          for (boolean integers : new boolean[] {true, false}) {
            int s = ++seed;
            var viaTcp = RankThreads.run(k, r -> tcp.get(r).allReduceSum(data(r, s, type, integers, shape)));
            var viaMem = RankThreads.run(k, r -> mem.get(r).allReduceSum(data(r, s, type, integers, shape)));
            for (int r = 0; r < k; r++) {
              assertSameValues(viaTcp.get(r), viaMem.get(r), integers ? 0 : 1e-5,
                  "allReduceSum " + Arrays.toString(shape) + " " + type + " rank " + r);
              // Every rank ends with bit-identical sums.
              assertSameValues(viaTcp.get(r), viaTcp.get(0), 0, "rank " + r);
            }
            long[] scatterShape = shape.clone();
            scatterShape[0] *= k;
            var inputs = RankThreads.run(k, r -> data(r, s, type, integers, scatterShape));
            var rsTcp = RankThreads.run(k, r -> tcp.get(r).reduceScatterSum(inputs.get(r)));
            var rsMem = RankThreads.run(k, r -> mem.get(r).reduceScatterSum(data(r, s, type, integers, scatterShape)));
            for (int r = 0; r < k; r++) {
              assertSameValues(rsTcp.get(r), rsMem.get(r), integers ? 0 : 1e-5,
                  "reduceScatterSum " + Arrays.toString(scatterShape) + " " + type + " rank " + r);
              assertSameValues(inputs.get(r), data(r, s, type, integers, scatterShape), 0, "input of rank " + r);
            }
            var gTcp = RankThreads.run(k, r -> tcp.get(r).allGather(data(r, s, type, integers, shape)));
            var gMem = RankThreads.run(k, r -> mem.get(r).allGather(data(r, s, type, integers, shape)));
            int root = k - 1;
            var bTcp = RankThreads.run(k, r -> tcp.get(r).broadcast(data(r, s, type, integers, shape), root));
            for (int r = 0; r < k; r++) {
              assertThat(gTcp.get(r).shape()).containsExactly(gMem.get(r).shape());
              assertSameValues(gTcp.get(r), gMem.get(r), 0, "allGather rank " + r);
              assertSameValues(bTcp.get(r), data(root, s, type, integers, shape), 0, "broadcast rank " + r);
            }
          }
        }
      }
      RankThreads.run(k, r -> {
        tcp.get(r).barrier();
        return null;
      });
    } finally {
      closeAll(tcp);
    }
  }

  @Test
  void largeUnevenArraysAndViewsAreReducedInPlace() throws Exception {
    List<Collective> tcp = ring(3, TIMEOUT);
    try {
      // 1,000,003 floats: chunks far larger than the socket buffers, and not divisible by 3.
      var sums = RankThreads.run(3, r -> tcp.get(r).allReduceSum(data(r, 7, DataType.FLOAT, true, 1_000_003)));
      INDArray expected = data(0, 7, DataType.FLOAT, true, 1_000_003)
          .add(data(1, 7, DataType.FLOAT, true, 1_000_003)).add(data(2, 7, DataType.FLOAT, true, 1_000_003));
      for (INDArray sum : sums) {
        assertSameValues(sum, expected, 0, "sum");
      }
      // A transposed view is summed through a copy and written back in place.
      var bases = RankThreads.run(3, r -> data(r, 8, DataType.DOUBLE, true, 4, 6));
      var views = RankThreads.run(3, r -> tcp.get(r).allReduceSum(bases.get(r).transpose()));
      INDArray expectedView = data(0, 8, DataType.DOUBLE, true, 4, 6).add(data(1, 8, DataType.DOUBLE, true, 4, 6))
          .add(data(2, 8, DataType.DOUBLE, true, 4, 6));
      for (int r = 0; r < 3; r++) {
        assertSameValues(bases.get(r), expectedView, 0, "rank " + r);
        assertThat(views.get(r).shape()).containsExactly(6, 4);
      }
    } finally {
      closeAll(tcp);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void largeReduceScatterOfAViewEqualsThePlainSum(int k) throws Exception {
    List<Collective> tcp = ring(k, TIMEOUT);
    try {
      // 600,000 rows of 2 floats per rank, passed as a transposed view: chunks far larger than the socket
      // buffers, through the copy path.
      long rows = 600_000L * k;
      var bases = RankThreads.run(k, r -> data(r, 9, DataType.FLOAT, true, 2, rows));
      var shares = RankThreads.run(k, r -> tcp.get(r).reduceScatterSum(bases.get(r).transpose()));
      INDArray sum = data(0, 9, DataType.FLOAT, true, 2, rows);
      for (int r = 1; r < k; r++) {
        sum.addi(data(r, 9, DataType.FLOAT, true, 2, rows));
      }
      long share = rows / k;
      for (int r = 0; r < k; r++) {
        INDArray expected = sum.transpose().get(NDArrayIndex.interval(r * share, (r + 1) * share), NDArrayIndex.all());
        assertSameValues(shares.get(r), expected, 0, "share of rank " + r);
      }
    } finally {
      closeAll(tcp);
    }
  }

  @Test
  void aPeerThatClosesFailsTheOthers() throws Exception {
    List<Collective> tcp = ring(3, TIMEOUT);
    try {
      var outcomes = RankThreads.outcomes(3, r -> {
        if (r == 1) {
          tcp.get(1).close();
          return null;
        }
        return tcp.get(r).allReduceSum(Nd4j.ones(DataType.FLOAT, 100));
      });
      assertThat(outcomes.get(2).error()).isInstanceOf(CollectiveException.class)
          .hasMessage("Cannot allReduceSum on rank 2 of 3: peer 1 closed the connection");
      assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class)
          .hasMessageStartingWith("Cannot allReduceSum on rank 0 of 3: ");
      assertThatThrownBy(() -> tcp.get(2).barrier()).isInstanceOf(CollectiveException.class)
          .hasMessage("Cannot barrier on rank 2 of 3: an earlier operation failed: Cannot allReduceSum on rank 2"
              + " of 3: peer 1 closed the connection");
    } finally {
      closeAll(tcp);
    }
  }

  @Test
  void aPeerThatStopsAnsweringFailsTheOthersWithinTheTimeout() throws Exception {
    List<Collective> tcp = ring(3, Duration.ofMillis(500));
    var othersDone = new CountDownLatch(2);
    try {
      var outcomes = RankThreads.outcomes(3, r -> {
        if (r == 1) {
          othersDone.await(30, TimeUnit.SECONDS); // connected, but never calls allGather
          return null;
        }
        try {
          return tcp.get(r).allGather(Nd4j.ones(DataType.DOUBLE, 2, 3));
        } finally {
          othersDone.countDown();
        }
      });
      assertThat(outcomes.get(2).error()).isInstanceOf(CollectiveException.class)
          .hasMessage("Cannot allGather on rank 2 of 3: peer 1 did not answer within PT0.5S");
      assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class)
          .hasMessageStartingWith("Cannot allGather on rank 0 of 3: peer ");
    } finally {
      closeAll(tcp);
    }
  }

  @Test
  void mismatchedShapesFail() throws Exception {
    List<Collective> tcp = ring(2, TIMEOUT);
    try {
      var outcomes = RankThreads.outcomes(2, r -> tcp.get(r).allReduceSum(Nd4j.ones(DataType.FLOAT, 3 + r)));
      assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class)
          .hasMessageStartingWith("Cannot allReduceSum on rank 0 of 2: ");
      assertThat(outcomes.get(1).error()).isInstanceOf(CollectiveException.class)
          .hasMessageStartingWith("Cannot allReduceSum on rank 1 of 2: ");
      assertThat(List.of(outcomes.get(0).error().getMessage(), outcomes.get(1).error().getMessage()))
          .anyMatch(m -> m.contains("peer 1 called allReduceSum with FLOAT (4 elements), this rank allReduceSum"
              + " with FLOAT (3 elements)") || m.contains("peer 0 called allReduceSum with FLOAT (3 elements),"
              + " this rank allReduceSum with FLOAT (4 elements)"));
    } finally {
      closeAll(tcp);
    }
  }

  @Test
  void aMissingPeerFailsTheConnectionWithinTheTimeout() throws Exception {
    List<InetSocketAddress> peers = Collectives.freeLoopbackAddresses(2);
    assertThatThrownBy(() -> Collectives.tcpRing(0, 2, peers, Duration.ofMillis(300)))
        .isInstanceOf(CollectiveException.class)
        .hasMessageStartingWith("Cannot connect rank 0 of 2 to peer 1 at " + peers.get(1) + ": no answer within PT0.3S");
  }

  @Test
  void rejectsBadArgumentsAndOneRankIsLocal() {
    List<InetSocketAddress> peers = Collectives.freeLoopbackAddresses(2);
    assertThatThrownBy(() -> Collectives.tcpRing(2, 2, peers, TIMEOUT)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot create a TCP ring as rank 2 of 2: must be 0 to 1");
    assertThatThrownBy(() -> Collectives.tcpRing(0, 3, peers, TIMEOUT)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot create a TCP ring of 3 ranks with 2 peer addresses: need one per rank");
    assertThatThrownBy(() -> Collectives.tcpRing(0, 0, List.of(), TIMEOUT))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot create a TCP ring of 0 ranks: must be at least 1");
    try (Collective one = Collectives.tcpRing(0, 1, peers.subList(0, 1), TIMEOUT)) {
      INDArray x = Nd4j.ones(DataType.FLOAT, 2);
      assertThat(one.allReduceSum(x)).isSameAs(x);
      assertSameValues(one.allGather(x), x, 0, "gather of one");
      assertSameValues(one.reduceScatterSum(x), x, 0, "reduce-scatter of one");
    }
  }
}
