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
 * The rows of one epoch in sample order: the shards in a permutation seeded by {@code (seed, epoch)}, each
 * read front to back, through a shuffle buffer of {@code bufferSize} rows seeded by {@code (seed, epoch)}.
 * The buffer first fills up; then each row read replaces a uniformly chosen buffered row, which is emitted;
 * at the end the buffer drains in random order. Which row comes out where depends only on the shards' row
 * counts in the manifest and the seeds, never on the data or on timing.
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

  EpochOrder(String datasetDir, Manifest manifest, Configuration conf, long seed, int epoch, int bufferSize) {
    this.datasetDir = datasetDir;
    this.shards = manifest.shards();
    this.conf = conf;
    this.totalRows = manifest.totalRows();
    this.shardOrder = permutation(shards.size(), new Random(Seeds.of(seed, Seeds.SHARD_ORDER, epoch)));
    this.shuffle = new Random(Seeds.of(seed, Seeds.SHUFFLE, epoch));
    this.buffer = new ShardReader.Row[(int) Math.min(bufferSize, Math.max(1, totalRows))];
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
        currentLeft = shard.rows();
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
