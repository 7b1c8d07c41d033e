package dev.clipspark.training.collective;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class SimulatedPeersTest {

  @Test
  void gathersSynthesisedUnitRowsAroundThisRanksBlockAndCountsRingBytes() {
    try (SimulatedPeers peers = Collectives.simulatedPeers(2, 4, 11)) {
      INDArray local = Nd4j.rand(DataType.FLOAT, 3, 5);
      INDArray all = peers.allGather(local);
      assertThat(all.shape()).containsExactly(12, 5);
      assertThat(all.get(NDArrayIndex.interval(6, 9), NDArrayIndex.all()).equalsWithEps(local, 0)).isTrue();
      INDArray norms = all.norm2(1);
      for (int i : new int[] {0, 5, 9, 11}) {
        assertThat(norms.getDouble(i)).isCloseTo(1.0, org.assertj.core.api.Assertions.within(1e-5));
      }
      // Three peers' blocks of 60 bytes reach this rank, and its own goes out three times.
      assertThat(peers.bytesSent()).isEqualTo(180);
      assertThat(peers.bytesReceived()).isEqualTo(180);

      // Per-row scalars: the peers' blocks are this rank's.
      INDArray lse = Nd4j.createFromArray(1f, 2f, 3f).reshape(3, 1);
      INDArray gathered = peers.allGather(lse);
      assertThat(gathered.reshape(12).toFloatVector()).containsExactly(1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3);

      // A new step sees the same peers again and starts counting from zero.
      INDArray second = peers.allGather(Nd4j.rand(DataType.FLOAT, 3, 5));
      peers.newStep();
      assertThat(peers.bytesMoved()).isZero();
      INDArray again = peers.allGather(local);
      assertThat(again.equalsWithEps(all, 0)).isTrue();
      assertThat(second.get(NDArrayIndex.interval(0, 3), NDArrayIndex.all())
          .equalsWithEps(all.get(NDArrayIndex.interval(0, 3), NDArrayIndex.all()), 0)).isFalse();
    }
  }

  @Test
  void sumsAsIfEveryPeerHeldThisRanksValues() {
    try (SimulatedPeers peers = Collectives.simulatedPeers(1, 4, 1)) {
      INDArray data = Nd4j.createFromArray(new float[] {1, 2, 3, 4, 5, 6, 7, 8}).reshape(4, 2);
      INDArray share = peers.reduceScatterSum(data);
      assertThat(share.shape()).containsExactly(1, 2);
      assertThat(share.toFloatVector()).containsExactly(12, 16);
      assertThat(data.getFloat(1, 0)).isEqualTo(3); // unchanged
      // (K-1)/K of 32 bytes each way.
      assertThat(peers.bytesSent()).isEqualTo(24);
      assertThat(peers.bytesReceived()).isEqualTo(24);

      peers.newStep();
      INDArray sums = Nd4j.createFromArray(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0);
      assertThat(peers.allReduceSum(sums)).isSameAs(sums);
      assertThat(sums.getDouble(7)).isEqualTo(32);
      // Reduce-scatter then all-gather of 64 bytes in 4 chunks: three chunks out and three in, twice.
      assertThat(peers.bytesSent()).isEqualTo(96);
      assertThat(peers.bytesReceived()).isEqualTo(96);

      peers.newStep();
      peers.broadcast(sums, 2); // rank 1 is the root's left neighbour: it only receives
      assertThat(peers.bytesSent()).isZero();
      assertThat(peers.bytesReceived()).isEqualTo(64);
      peers.broadcast(sums, 1);
      assertThat(peers.bytesSent()).isEqualTo(64);
    }
  }

  @Test
  void oneWorkerMovesNothing() {
    try (SimulatedPeers alone = Collectives.simulatedPeers(0, 1, 1)) {
      INDArray x = Nd4j.rand(DataType.DOUBLE, 2, 3);
      assertThat(alone.allGather(x).equalsWithEps(x, 0)).isTrue();
      assertThat(alone.reduceScatterSum(x).equalsWithEps(x, 0)).isTrue();
      alone.allReduceSum(x);
      alone.barrier();
      assertThat(alone.bytesMoved()).isZero();
    }
  }
}
