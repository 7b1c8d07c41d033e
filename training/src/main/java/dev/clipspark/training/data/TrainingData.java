package dev.clipspark.training.data;

import dev.clipspark.dataset.build.Manifest;
import dev.clipspark.training.device.HostMemory;
import dev.clipspark.training.device.TaskGpus;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import java.nio.FloatBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An endless stream of training {@link Batch}es from a built ClipSpark dataset (its {@code manifest.json} and
 * Parquet shards), images decoded and transformed by an {@link ImagePreprocessor} on background threads,
 * captions tokenized by a {@link ClipTokenizer}.
 *
 * <pre>{@code
 * try (var data = TrainingData.builder().setDataset(dir).setTokenizer(tokenizer).setContextLength(77)
 *     .setImageSize(224).setBatchSize(256).setSeed(42)
 *     .optAugment(ImagePreprocessor.train(224, 0.9, 1.0)).optStart(checkpoint.position()).build()) {
 *   for (long step = 0; step < steps; step++) {
 *     Batch batch = data.next();
 *     ... train, and save data.position() with a checkpoint ...
 *   }
 * }
 * }</pre>
 *
 * <p><b>Order.</b> Epoch {@code e} reads the shards in a permutation seeded by {@code (seed, e)}, each front
 * to back, through a shuffle buffer of {@code optShuffleBuffer} rows seeded by {@code (seed, e, rank)}, so
 * batches mix shards. The epoch's sample order depends only on the manifest's row counts, the seed and the rank
 * split: not on the data, the decode threads or timing. Batch {@code i} of an epoch holds samples
 * {@code [i*b, (i+1)*b)} of that order ({@code b} = this rank's share of the batch); when fewer than {@code b}
 * samples remain the rest is dropped and the next epoch starts, so an epoch never has a partial batch.
 *
 * <p><b>Augmentation.</b> Each sample's {@link Random} is seeded from {@code (seed, epoch, rank, sample index
 * in the rank's epoch)}, so results do not depend on which thread decodes what.
 *
 * <p><b>Resume.</b> {@link #position()} is the position after the last batch returned; {@code optStart} with
 * it yields exactly the batches an uninterrupted stream would have yielded next. Fast-forwarding re-reads the
 * rows before the start (the shuffle buffer needs them) but decodes none of their images.
 *
 * <p><b>Ranks.</b> With {@code optRank(r, k)} the batch size is the global batch {@code B} and this stream
 * yields rank {@code r}'s {@code B / k} samples of each step. Each rank streams only its own share of the
 * dataset: the epoch's permuted shards, seen as one sequence of {@code T} rows, are cut into {@code k}
 * contiguous parts of {@code floor(T / k)} or {@code ceil(T / k)} rows and rank {@code r} reads part
 * {@code r} (opening only the shards it touches), so the ranks together see every row of an epoch at most once
 * and read the dataset once between them. Every rank has the same {@link #batchesPerEpoch()},
 * {@code floor(floor(T / k) / (B / k))}, so all take the same number of steps. {@link #position()} counts
 * global samples ({@code steps * B}); resuming with another {@code k} divides the rest of that epoch anew.
 *
 * <p><b>Bad images.</b> A sample whose image does not decode is counted ({@link #badImages()}, logged with its
 * key) and replaced, whole (key, caption and image), by the nearest of the up to {@value #SUBSTITUTES}
 * samples before it in the epoch's order whose image decodes, transformed with the failed sample's random
 * seed; when none does (the first samples of an epoch), its image is replaced by the mean colour (all zeros
 * after normalisation) and it keeps its own key and caption. The replacement depends only on the data and
 * the order, so it is the same for every thread count and resume point, and batch sizes never
 * change. Row reading failures (a missing or changed shard) end the stream with an exception from
 * {@link #next()}.
 *
 * <p><b>Prefetch.</b> A producer thread reads rows and hands each sample to {@code optDecodeThreads} decode
 * threads that write straight into the batch's image array; up to {@code optPrefetchBatches} finished or
 * in-progress batches wait ahead of the consumer, so a step does not wait on data when decoding keeps up.
 *
 * <p>{@link #next()}, {@link #position()} and {@link #close()} belong to one consumer thread.
 */
public final class TrainingData implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(TrainingData.class);

  /** Default rows in the shuffle buffer. */
  public static final int SHUFFLE_BUFFER_DEFAULT = 4096;
  /** Default batches prepared ahead of the consumer. */
  public static final int PREFETCH_BATCHES_DEFAULT = 2;
  /** How many preceding samples may replace a sample whose image does not decode. */
  public static final int SUBSTITUTES = 8;

  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final String dataset;
  private final Manifest manifest;
  private final Configuration conf;
  private final ClipTokenizer tokenizer;
  private final int contextLength;
  private final int imageSize;
  private final int localBatch;
  private final int rank;
  private final int worldSize;
  private final long seed;
  private final ImagePreprocessor preprocessor;
  private final int shuffleBuffer;
  private final long totalRows;
  private final long batchesPerEpoch;
  private final AtomicLong badImages = new AtomicLong();
  private final ThreadPoolExecutor decoders;
  private final BlockingQueue<Pending> ready;
  private final Thread producer;
  private final DataPosition start;
  private volatile boolean closed;
  private DataPosition position;
  private IllegalStateException failure;

  private TrainingData(Builder b, Manifest manifest, long totalRows) {
    this.dataset = b.dataset;
    this.manifest = manifest;
    this.conf = b.conf;
    this.tokenizer = b.tokenizer;
    this.contextLength = b.contextLength;
    this.imageSize = b.imageSize;
    this.localBatch = b.batchSize / b.worldSize;
    this.rank = b.rank;
    this.worldSize = b.worldSize;
    this.seed = b.seed;
    this.preprocessor = b.augment != null ? b.augment : ImagePreprocessor.eval(b.imageSize);
    this.shuffleBuffer = b.shuffleBuffer;
    this.totalRows = totalRows;
    this.batchesPerEpoch = batchesPerEpoch(totalRows, b.batchSize, b.worldSize);
    this.start = b.start;
    this.position = b.start;
    int id = INSTANCES.incrementAndGet();
    var threads = new AtomicInteger();
    this.decoders = new ThreadPoolExecutor(b.decodeThreads, b.decodeThreads, 30, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), r -> {
          var t = new Thread(r, "clipspark-data-" + id + "-decode-" + threads.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    this.ready = new ArrayBlockingQueue<>(b.prefetchBatches);
    // The reading thread allocates the batches' arrays: on a GPU, on the caller's device.
    Runnable sameDevice = TaskGpus.sameDeviceInAnotherThread();
    this.producer = new Thread(() -> {
      sameDevice.run();
      produce();
    }, "clipspark-data-" + id + "-read");
    this.producer.setDaemon(true);
    this.producer.start();
  }

  /** A builder; {@code setX} values are required, {@code optX} values optional. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The next batch (this rank's slice of the next global batch); waits while it is being prepared.
   *
   * @throws IllegalStateException if the stream is closed, or reading the dataset failed (every later call
   *     throws the same)
   */
  public Batch next() {
    if (closed) {
      throw new IllegalStateException("Cannot read a batch from " + dataset + ": the training data is closed");
    }
    if (failure != null) {
      throw failure;
    }
    Pending p;
    try {
      p = ready.take();
      if (p.failure == null) {
        p.done.await();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while waiting for a batch from " + dataset, e);
    }
    Throwable error = p.failure != null ? p.failure : p.error.get();
    if (error != null) {
      failure = new IllegalStateException("Cannot read a batch from " + dataset + ": " + error.getMessage(), error);
      throw failure;
    }
    position = p.after;
    p.imagesView.close(); // the decoders' writes become the array's content (on a GPU: copied over on first use)
    return new Batch(p.images, Nd4j.createFromArray(p.tokens), Arrays.asList(p.keys), Arrays.asList(p.captions));
  }

  /**
   * The position after the last batch {@link #next()} returned (the start position before the first): save
   * it with a checkpoint and pass it to {@code optStart} to resume with the next batch. After an epoch's last
   * batch it is the start of the next epoch.
   */
  public DataPosition position() {
    return position;
  }

  /**
   * Steps in an epoch, the same on every rank: {@code floor(totalRows / batchSize)} for one rank,
   * {@code floor(floor(totalRows / k) / (batchSize / k))} for {@code k}.
   */
  public long batchesPerEpoch() {
    return batchesPerEpoch;
  }

  /**
   * Global batches per epoch of a dataset of {@code rows} rows: each of the {@code workers} ranks streams
   * {@code floor(rows / workers)} rows in batches of {@code batchSize / workers}, dropping the remainder.
   */
  public static long batchesPerEpoch(long rows, int batchSize, int workers) {
    return rows / workers / (batchSize / workers);
  }

  /** Rows in the dataset, as its manifest lists them. */
  public long totalRows() {
    return totalRows;
  }

  /** Samples in this stream (this rank's slices) whose image failed to decode and was replaced. */
  public long badImages() {
    return badImages.get();
  }

  /** The dataset's manifest. */
  public Manifest manifest() {
    return manifest;
  }

  /** Stops the reading and decode threads and drops prepared batches. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    producer.interrupt();
    decoders.shutdownNow();
    ready.clear();
    try {
      producer.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A batch being prepared: decode threads fill it, the consumer waits for {@link #done}. */
  private static final class Pending {
    final INDArray images;
    final HostMemory.View imagesView;
    final FloatBuffer pixels;
    final int[][] tokens;
    final String[] keys;
    final String[] captions;
    final CountDownLatch done;
    final AtomicReference<Throwable> error = new AtomicReference<>();
    final Throwable failure;
    DataPosition after;

    Pending(int batch, int size, int contextLength) {
      this.images = Nd4j.create(DataType.FLOAT, batch, 3, size, size);
      this.imagesView = HostMemory.readWrite(images); // closed by next(), once the decoders are done
      this.pixels = imagesView.floats();
      this.tokens = new int[batch][];
      this.keys = new String[batch];
      this.captions = new String[batch];
      this.done = new CountDownLatch(batch);
      this.failure = null;
    }

    Pending(Throwable failure) {
      this.images = null;
      this.imagesView = null;
      this.pixels = null;
      this.tokens = null;
      this.keys = null;
      this.captions = null;
      this.done = new CountDownLatch(0);
      this.failure = failure;
    }

    void put(int slot, ShardReader.Row row, float[] image, int[] ids) {
      pixels.duplicate().position(slot * image.length).put(image);
      keys[slot] = row.key();
      captions[slot] = row.caption();
      tokens[slot] = ids;
    }
  }

  /** The producer thread: reads rows in sample order, skips to the start, hands slices to the decoders. */
  private void produce() {
    try {
      int epoch = start.epoch();
      long first = start.sampleInEpoch();
      while (!closed) {
        produceEpoch(epoch, first);
        epoch++;
        first = 0;
      }
    } catch (InterruptedException e) {
      // closed
    } catch (Throwable t) {
      if (!closed) {
        try {
          ready.put(new Pending(t));
        } catch (InterruptedException e) {
          // closed while reporting
        }
      }
    }
  }

  private void produceEpoch(int epoch, long firstGlobal) throws InterruptedException {
    long first = firstGlobal / worldSize;
    long steps = batchesPerEpoch;
    if (first / localBatch >= steps) {
      return;
    }
    var recent = new ArrayDeque<ShardReader.Row>(SUBSTITUTES + 1);
    try (var order = new EpochOrder(dataset, manifest, conf, seed, epoch, shuffleBuffer, rank, worldSize)) {
      long index = 0;
      for (; index < first; index++) {
        remember(recent, order.next());
      }
      while (index / localBatch < steps) {
        var pending = new Pending(localBatch, imageSize, contextLength);
        for (int slot = 0; slot < localBatch; slot++) {
          if (closed) {
            throw new InterruptedException();
          }
          ShardReader.Row row = order.next();
          var before = recent.toArray(new ShardReader.Row[0]);
          long sample = index + slot;
          int into = slot;
          decoders.execute(() -> decode(pending, into, row, before, epoch, sample));
          remember(recent, row);
        }
        index += localBatch;
        pending.after = index / localBatch < steps ? new DataPosition(epoch, index * worldSize)
            : new DataPosition(epoch + 1, 0);
        ready.put(pending);
      }
    }
  }

  private static void remember(ArrayDeque<ShardReader.Row> recent, ShardReader.Row row) {
    recent.addLast(row);
    if (recent.size() > SUBSTITUTES) {
      recent.removeFirst();
    }
  }

  /** Decodes one sample into its slot, replacing a bad image as the class documents. */
  private void decode(Pending pending, int slot, ShardReader.Row row, ShardReader.Row[] before, int epoch,
      long sample) {
    try {
      long sampleSeed = Seeds.of(seed, Seeds.AUGMENT, epoch, rank, sample);
      ShardReader.Row used = row;
      float[] image;
      try {
        image = preprocessor.apply(row.image(), new Random(sampleSeed));
      } catch (IllegalArgumentException e) {
        badImages.incrementAndGet();
        image = null;
        for (int k = before.length - 1; k >= 0 && image == null; k--) {
          try {
            image = preprocessor.apply(before[k].image(), new Random(sampleSeed));
            used = before[k];
          } catch (IllegalArgumentException again) {
            // that one is bad too: try the one before it
          }
        }
        if (image == null) {
          image = new float[3 * imageSize * imageSize];
        }
        LOG.warn("Cannot decode the image of sample '{}' (epoch {}, sample {}): {}; using {}", row.key(), epoch, sample,
            e.getMessage(), used == row ? "a mean-colour image" : "sample '" + used.key() + "' instead");
      }
      int[] ids = tokenizer.tokenize(List.of(used.caption()), contextLength, true)[0];
      pending.put(slot, used, image, ids);
    } catch (Throwable t) {
      pending.error.compareAndSet(null, new IllegalStateException("Cannot prepare sample '" + row.key() + "' (epoch "
          + epoch + ", sample " + sample + "): " + t.getMessage(), t));
    } finally {
      pending.done.countDown();
    }
  }

  /** Builds a {@link TrainingData}: {@code setX} for required values, {@code optX} for optional ones. */
  public static final class Builder {
    private String dataset;
    private ClipTokenizer tokenizer;
    private int contextLength = -1;
    private int imageSize = -1;
    private int batchSize = -1;
    private Long seed;
    private ImagePreprocessor augment;
    private Configuration conf;
    private int decodeThreads = Runtime.getRuntime().availableProcessors();
    private int shuffleBuffer = SHUFFLE_BUFFER_DEFAULT;
    private int prefetchBatches = PREFETCH_BATCHES_DEFAULT;
    private int rank = 0;
    private int worldSize = 1;
    private DataPosition start = DataPosition.START;

    private Builder() {}

    /** The dataset directory (holding {@code manifest.json}), a local path or a Hadoop URI. Required. */
    public Builder setDataset(String dir) {
      this.dataset = Objects.requireNonNull(dir, "dir");
      return this;
    }

    /** The tokenizer for captions. Required. */
    public Builder setTokenizer(ClipTokenizer tokenizer) {
      this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
      return this;
    }

    /** Token ids per caption (longer captions are truncated, ending with the end token). Required, at least 2. */
    public Builder setContextLength(int contextLength) {
      this.contextLength = contextLength;
      return this;
    }

    /** The output image side {@code S}. Required. */
    public Builder setImageSize(int size) {
      this.imageSize = size;
      return this;
    }

    /** The global batch size (over all ranks). Required, at most the dataset's rows. */
    public Builder setBatchSize(int batchSize) {
      this.batchSize = batchSize;
      return this;
    }

    /** The seed of the shard order, the shuffle buffer and augmentation. Required. */
    public Builder setSeed(long seed) {
      this.seed = seed;
      return this;
    }

    /**
     * The image transform, e.g. {@link ImagePreprocessor#train(int, double, double)}; its size must be the
     * image size. Default: {@link ImagePreprocessor#eval(int)} (no augmentation).
     */
    public Builder optAugment(ImagePreprocessor preprocessor) {
      this.augment = Objects.requireNonNull(preprocessor, "preprocessor");
      return this;
    }

    /** The Hadoop configuration for reading the dataset. Default: {@code new Configuration()}. */
    public Builder optHadoopConf(Configuration conf) {
      this.conf = Objects.requireNonNull(conf, "conf");
      return this;
    }

    /** Threads that decode and transform images. Default: the available processors. */
    public Builder optDecodeThreads(int threads) {
      this.decodeThreads = threads;
      return this;
    }

    /** Rows in the shuffle buffer. Default {@value TrainingData#SHUFFLE_BUFFER_DEFAULT}. */
    public Builder optShuffleBuffer(int rows) {
      this.shuffleBuffer = rows;
      return this;
    }

    /** Batches prepared ahead of the consumer. Default {@value TrainingData#PREFETCH_BATCHES_DEFAULT}. */
    public Builder optPrefetchBatches(int batches) {
      this.prefetchBatches = batches;
      return this;
    }

    /**
     * This stream is rank {@code rank} of {@code worldSize}: it reads only that rank's share of each epoch and
     * yields that rank's {@code batchSize / worldSize} samples of each step.
     */
    public Builder optRank(int rank, int worldSize) {
      this.rank = rank;
      this.worldSize = worldSize;
      return this;
    }

    /** Where to start, e.g. a checkpoint's saved {@link TrainingData#position()}. Default: epoch 0, sample 0. */
    public Builder optStart(DataPosition start) {
      this.start = Objects.requireNonNull(start, "start");
      return this;
    }

    /**
     * Checks the settings, reads the manifest and starts the reading and decode threads.
     *
     * @throws IllegalArgumentException for a missing required value, a value out of range, a dataset without
     *     a manifest, or a batch larger than the dataset
     */
    public TrainingData build() {
      if (dataset == null) {
        throw new IllegalArgumentException("Cannot build training data: no dataset set (setDataset)");
      }
      if (tokenizer == null) {
        throw new IllegalArgumentException("Cannot build training data: no tokenizer set (setTokenizer)");
      }
      if (seed == null) {
        throw new IllegalArgumentException("Cannot build training data: no seed set (setSeed)");
      }
      if (contextLength < 2) {
        throw new IllegalArgumentException("Cannot set the context length to " + contextLength
            + ": it must be at least 2 (setContextLength)");
      }
      if (imageSize < 1 || imageSize > ImagePreprocessor.MAX_SIZE) {
        throw new IllegalArgumentException("Cannot set the image size to " + imageSize + ": it must be between 1 and "
            + ImagePreprocessor.MAX_SIZE + " (setImageSize)");
      }
      if (augment != null && augment.size() != imageSize) {
        throw new IllegalArgumentException("Cannot augment with a " + augment.size() + "-pixel preprocessor: the image"
            + " size is " + imageSize);
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("Cannot set the batch size to " + batchSize + ": it must be at least 1");
      }
      if (worldSize < 1 || rank < 0 || rank >= worldSize) {
        throw new IllegalArgumentException("Cannot be rank " + rank + " of " + worldSize
            + ": need a world size of at least 1 and 0 <= rank < world size");
      }
      if (batchSize % worldSize != 0) {
        throw new IllegalArgumentException("Cannot split a batch of " + batchSize + " across " + worldSize
            + " ranks: the batch size must be a multiple of the world size");
      }
      if ((long) (batchSize / worldSize) * 3 * imageSize * imageSize > Integer.MAX_VALUE / 4) {
        throw new IllegalArgumentException("Cannot hold " + (batchSize / worldSize) + " images of " + imageSize
            + " pixels in one batch: over 2 GiB; use a smaller batch or more ranks");
      }
      if (decodeThreads < 1) {
        throw new IllegalArgumentException("Cannot decode with " + decodeThreads + " threads: must be at least 1");
      }
      if (shuffleBuffer < 1) {
        throw new IllegalArgumentException("Cannot set the shuffle buffer to " + shuffleBuffer
            + " rows: must be at least 1");
      }
      if (prefetchBatches < 1) {
        throw new IllegalArgumentException("Cannot prefetch " + prefetchBatches + " batches: must be at least 1");
      }
      if (conf == null) {
        conf = new Configuration();
      }
      Manifest manifest = Manifest.read(dataset, conf);
      long rows = 0;
      for (Manifest.Shard s : manifest.shards()) {
        rows += s.rows();
      }
      if (rows != manifest.totalRows()) {
        throw new IllegalArgumentException("Cannot read dataset " + dataset + ": its manifest lists " + manifest.totalRows()
            + " rows in total but " + rows + " in its shards");
      }
      if (batchSize > rows) {
        throw new IllegalArgumentException("Cannot make batches of " + batchSize + " from dataset " + dataset
            + ": it has only " + rows + " rows");
      }
      if (start.sampleInEpoch() % worldSize != 0) {
        throw new IllegalArgumentException("Cannot start at sample " + start.sampleInEpoch() + " of epoch "
            + start.epoch() + " with " + worldSize + " ranks: a position counts whole global batches, so it must be"
            + " a multiple of the ranks");
      }
      if (start.sampleInEpoch() > rows) {
        throw new IllegalArgumentException("Cannot start at sample " + start.sampleInEpoch() + " of epoch "
            + start.epoch() + ": an epoch of " + dataset + " has " + rows + " samples");
      }
      return new TrainingData(this, manifest, rows);
    }
  }
}
