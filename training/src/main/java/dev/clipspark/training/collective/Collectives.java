package dev.clipspark.training.collective;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Factories for the {@link Collective} backends. */
public final class Collectives {

  /** How long an in-process rank waits for the others before failing, when no timeout is given. */
  public static final Duration IN_PROCESS_TIMEOUT_DEFAULT = Duration.ofSeconds(60);

  private Collectives() {}

  /** The collective of a single worker: {@code allGather} returns a copy, the other operations do nothing. */
  public static Collective local() {
    return new LocalCollective();
  }

  /**
   * K collectives for K threads of one JVM, exchanging arrays through shared memory, that wait at most
   * {@link #IN_PROCESS_TIMEOUT_DEFAULT} for each other.
   *
   * @param k the number of ranks, at least 1; element {@code r} of the list is rank {@code r}, to be used by
   *          one thread
   */
  public static List<Collective> inProcess(int k) {
    return inProcess(k, IN_PROCESS_TIMEOUT_DEFAULT);
  }

  /**
   * K collectives for K threads of one JVM, exchanging arrays through shared memory. A rank that waits
   * longer than {@code timeout} for the others fails with a {@link CollectiveException} naming the ranks
   * that did not arrive, and so does every later operation of every rank; closing any rank also fails the
   * group.
   *
   * @param k       the number of ranks, at least 1
   * @param timeout the longest wait for the other ranks at each step of an operation, positive
   */
  public static List<Collective> inProcess(int k, Duration timeout) {
    if (k < 1) {
      throw new IllegalArgumentException("Cannot create an in-process group of " + k + " ranks: must be at least 1");
    }
    requireTimeout(timeout);
    var group = new InProcessCollective.Group(k, new Rendezvous(k, timeout));
    var list = new ArrayList<Collective>(k);
    for (int r = 0; r < k; r++) {
      list.add(new InProcessCollective(group, r));
    }
    return List.copyOf(list);
  }

  static void requireTimeout(Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("Cannot use timeout " + timeout + ": must be positive");
    }
  }

  static void requireGatherable(INDArray local, int rank, int size) {
    if (local.rank() < 1) {
      throw new IllegalArgumentException(String.format(
          "Cannot allGather on rank %d of %d: array of shape %s has no dimension 0 to concatenate along",
          rank, size, Arrays.toString(local.shape())));
    }
  }

  static void requireRoot(int root, int rank, int size) {
    if (root < 0 || root >= size) {
      throw new IllegalArgumentException(String.format(
          "Cannot broadcast on rank %d of %d from root %d: must be 0 to %d", rank, size, root, size - 1));
    }
  }
}
