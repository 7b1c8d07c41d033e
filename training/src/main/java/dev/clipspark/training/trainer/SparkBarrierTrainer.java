package dev.clipspark.training.trainer;

import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag$;

/**
 * Runs {@link Trainer} as one Spark barrier stage of K tasks, one per worker: the tasks start together,
 * exchange their addresses once through {@code BarrierTaskContext.allGather} (far too slow for tensors), then
 * move tensors through a TCP-ring {@link Collective}. Any failed task fails the stage; when Spark retries it
 * (or the job is run again), every task resumes from the newest complete checkpoint. The driver checks
 * before starting that K task slots exist and that the batch divides among the workers.
 */
public final class SparkBarrierTrainer {

  /** How long a worker waits for a peer before its task fails. */
  public static final String TIMEOUT = "train.collective-timeout";
  /** Default of {@link #TIMEOUT}. */
  public static final Duration TIMEOUT_DEFAULT = Duration.ofMinutes(5);

  private static final Logger LOG = LoggerFactory.getLogger(SparkBarrierTrainer.class);

  private SparkBarrierTrainer() {}

  /**
   * Trains with {@code workers} barrier tasks and returns rank 0's summary.
   *
   * @param timeout how long a worker waits for a peer before failing
   */
  public static TrainSummary run(SparkSession spark, Trainer.Request request, TrainOptions options, int workers,
      Duration timeout) {
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train with --workers " + workers + ": must be at least 1");
    }
    if (options.batchSize() % workers != 0) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot set %s to %d: must be a multiple of the %d workers", TrainOptions.BATCH_SIZE, options.batchSize(),
          workers));
    }
    var sc = spark.sparkContext();
    int taskCpus = sc.conf().getInt("spark.task.cpus", 1);
    int slots = sc.defaultParallelism() / taskCpus;
    if (workers > slots) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot train with --workers %d: Spark offers %d task slots (%d cores / spark.task.cpus %d) and a barrier"
              + " stage needs all its tasks at once; use fewer workers or more executors", workers, slots,
          sc.defaultParallelism(), taskCpus));
    }
    HadoopConf conf = HadoopConf.from(spark);
    long timeoutMillis = timeout.toMillis();
    var jsc = JavaSparkContext.fromSparkContext(sc);
    List<Integer> ranks = IntStream.range(0, workers).boxed().toList();
    List<TrainSummary> results = jsc.parallelize(ranks, workers).rdd().barrier()
        .mapPartitions(new WorkerFunction(request, options, conf, timeoutMillis), false,
            ClassTag$.MODULE$.apply(TrainSummary.class))
        .toJavaRDD().collect();
    if (results.isEmpty()) {
      throw new IllegalStateException("Cannot finish training: rank 0 returned no summary");
    }
    return results.get(0);
  }

  /** The body of one barrier task. */
  private static final class WorkerFunction
      extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<TrainSummary>>
      implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final Trainer.Request request;
    private final TrainOptions options;
    private final HadoopConf conf;
    private final long timeoutMillis;

    WorkerFunction(Trainer.Request request, TrainOptions options, HadoopConf conf, long timeoutMillis) {
      this.request = request;
      this.options = options;
      this.conf = conf;
      this.timeoutMillis = timeoutMillis;
    }

    @Override
    public scala.collection.Iterator<TrainSummary> apply(scala.collection.Iterator<Integer> partition) {
      BarrierTaskContext context = BarrierTaskContext.get();
      int rank = context.partitionId();
      int size = context.getTaskInfos().length;
      String host = SparkEnv.get().blockManager().blockManagerId().host();
      String[] addresses = context.allGather(host + ":" + freePort());
      var peers = new ArrayList<InetSocketAddress>();
      for (String a : addresses) {
        int colon = a.lastIndexOf(':');
        peers.add(new InetSocketAddress(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))));
      }
      LOG.info("Training worker {} of {} at {}", rank, size, addresses[rank]);
      List<TrainSummary> out;
      try (Collective collective = Collectives.tcpRing(rank, size, peers, Duration.ofMillis(timeoutMillis))) {
        TrainSummary summary = Trainer.run(request, options, conf.get(), line -> LOG.info(line), collective);
        out = rank == 0 ? List.of(summary) : Collections.emptyList();
      }
      Iterator<TrainSummary> it = out.iterator();
      return scala.collection.JavaConverters.asScalaIterator(it);
    }

    private static int freePort() {
      try (var socket = new ServerSocket(0)) {
        return socket.getLocalPort();
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot find a free port for the training collective", e);
      }
    }
  }
}
