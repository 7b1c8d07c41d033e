package dev.clipspark.training.collective;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One rank of K threads of one JVM exchanging arrays through shared memory: each operation publishes this
 * rank's array in a shared slot, waits for every rank, reads the others' slots, and waits again before a
 * slot may be reused. Sums (all-reduce and reduce-scatter) add the ranks' arrays in rank order, so every
 * rank gets bit-identical results.
 */
final class InProcessCollective implements Collective {

  /** The state shared by the K ranks of one group. */
  static final class Group {
    final int size;
    final Rendezvous rendezvous;
    final INDArray[] slots;

    Group(int size, Rendezvous rendezvous) {
      this.size = size;
      this.rendezvous = rendezvous;
      this.slots = new INDArray[size];
    }
  }

  private final Group group;
  private final int rank;

  InProcessCollective(Group group, int rank) {
    this.group = group;
    this.rank = rank;
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int size() {
    return group.size;
  }

  @Override
  public INDArray allGather(INDArray local) {
    String op = "allGather";
    Collectives.requireGatherable(local, rank, size());
    INDArray[] all = publish(op, local);
    try {
      check(op, all, local);
      return all.length == 1 ? local.dup('c') : Nd4j.concat(0, all);
    } finally {
      group.rendezvous.await(rank, op);
    }
  }

  @Override
  public INDArray allReduceSum(INDArray data) {
    String op = "allReduceSum";
    INDArray[] all = publish(op, data);
    INDArray sum;
    try {
      check(op, all, data);
      sum = all[0].dup('c');
      for (int r = 1; r < all.length; r++) {
        sum.addi(all[r]);
      }
    } finally {
      group.rendezvous.await(rank, op);
    }
    return data.assign(sum);
  }

  @Override
  public INDArray reduceScatterSum(INDArray data) {
    String op = "reduceScatterSum";
    Collectives.requireScatterable(data, rank, size());
    INDArray[] all = publish(op, data);
    try {
      check(op, all, data);
      long share = data.size(0) / all.length;
      INDArray sum = rows(all[0], rank * share, share).dup('c');
      for (int r = 1; r < all.length; r++) {
        sum.addi(rows(all[r], rank * share, share));
      }
      return sum;
    } finally {
      group.rendezvous.await(rank, op);
    }
  }

  /** Rows {@code [first, first + count)} of {@code a} along dimension 0, as an array of {@code a}'s rank. */
  private static INDArray rows(INDArray a, long first, long count) {
    long[] shape = a.shape().clone();
    long rest = a.length() / shape[0];
    shape[0] = count;
    INDArray flat = a.reshape('c', a.size(0), rest);
    return flat.get(NDArrayIndex.interval(first, first + count), NDArrayIndex.all()).reshape('c', shape);
  }

  @Override
  public INDArray broadcast(INDArray data, int root) {
    String op = "broadcast";
    Collectives.requireRoot(root, rank, size());
    INDArray[] all = publish(op, data);
    INDArray copy;
    try {
      check(op, all, data);
      copy = rank == root ? null : all[root].dup('c');
    } finally {
      group.rendezvous.await(rank, op);
    }
    return copy == null ? data : data.assign(copy);
  }

  @Override
  public void barrier() {
    group.rendezvous.await(rank, "barrier");
  }

  @Override
  public void close() {
    group.rendezvous.close(rank);
  }

  /** Publishes {@code array} in this rank's slot and returns every rank's, once all have published. */
  private INDArray[] publish(String op, INDArray array) {
    group.slots[rank] = array;
    group.rendezvous.await(rank, op);
    // The rendezvous' lock orders the writes above before these reads.
    return group.slots.clone();
  }

  /** Every rank sees the same slots, so a mismatch makes every rank throw the same way. */
  private void check(String op, INDArray[] all, INDArray mine) {
    for (int r = 0; r < all.length; r++) {
      if (all[r].dataType() != mine.dataType() || !Arrays.equals(all[r].shape(), mine.shape())) {
        throw new CollectiveException(String.format(
            "Cannot %s on rank %d of %d: rank %d passed %s %s, rank %d %s %s; all ranks must pass the same"
                + " shape and data type", op, rank, all.length, r, all[r].dataType(),
            Arrays.toString(all[r].shape()), rank, mine.dataType(), Arrays.toString(mine.shape())));
      }
    }
  }
}
