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
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
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
 * move tensors through a TCP-ring {@link Collective}. Any failed task fails the whole stage. The stage feeds a
 * one-partition shuffle, which makes it a shuffle-map stage that Spark re-runs (a barrier result stage is never
 * retried), up to {@code spark.stage.maxConsecutiveAttempts} times; each new attempt resumes every task from the
 * newest complete checkpoint, so a lost executor costs at most {@code train.checkpoint-every} steps. The
 * {@code train.debug.*} test hooks act in the first attempt only. The driver checks before starting that K task
 * slots exist (cores and, when configured, GPUs) and that the batch divides among the workers.
 */
public final class SparkBarrierTrainer {

  /** How long a worker waits for a peer before its task fails. */
  public static final String TIMEOUT = "train.collective-timeout";
  /** Default of {@link #TIMEOUT}. */
  public static final Duration TIMEOUT_DEFAULT = Duration.ofMinutes(5);

  private static final Logger LOG = LoggerFactory.getLogger(SparkBarrierTrainer.class);

  /**
   * In local mode the barrier tasks run in the driver's JVM: rank 0 hands its progress lines straight to the
   * driver's consumer registered here under the run's id, so each event is reported once (not once logged by
   * the worker and once more by the driver following {@code metrics.jsonl}).
   */
  private static final Map<String, Consumer<String>> LOCAL_PROGRESS = new java.util.concurrent.ConcurrentHashMap<>();

  private SparkBarrierTrainer() {}

  /** Reads and checks {@value #TIMEOUT} (1 second to 1 day). */
  public static Duration timeout(dev.clipspark.dataset.config.Settings settings) {
    return settings.durationIn(TIMEOUT, Duration.ofSeconds(1), Duration.ofDays(1));
  }

  /**
   * Trains with {@code workers} barrier tasks and returns rank 0's summary. While the job runs, the driver
   * follows {@code OUT/metrics.jsonl} (which rank 0 writes) and passes each new record's progress line to
   * {@code progress}.
   *
   * @param timeout how long a worker waits for a peer before failing
   */
  public static TrainSummary run(SparkSession spark, Trainer.Request request, TrainOptions options, int workers,
      Duration timeout, Consumer<String> progress) {
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot train with --workers " + workers + ": must be at least 1");
    }
    options.shareOf(workers);
    var sc = spark.sparkContext();
    checkSlots(workers, sc.defaultParallelism(), sc.getConf(), sc.isLocal(), sc.getExecutorMemoryStatus().size() - 1);
    HadoopConf conf = HadoopConf.from(spark);
    Trainer.checkPlan(request, options, conf.get(), workers);
    long timeoutMillis = timeout.toMillis();
    var jsc = JavaSparkContext.fromSparkContext(sc);
    List<Integer> ranks = IntStream.range(0, workers).boxed().toList();
    String runId = java.util.UUID.randomUUID().toString();
    boolean local = sc.isLocal();
    if (local) {
      LOCAL_PROGRESS.put(runId, progress);
    }
    var job = new CompletableFuture<List<TrainSummary>>();
    Thread runner = new Thread(() -> {
      try {
        job.complete(jsc.parallelize(ranks, workers).rdd().barrier()
            .mapPartitions(new WorkerFunction(request, options, conf, timeoutMillis, runId), false,
                ClassTag$.MODULE$.apply(TrainSummary.class))
            .toJavaRDD().repartition(1).collect());
      } catch (Throwable t) {
        job.completeExceptionally(t);
      }
    }, "clipspark-train-job");
    runner.setDaemon(true);
    // On a cluster the driver follows the metrics rank 0 writes; in local mode rank 0 reports directly.
    Consumer<String> followed = local ? line -> { } : progress;
    var follower = new Follower(request.outDir(), conf.get());
    runner.start();
    List<TrainSummary> results;
    try {
      while (true) {
        try {
          results = job.get(2, TimeUnit.SECONDS);
          break;
        } catch (TimeoutException e) {
          follower.poll(followed);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          jsc.cancelAllJobs();
          throw new IllegalStateException("Interrupted while training " + request.outDir(), e);
        } catch (ExecutionException e) {
          if (e.getCause() instanceof RuntimeException r) {
            throw r;
          }
          throw new IllegalStateException("Cannot train " + request.outDir() + ": " + e.getCause(), e.getCause());
        }
      }
    } finally {
      LOCAL_PROGRESS.remove(runId);
    }
    follower.poll(followed);
    if (results.isEmpty()) {
      throw new IllegalStateException("Cannot finish training: rank 0 returned no summary");
    }
    return results.get(0);
  }

  /**
   * Checks that {@code workers} barrier tasks fit at once.
   *
   * @param cores the cores Spark offers ({@code defaultParallelism})
   * @param executors executors registered now (ignored in local mode)
   * @throws IllegalArgumentException naming the limit when they do not
   */
  static void checkSlots(int workers, int cores, org.apache.spark.SparkConf conf, boolean local, int executors) {
    int taskCpus = conf.getInt("spark.task.cpus", 1);
    int slots = cores / taskCpus;
    if (workers > slots) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot train with --workers %d: Spark offers %d task slots (%d cores / spark.task.cpus %d) and a barrier"
              + " stage needs all its tasks at once; use fewer workers or more executors", workers, slots, cores,
          taskCpus));
    }
    double taskGpus = conf.getDouble("spark.task.resource.gpu.amount", 0);
    double executorGpus = conf.getDouble("spark.executor.resource.gpu.amount", 0);
    if (!local && taskGpus > 0) {
      int gpuSlots = (int) Math.floor(executorGpus / taskGpus + 1e-9) * Math.max(executors, 0);
      if (workers > gpuSlots) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot train with --workers %d: the %d registered executors offer %d GPU task slots"
                + " (spark.executor.resource.gpu.amount %s / spark.task.resource.gpu.amount %s); use fewer workers,"
                + " more executors, or wait for them (spark.scheduler.minRegisteredResourcesRatio)", workers,
            executors, gpuSlots, executorGpus, taskGpus));
      }
    }
  }

  /** Prints the records rank 0 appends to {@code metrics.jsonl}, each once (a resumed run rewrites the file). */
  private static final class Follower {
    private final String outDir;
    private final org.apache.hadoop.conf.Configuration conf;
    private long printed;

    Follower(String outDir, org.apache.hadoop.conf.Configuration conf) {
      this.outDir = outDir;
      this.conf = conf;
      this.printed = lastStep(MetricsLog.records(outDir, Trainer.METRICS_FILE, conf));
    }

    void poll(Consumer<String> progress) {
      List<Map<String, Object>> records;
      try {
        records = MetricsLog.records(outDir, Trainer.METRICS_FILE, conf);
      } catch (UncheckedIOException e) {
        LOG.debug("Cannot follow the metrics of {} now: {}", outDir, e.getMessage());
        return;
      }
      printed = Math.min(printed, lastStep(records));
      for (var r : records) {
        if (r.get("step") instanceof Number n && n.longValue() > printed) {
          progress.accept(Trainer.progressLine(r));
          printed = n.longValue();
        }
      }
    }

    private static long lastStep(List<Map<String, Object>> records) {
      long last = 0;
      for (var r : records) {
        if (r.get("step") instanceof Number n) {
          last = Math.max(last, n.longValue());
        }
      }
      return last;
    }
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
    private final String runId;

    WorkerFunction(Trainer.Request request, TrainOptions options, HadoopConf conf, long timeoutMillis,
        String runId) {
      this.request = request;
      this.options = options;
      this.conf = conf;
      this.timeoutMillis = timeoutMillis;
      this.runId = runId;
    }

    /**
     * Where this rank's progress lines go: in the driver's JVM (local mode), rank 0's to the driver's consumer
     * and the other ranks' (the same events) to the debug log; on an executor, to its log.
     */
    private Consumer<String> progressSink(int rank) {
      Consumer<String> driver = LOCAL_PROGRESS.get(runId);
      if (driver == null) {
        return LOG::info;
      }
      return rank == 0 ? driver : LOG::debug;
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
      int attempt = context.stageAttemptNumber();
      LOG.info("Training worker {} of {} at {} (stage attempt {})", rank, size, addresses[rank], attempt);
      TrainOptions effective = attempt == 0 ? options : options.withoutTestHooks();
      List<TrainSummary> out;
      try (Collective collective = Collectives.tcpRing(rank, size, peers, Duration.ofMillis(timeoutMillis))) {
        TrainSummary summary = Trainer.run(request, effective, conf.get(), progressSink(rank), collective,
            context::isInterrupted);
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
