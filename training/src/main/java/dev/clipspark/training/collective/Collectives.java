package dev.clipspark.training.collective;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
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

  /**
   * This process's rank of a ring of K processes connected by TCP: it listens on {@code peers.get(rank)},
   * connects to {@code peers.get((rank + 1) % K)} (retrying until the timeout while that peer starts) and
   * accepts the connection of {@code peers.get((rank - 1 + K) % K)}. All-gather, reduce-scatter and
   * all-reduce are bandwidth-optimal ring algorithms; broadcast streams along the ring; a barrier is a tiny all-reduce. A
   * peer that closes or sends nothing for {@code timeout} fails the operation with a
   * {@link CollectiveException} such as {@code Cannot allReduceSum on rank 0 of 3: peer 2 did not answer
   * within PT30S}; the ring is then unusable. Blocks until both neighbours are connected. K = 1 opens no
   * socket and behaves as {@link #local()}.
   *
   * @param rank    this process's rank, 0 to {@code size - 1}
   * @param size    the number of processes K, at least 1
   * @param peers   every rank's listening address, in rank order ({@code size} of them)
   * @param timeout the longest wait for connecting, and for any progress of a send or receive, positive
   */
  public static Collective tcpRing(int rank, int size, List<InetSocketAddress> peers, Duration timeout) {
    if (size < 1) {
      throw new IllegalArgumentException("Cannot create a TCP ring of " + size + " ranks: must be at least 1");
    }
    if (rank < 0 || rank >= size) {
      throw new IllegalArgumentException(
          "Cannot create a TCP ring as rank " + rank + " of " + size + ": must be 0 to " + (size - 1));
    }
    if (peers == null || peers.size() != size) {
      throw new IllegalArgumentException("Cannot create a TCP ring of " + size + " ranks with "
          + (peers == null ? "no" : peers.size()) + " peer addresses: need one per rank");
    }
    requireTimeout(timeout);
    return size == 1 ? local() : new TcpRingCollective(rank, size, peers, timeout);
  }

  /**
   * Rank {@code rank} of {@code size} workers whose peers are simulated with seeded synthetic data, counting
   * the bytes a ring would move through this rank: for benchmarking one worker's share of a sharded step on
   * one machine (see {@link SimulatedPeers}).
   */
  public static SimulatedPeers simulatedPeers(int rank, int size, long seed) {
    return new SimulatedPeers(rank, size, seed);
  }

  /**
   * K loopback addresses whose ports were free a moment ago (another program may take one before it is
   * bound): for tests and benchmarks that run a ring's ranks as threads of one JVM.
   */
  public static List<InetSocketAddress> freeLoopbackAddresses(int k) {
    var sockets = new ArrayList<ServerSocket>();
    try {
      var addresses = new ArrayList<InetSocketAddress>();
      for (int i = 0; i < k; i++) {
        var socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        sockets.add(socket);
        addresses.add(new InetSocketAddress(InetAddress.getLoopbackAddress(), socket.getLocalPort()));
      }
      return List.copyOf(addresses);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot find " + k + " free loopback ports: " + e.getMessage(), e);
    } finally {
      for (var s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // The port is released either way.
        }
      }
    }
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

  static void requireScatterable(INDArray data, int rank, int size) {
    if (data.rank() < 1 || data.size(0) % size != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot reduceScatterSum on rank %d of %d: array of shape %s does not split by rows into %d equal shares",
          rank, size, Arrays.toString(data.shape()), size));
    }
  }

  static void requireRoot(int root, int rank, int size) {
    if (root < 0 || root >= size) {
      throw new IllegalArgumentException(String.format(
          "Cannot broadcast on rank %d of %d from root %d: must be 0 to %d", rank, size, root, size - 1));
    }
  }
}
