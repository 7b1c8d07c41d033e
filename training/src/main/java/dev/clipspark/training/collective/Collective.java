package dev.clipspark.training.collective;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Tensor communication among the K workers of one training job, with no Spark dependency (Spark only
 * starts the workers and hands each its rank and the rendezvous). Every worker calls the same operations
 * in the same order with arrays of the same shape and data type; a worker that dies or stops answering
 * makes the others fail with an exception within the configured timeout instead of hanging.
 */
public interface Collective extends AutoCloseable {

  /** This worker's rank, 0 to {@code size() - 1}. */
  int rank();

  /** The number of workers K. */
  int size();

  /**
   * Every rank's {@code local} array concatenated along dimension 0 in rank order: {@code [K * n, ...]}
   * for a local {@code [n, ...]}. All ranks pass the same shape and data type.
   */
  INDArray allGather(INDArray local);

  /** Sums {@code data} element-wise over the ranks, in place; returns {@code data}. */
  INDArray allReduceSum(INDArray data);

  /**
   * The element-wise sum of every rank's {@code data}, split by rows among the ranks: this rank's
   * {@code [rows / K, ...]} share, rows {@code [rank * rows / K, (rank + 1) * rows / K)} of the sum. All ranks
   * pass the same shape and data type, with a number of rows divisible by K; {@code data} is left unchanged
   * and the share is a new array. A ring moves {@code (K-1)/K} of the array's bytes through each rank, half
   * of an all-reduce.
   */
  INDArray reduceScatterSum(INDArray data);

  /** Overwrites {@code data} on every rank with the root rank's values, in place; returns {@code data}. */
  INDArray broadcast(INDArray data, int root);

  /** Returns once every rank has called it. */
  void barrier();

  /** Releases sockets and threads; never throws over an earlier error. */
  @Override
  void close();
}
