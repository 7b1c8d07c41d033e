package dev.clipspark.training.collective;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One rank of K workers whose K-1 peers are simulated, so that one worker's share of a sharded computation
 * can be run and measured on one machine. Every operation returns at once what a real ring would have
 * delivered had the peers held the synthesised data below, and counts the payload bytes that
 * {@link Collectives#tcpRing}'s algorithms would send and receive through this rank (not counting its
 * 24-byte operation headers):
 * <ul>
 *   <li>{@code allGather}: each peer's block of a floating-point {@code [rows, cols]} array with at least two
 *       columns is seeded random unit rows (embeddings); of any other array, a copy of this rank's block (per-row
 *       scalars such as log-sum-exps, whose distribution the peers share). Sends and receives
 *       {@code (K-1)} times the local bytes.</li>
 *   <li>{@code allReduceSum}: every peer contributes this rank's values, so {@code data} is multiplied by K.
 *       Reduce-scatter then all-gather over K chunks: about {@code 2 (K-1)/K} of the bytes each way.</li>
 *   <li>{@code reduceScatterSum}: every peer contributes this rank's rows, so the share is K times them.
 *       {@code (K-1)/K} of the bytes each way.</li>
 *   <li>{@code broadcast}: the root's values are this rank's; {@code data} is unchanged. The root sends the
 *       bytes, its left neighbour receives them, every other rank does both.</li>
 *   <li>{@code barrier}: an all-reduce of K doubles, as in the TCP ring.</li>
 * </ul>
 * Synthesised blocks are made once (outside any ND4J workspace) and kept by the ordinal of the
 * {@code allGather} call since the last {@link #newStep()}, so repeated steps see the same peers and pay no
 * generation time; call {@code newStep()} before each step, which also zeroes the byte counters. Not
 * thread-safe: one thread plays this rank.
 */
public final class SimulatedPeers implements Collective {

  private final int rank;
  private final int size;
  private final long seed;
  private final List<INDArray> templates = new ArrayList<>();
  private int gathers;
  private long sent;
  private long received;

  SimulatedPeers(int rank, int size, long seed) {
    if (size < 1 || rank < 0 || rank >= size) {
      throw new IllegalArgumentException(String.format(
          "Cannot simulate rank %d of %d workers: need at least 1 worker and a rank from 0 to %d", rank, size, size - 1));
    }
    this.rank = rank;
    this.size = size;
    this.seed = seed;
  }

  /** Starts a step: the next {@code allGather} sees the first synthesised peers again; counters are zeroed. */
  public void newStep() {
    gathers = 0;
    sent = 0;
    received = 0;
  }

  /** Payload bytes a ring would have sent from this rank since the last {@link #newStep()}. */
  public long bytesSent() {
    return sent;
  }

  /** Payload bytes a ring would have delivered to this rank since the last {@link #newStep()}. */
  public long bytesReceived() {
    return received;
  }

  /** Bytes through this rank's two ring links, both directions: {@code bytesSent() + bytesReceived()}. */
  public long bytesMoved() {
    return sent + received;
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public INDArray allGather(INDArray local) {
    Collectives.requireGatherable(local, rank, size);
    long block = local.length();
    long[] shape = local.shape().clone();
    shape[0] *= size;
    INDArray result = Nd4j.createUninitialized(local.dataType(), shape, 'c');
    INDArray blocks = result.reshape('c', new long[] {size, block});
    if (embeddings(local)) {
      blocks.assign(template(local, shape));
    } else {
      for (int r = 0; r < size; r++) {
        blocks.getRow(r).assign(local.reshape('c', new long[] {block}));
      }
    }
    blocks.getRow(rank).assign(local.reshape('c', new long[] {block}));
    gathers++;
    count((size - 1) * bytes(local), (size - 1) * bytes(local));
    return result;
  }

  @Override
  public INDArray allReduceSum(INDArray data) {
    long length = data.length();
    int width = data.dataType().width();
    for (int s = 0; s < size - 1; s++) {
      // TcpRingCollective's chunks: reduce-scatter, then all-gather.
      count(chunk(rank - s, length) * width, chunk(rank - s - 1, length) * width);
      count(chunk(rank + 1 - s, length) * width, chunk(rank - s, length) * width);
    }
    return data.muli(size);
  }

  @Override
  public INDArray reduceScatterSum(INDArray data) {
    Collectives.requireScatterable(data, rank, size);
    long share = data.size(0) / size;
    long rest = data.length() / data.size(0);
    long[] shape = data.shape().clone();
    shape[0] = share;
    INDArray result = Nd4j.createUninitialized(data.dataType(), shape, 'c');
    INDArray mine = data.reshape('c', new long[] {size, share * rest}).getRow(rank);
    result.reshape('c', new long[] {share, rest}).assign(mine.reshape('c', new long[] {share, rest})).muli(size);
    count((size - 1) * bytes(result), (size - 1) * bytes(result));
    return result;
  }

  @Override
  public INDArray broadcast(INDArray data, int root) {
    Collectives.requireRoot(root, rank, size);
    if (size > 1) {
      boolean sends = (rank + 1) % size != root;
      boolean receives = rank != root;
      count(sends ? bytes(data) : 0, receives ? bytes(data) : 0);
    }
    return data;
  }

  @Override
  public void barrier() {
    allReduceSum(Nd4j.zeros(DataType.DOUBLE, size));
  }

  @Override
  public void close() {
    templates.clear();
  }

  private void count(long out, long in) {
    sent += out;
    received += in;
  }

  private long chunk(int c, long length) {
    int i = Math.floorMod(c, size);
    return (i + 1) * length / size - i * length / size;
  }

  private static long bytes(INDArray a) {
    return a.length() * a.dataType().width();
  }

  private static boolean embeddings(INDArray a) {
    return a.rank() == 2 && a.size(1) >= 2 && a.dataType().isFPType();
  }

  /** The synthesised gathered array of this call's ordinal: every block but this rank's holds peer data. */
  private INDArray template(INDArray local, long[] shape) {
    if (gathers < templates.size()) {
      INDArray t = templates.get(gathers);
      if (Arrays.equals(t.shape(), shape) && t.dataType() == local.dataType()) {
        return t.reshape('c', new long[] {size, local.length()});
      }
    }
    INDArray t;
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      t = unitRows(shape[0], shape[1], local.dataType(), new SplittableRandom(seed * 1_000_003L + gathers));
    }
    if (gathers < templates.size()) {
      templates.set(gathers, t);
    } else {
      templates.add(t);
    }
    return t.reshape('c', new long[] {size, local.length()});
  }

  private static INDArray unitRows(long rows, long cols, DataType type, SplittableRandom random) {
    double[] row = new double[(int) cols];
    INDArray out;
    if (type == DataType.DOUBLE) {
      double[] all = new double[Math.toIntExact(rows * cols)];
      for (int i = 0; i < rows; i++) {
        fill(random, row);
        System.arraycopy(row, 0, all, (int) (i * cols), (int) cols);
      }
      out = Nd4j.createFromArray(all);
    } else {
      float[] all = new float[Math.toIntExact(rows * cols)];
      for (int i = 0; i < rows; i++) {
        fill(random, row);
        for (int j = 0; j < cols; j++) {
          all[(int) (i * cols + j)] = (float) row[j];
        }
      }
      out = Nd4j.createFromArray(all).castTo(type);
    }
    return out.reshape('c', new long[] {rows, cols});
  }

  private static void fill(SplittableRandom random, double[] row) {
    double norm = 0;
    for (int j = 0; j < row.length; j++) {
      row[j] = random.nextGaussian();
      norm += row[j] * row[j];
    }
    norm = Math.sqrt(norm);
    for (int j = 0; j < row.length; j++) {
      row[j] /= norm;
    }
  }
}
