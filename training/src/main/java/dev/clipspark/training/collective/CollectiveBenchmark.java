package dev.clipspark.training.collective;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Measures the TCP ring on loopback, its K ranks as threads of this JVM, against a plain socket copy of the
 * same bytes between two threads. Bandwidths are "algorithm" rates: the array's bytes divided by the
 * median time of one operation. A ring all-reduce moves {@code 2 (K-1)/K} times the bytes through each
 * rank, an all-gather {@code (K-1)/K} times the gathered bytes and a reduce-scatter {@code (K-1)/K} times
 * the reduced bytes, so on one machine whose cores are shared by the ranks the ratio to the plain copy is
 * the figure of merit.
 */
public final class CollectiveBenchmark {

  /**
   * One measurement.
   *
   * @param k                the number of ranks
   * @param bytes            the bytes per operation: the all-reduced array, the gathered result, the copy
   * @param reps             the timed repetitions of each operation (after one warm-up)
   * @param allReduceSeconds median seconds of one float all-reduce of {@code bytes}
   * @param allGatherSeconds median seconds of one float all-gather whose result is {@code bytes}
   * @param reduceScatterSeconds median seconds of one float reduce-scatter of {@code bytes}
   * @param copySeconds      median seconds of sending {@code bytes} through one loopback socket
   * @param allocateSeconds  median seconds of allocating a fresh zero-filled float array of {@code bytes} (the
   *                         others kept alive, so the memory is new to the process): what an all-gather or
   *                         reduce-scatter, which allocate their results, pay on top of moving the bytes
   */
  public record Result(int k, long bytes, int reps, double allReduceSeconds, double allGatherSeconds,
      double reduceScatterSeconds, double copySeconds, double allocateSeconds) {

    /** All-reduce rate, array bytes per second. */
    public double allReduceBytesPerSecond() {
      return bytes / allReduceSeconds;
    }

    /** All-gather rate, gathered bytes per second. */
    public double allGatherBytesPerSecond() {
      return bytes / allGatherSeconds;
    }

    /** Reduce-scatter rate, reduced (input) bytes per second. */
    public double reduceScatterBytesPerSecond() {
      return bytes / reduceScatterSeconds;
    }

    /** Plain socket copy rate, bytes per second. */
    public double copyBytesPerSecond() {
      return bytes / copySeconds;
    }

    /** Fresh memory rate: bytes allocated and zero-filled per second. */
    public double allocateBytesPerSecond() {
      return bytes / allocateSeconds;
    }

    @Override
    public String toString() {
      return String.format("K=%d, %.1f MB x %d: all-reduce %.0f MB/s, all-gather %.0f MB/s, reduce-scatter %.0f MB/s,"
          + " socket copy %.0f MB/s", k, bytes / 1e6, reps, allReduceBytesPerSecond() / 1e6,
          allGatherBytesPerSecond() / 1e6, reduceScatterBytesPerSecond() / 1e6, copyBytesPerSecond() / 1e6);
    }
  }

  private CollectiveBenchmark() {}

  /**
   * Runs the benchmark.
   *
   * @param k     ranks of the ring, at least 2
   * @param bytes bytes per operation, a positive multiple of {@code 4 k} (float elements, one row per rank)
   * @param reps  timed repetitions, at least 1
   */
  public static Result run(int k, long bytes, int reps) {
    if (k < 2) {
      throw new IllegalArgumentException("Cannot benchmark a ring of " + k + " ranks: must be at least 2");
    }
    if (bytes <= 0 || bytes % (4L * k) != 0 || bytes / 4 > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("Cannot benchmark " + bytes + " bytes: must be a positive multiple of "
          + 4 * k + " (whole floats, one equal share per rank) and at most 8 GiB");
    }
    if (reps < 1) {
      throw new IllegalArgumentException("Cannot benchmark " + reps + " repetitions: must be at least 1");
    }
    List<InetSocketAddress> peers = Collectives.freeLoopbackAddresses(k);
    ExecutorService pool = Executors.newFixedThreadPool(k);
    try {
      List<Collective> ring = onEveryRank(pool, k, r -> Collectives.tcpRing(r, k, peers, Duration.ofSeconds(60)));
      try {
        long elements = bytes / 4;
        double[][] times = onEveryRank(pool, k, r -> {
          Collective c = ring.get(r);
          INDArray data = Nd4j.ones(DataType.FLOAT, elements);
          INDArray share = Nd4j.ones(DataType.FLOAT, elements / k);
          double[] reduce = new double[reps];
          double[] gather = new double[reps];
          double[] scatter = new double[reps];
          c.allReduceSum(data);
          c.allGather(share);
          c.reduceScatterSum(data);
          for (int i = 0; i < reps; i++) {
            c.barrier();
            long t0 = System.nanoTime();
            c.allReduceSum(data);
            reduce[i] = (System.nanoTime() - t0) / 1e9;
          }
          for (int i = 0; i < reps; i++) {
            c.barrier();
            long t0 = System.nanoTime();
            c.allGather(share);
            gather[i] = (System.nanoTime() - t0) / 1e9;
          }
          for (int i = 0; i < reps; i++) {
            c.barrier();
            long t0 = System.nanoTime();
            c.reduceScatterSum(data);
            scatter[i] = (System.nanoTime() - t0) / 1e9;
          }
          return new double[][] {reduce, gather, scatter};
        }).get(0);
        return new Result(k, bytes, reps, median(times[0]), median(times[1]), median(times[2]),
            socketCopy(pool, bytes, reps), allocate(bytes / 4, reps));
      } finally {
        ring.forEach(Collective::close);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Median seconds of allocating a zero-filled float array of {@code elements}, keeping every one alive. */
  private static double allocate(long elements, int reps) {
    var kept = new ArrayList<INDArray>();
    double[] times = new double[reps];
    System.gc();
    for (int i = 0; i < reps; i++) {
      long t0 = System.nanoTime();
      kept.add(Nd4j.create(DataType.FLOAT, elements));
      times[i] = (System.nanoTime() - t0) / 1e9;
    }
    kept.clear();
    return median(times);
  }

  /** Median seconds of sending {@code bytes} from one thread to another through a loopback socket. */
  private static double socketCopy(ExecutorService pool, long bytes, int reps) {
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      Future<Void> receiver = pool.submit(() -> {
        try (SocketChannel in = server.accept()) {
          ByteBuffer buffer = ByteBuffer.allocateDirect((int) Math.min(bytes, 1 << 24));
          for (long left = bytes * (reps + 1L); left > 0; ) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), left));
            int n = in.read(buffer);
            if (n < 0) {
              throw new IOException("the sender closed after " + (bytes * (reps + 1L) - left) + " bytes");
            }
            left -= n;
          }
          in.write(ByteBuffer.allocate(1));
        }
        return null;
      });
      double[] times = new double[reps];
      try (SocketChannel out = SocketChannel.open(server.getLocalAddress())) {
        ByteBuffer buffer = ByteBuffer.allocateDirect((int) Math.min(bytes, 1 << 24));
        for (int i = -1; i < reps; i++) {
          long t0 = System.nanoTime();
          for (long left = bytes; left > 0; ) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), left));
            left -= out.write(buffer);
          }
          if (i >= 0) {
            times[i] = (System.nanoTime() - t0) / 1e9;
          }
        }
        out.read(ByteBuffer.allocate(1)); // the receiver has everything
      }
      receiver.get();
      return median(times);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot measure a loopback socket copy: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Cannot measure a loopback socket copy: interrupted", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("Cannot measure a loopback socket copy: " + e.getCause(), e.getCause());
    }
  }

  private interface RankTask<T> {
    T run(int rank) throws Exception;
  }

  private static <T> List<T> onEveryRank(ExecutorService pool, int k, RankTask<T> task) {
    var futures = new ArrayList<Future<T>>();
    for (int r = 0; r < k; r++) {
      int rank = r;
      futures.add(pool.submit(() -> task.run(rank)));
    }
    var results = new ArrayList<T>();
    for (var f : futures) {
      try {
        results.add(f.get());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("Cannot benchmark the ring: interrupted", e);
      } catch (ExecutionException e) {
        throw new IllegalStateException("Cannot benchmark the ring: " + e.getCause().getMessage(), e.getCause());
      }
    }
    return results;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    java.util.Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
