package dev.clipspark.training.collective;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The single worker of a group of one: gathering and reduce-scattering copy, summing and broadcasting change
 * nothing.
 */
final class LocalCollective implements Collective {

  @Override
  public int rank() {
    return 0;
  }

  @Override
  public int size() {
    return 1;
  }

  @Override
  public INDArray allGather(INDArray local) {
    Collectives.requireGatherable(local, 0, 1);
    return local.dup('c');
  }

  @Override
  public INDArray allReduceSum(INDArray data) {
    return data;
  }

  @Override
  public INDArray reduceScatterSum(INDArray data) {
    Collectives.requireScatterable(data, 0, 1);
    return data.dup('c');
  }

  @Override
  public INDArray broadcast(INDArray data, int root) {
    Collectives.requireRoot(root, 0, 1);
    return data;
  }

  @Override
  public void barrier() {
    // Nothing to wait for.
  }

  @Override
  public void close() {
    // Nothing to release.
  }
}
