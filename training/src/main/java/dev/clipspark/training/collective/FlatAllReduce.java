package dev.clipspark.training.collective;

import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Sums a fixed list of tensors (a model's gradients) over the workers in one all-reduce per call instead of one per
 * tensor: they are copied into one flat buffer, reused between calls, summed, and copied back in place.
 */
public final class FlatAllReduce {

  private final Collective collective;
  private INDArray flat;

  /** A sum over the workers of {@code collective}. */
  public FlatAllReduce(Collective collective) {
    this.collective = collective;
  }

  /**
   * Replaces every array with its element-wise sum over the workers. Every call must pass arrays of the same sizes
   * and data type, in the same order, on every worker.
   */
  public void sum(List<INDArray> arrays) {
    if (collective.size() == 1 || arrays.isEmpty()) {
      return;
    }
    if (flat == null) {
      long total = 0;
      for (INDArray a : arrays) {
        total += a.length();
      }
      flat = Nd4j.createUninitialized(arrays.get(0).dataType(), total);
    }
    long offset = 0;
    for (INDArray a : arrays) {
      long len = a.length();
      flat.get(NDArrayIndex.interval(offset, offset + len)).assign(a.reshape('c', new long[] {len}));
      offset += len;
    }
    collective.allReduceSum(flat);
    offset = 0;
    for (INDArray a : arrays) {
      long len = a.length();
      a.assign(flat.get(NDArrayIndex.interval(offset, offset + len)).reshape('c', a.shape()));
      offset += len;
    }
  }
}
