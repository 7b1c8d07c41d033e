package dev.clipspark.training.data;

import dev.clipspark.dataset.build.Manifest;
import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * One rank's rows of one epoch in sample order. The shards are put in a permutation seeded by
 * {@code (seed, epoch)} and read as one sequence of all rows, each shard front to back; rank {@code r} of
 * {@code k} takes the contiguous part {@code [r T / k, (r+1) T / k)} of that sequence ({@code T} rows in all),
 * so the ranks' parts are disjoint, cover the epoch, differ in length by at most one row, and each rank opens
 * only the shards its part touches (skipping rows at the front of its first shard). The part passes through
 * a shuffle buffer of {@code bufferSize} rows seeded by {@code (seed, epoch, rank)}: it first fills up; then
 * each row read replaces a uniformly chosen buffered row, which is emitted; at the end the buffer drains in
 * random order. Which row comes out where depends only on the shards' row counts in the manifest, the seeds
 * and {@code (rank, k)}, never on the data or on timing.
 *
 * <p>Not thread-safe: one producer thread reads it.
 */
final class EpochOrder implements Closeable {

  private final String datasetDir;
  private final List<Manifest.Shard> shards;
  private final int[] shardOrder;
  private final Configuration conf;
  private final long totalRows;
  private final Random shuffle;
  private final ShardReader.Row[] buffer;
  private int buffered;
  private long rowsRead;
  private long emitted;
  private int nextShard;
  private ShardReader current;
  private long currentLeft;
  private long skip;

  EpochOrder(String datasetDir, Manifest manifest, Configuration conf, long seed, int epoch, int bufferSize,
      int rank, int worldSize) {
    this.datasetDir = datasetDir;
    this.shards = manifest.shards();
    this.conf = conf;
    long all = manifest.totalRows();
    long from = rowsBefore(all, rank, worldSize);
    this.totalRows = rowsBefore(all, rank + 1, worldSize) - from;
    this.shardOrder = permutation(shards.size(), new Random(Seeds.of(seed, Seeds.SHARD_ORDER, epoch)));
    this.shuffle = new Random(Seeds.of(seed, Seeds.SHUFFLE, epoch, rank));
    this.buffer = new ShardReader.Row[(int) Math.min(bufferSize, Math.max(1, totalRows))];
    while (nextShard < shardOrder.length && from >= shards.get(shardOrder[nextShard]).rows()) {
      from -= shards.get(shardOrder[nextShard++]).rows();
    }
    this.skip = from;
  }

  /** The first row of rank {@code rank}'s part of {@code all} rows split among {@code worldSize} ranks. */
  static long rowsBefore(long all, int rank, int worldSize) {
    return Math.multiplyExact(all, rank) / worldSize;
  }

  /** Rows in this rank's part of the epoch. */
  long rows() {
    return totalRows;
  }

  /** The shard indices in the order an epoch reads them (Fisher-Yates with {@code random}). */
  static int[] permutation(int n, Random random) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** Whether the epoch has rows left. */
  boolean hasNext() {
    return emitted < totalRows;
  }

  /** The next row in the epoch's sample order. */
  ShardReader.Row next() {
    if (!hasNext()) {
      throw new NoSuchElementException("The epoch's " + totalRows + " rows are all read");
    }
    while (buffered < buffer.length && rowsRead < totalRows) {
      buffer[buffered++] = read();
    }
    ShardReader.Row out;
    if (rowsRead < totalRows) {
      int j = shuffle.nextInt(buffered);
      out = buffer[j];
      buffer[j] = read();
    } else {
      int j = shuffle.nextInt(buffered);
      out = buffer[j];
      buffer[j] = buffer[--buffered];
      buffer[buffered] = null;
    }
    emitted++;
    return out;
  }

  private ShardReader.Row read() {
    while (current == null) {
      Manifest.Shard shard = shards.get(shardOrder[nextShard++]);
      if (shard.rows() > 0) {
        current = new ShardReader(new Path(datasetDir, shard.path()), shard.rows(), conf);
        currentLeft = Math.min(shard.rows() - skip, totalRows - rowsRead);
        for (; skip > 0; skip--) {
          current.next();
        }
      }
    }
    ShardReader.Row row = current.next();
    rowsRead++;
    if (--currentLeft == 0) {
      closeCurrent();
    }
    return row;
  }

  private void closeCurrent() {
    try {
      current.close();
    } catch (IOException e) {
      throw new IllegalStateException("Cannot close a shard of " + datasetDir + ": " + e.getMessage(), e);
    } finally {
      current = null;
    }
  }

  @Override
  public void close() {
    if (current != null) {
      closeCurrent();
    }
  }
}
