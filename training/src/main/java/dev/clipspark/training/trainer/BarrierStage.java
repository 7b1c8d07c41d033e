package dev.clipspark.training.trainer;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.Collectives;
import dev.clipspark.training.device.TaskGpus;
import java.io.IOException;
import java.io.Serializable;
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
import java.util.function.Function;
import java.util.stream.IntStream;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag$;

/**
 * Runs a {@link BarrierWork} as one Spark barrier stage of K tasks, one per worker: the tasks start together,
 * exchange their addresses once through {@code BarrierTaskContext.allGather} (far too slow for tensors), then
 * move tensors through a TCP-ring {@link Collective}. Any failed task fails the whole stage. The stage feeds a
 * one-partition shuffle, which makes it a shuffle-map stage that Spark re-runs (a barrier result stage is never
 * retried), up to {@code spark.stage.maxConsecutiveAttempts} times; the work sees the attempt number and resumes
 * from its newest checkpoint. The driver checks before starting that K task slots exist (cores and, when
 * configured, GPUs). The CLIP trainer ({@link SparkBarrierTrainer}), the language-model trainer and the LiMBeR
 * trainer all run on it.
 */
public final class BarrierStage {

  private static final Logger LOG = LoggerFactory.getLogger(BarrierStage.class);

  /**
   * In local mode the barrier tasks run in the driver's JVM: rank 0 hands its progress lines straight to the
   * driver's consumer registered here under the run's id, so each event is reported once (not once logged by
   * the worker and once more by the driver following a metrics file).
   */
  private static final Map<String, Consumer<String>> LOCAL_PROGRESS = new java.util.concurrent.ConcurrentHashMap<>();

  private BarrierStage() {}

  /**
   * Where the driver finds progress on a cluster: rank 0 appends JSON records to {@code outDir/file}, and the driver
   * prints each new record once, formatted by {@code line}.
   *
   * @param outDir the job's output directory (a Hadoop path)
   * @param file   the metrics file under it
   * @param line   formats one record as a progress line
   * @param conf   the Hadoop configuration to read it with
   */
  public record Follow(String outDir, String file, Function<Map<String, Object>, String> line,
      org.apache.hadoop.conf.Configuration conf) {}

  /**
   * Runs {@code work} with {@code workers} barrier tasks and returns rank 0's result.
   *
   * @param what     what the stage does, for messages ("train", "train the language model")
   * @param logAs    the logger (a class name) under which executors log the workers' progress lines, so that log
   *                 searches keep finding them by the component that trains
   * @param timeout  how long a worker waits for a peer before failing
   * @param progress receives progress lines on the driver: rank 0's own in local mode, else those of
   *                 {@code follow}'s metrics file (no progress on a cluster when {@code follow} is null)
   * @throws IllegalArgumentException if {@code workers} task slots are not available
   */
  public static <R extends Serializable> R run(SparkSession spark, String what, Class<?> logAs, BarrierWork<R> work,
      int workers, Duration timeout, Consumer<String> progress, Follow follow, Class<R> resultType) {
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot " + what + " with --workers " + workers + ": must be at least 1");
    }
    var sc = spark.sparkContext();
    checkSlots(what, workers, sc.defaultParallelism(), sc.getConf(), sc.isLocal(),
        sc.getExecutorMemoryStatus().size() - 1);
    long timeoutMillis = timeout.toMillis();
    var jsc = JavaSparkContext.fromSparkContext(sc);
    List<Integer> ranks = IntStream.range(0, workers).boxed().toList();
    String runId = java.util.UUID.randomUUID().toString();
    boolean local = sc.isLocal();
    if (local) {
      LOCAL_PROGRESS.put(runId, progress);
    }
    var job = new CompletableFuture<List<R>>();
    Thread runner = new Thread(() -> {
      try {
        job.complete(jsc.parallelize(ranks, workers).rdd().barrier()
            .mapPartitions(new WorkerFunction<>(work, timeoutMillis, runId, logAs.getName()), false, ClassTag$.MODULE$.apply(resultType))
            .toJavaRDD().repartition(1).collect());
      } catch (Throwable t) {
        job.completeExceptionally(t);
      }
    }, "clipspark-barrier-job");
    runner.setDaemon(true);
    // On a cluster the driver follows the metrics rank 0 writes; in local mode rank 0 reports directly.
    Consumer<String> followed = local ? line -> { } : progress;
    var follower = follow == null ? null : new Follower(follow);
    runner.start();
    List<R> results;
    try {
      while (true) {
        try {
          results = job.get(2, TimeUnit.SECONDS);
          break;
        } catch (TimeoutException e) {
          if (follower != null) {
            follower.poll(followed);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          jsc.cancelAllJobs();
          throw new IllegalStateException("Interrupted while trying to " + what, e);
        } catch (ExecutionException e) {
          if (e.getCause() instanceof RuntimeException r) {
            throw r;
          }
          throw new IllegalStateException("Cannot " + what + ": " + e.getCause(), e.getCause());
        }
      }
    } finally {
      LOCAL_PROGRESS.remove(runId);
    }
    if (follower != null) {
      follower.poll(followed);
    }
    if (results.isEmpty()) {
      throw new IllegalStateException("Cannot " + what + ": rank 0 returned no result");
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
  public static void checkSlots(String what, int workers, int cores, org.apache.spark.SparkConf conf, boolean local,
      int executors) {
    int taskCpus = conf.getInt("spark.task.cpus", 1);
    int slots = cores / taskCpus;
    if (workers > slots) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot %s with --workers %d: Spark offers %d task slots (%d cores / spark.task.cpus %d) and a barrier"
              + " stage needs all its tasks at once; use fewer workers or more executors", what, workers, slots,
          cores, taskCpus));
    }
    double taskGpus = conf.getDouble("spark.task.resource.gpu.amount", 0);
    double executorGpus = conf.getDouble("spark.executor.resource.gpu.amount", 0);
    if (!local && taskGpus > 0) {
      int gpuSlots = (int) Math.floor(executorGpus / taskGpus + 1e-9) * Math.max(executors, 0);
      if (workers > gpuSlots) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot %s with --workers %d: the %d registered executors offer %d GPU task slots"
                + " (spark.executor.resource.gpu.amount %s / spark.task.resource.gpu.amount %s); use fewer workers,"
                + " more executors, or wait for them (spark.scheduler.minRegisteredResourcesRatio)", what, workers,
            executors, gpuSlots, executorGpus, taskGpus));
      }
    }
  }

  /** Prints the records rank 0 appends to the metrics file, each once (a resumed run rewrites the file). */
  private static final class Follower {
    private final Follow follow;
    private long printed;

    Follower(Follow follow) {
      this.follow = follow;
      List<Map<String, Object>> records;
      try {
        records = MetricsLog.records(follow.outDir(), follow.file(), follow.conf());
      } catch (UncheckedIOException e) {
        records = List.of();
      }
      this.printed = lastStep(records);
    }

    void poll(Consumer<String> progress) {
      List<Map<String, Object>> records;
      try {
        records = MetricsLog.records(follow.outDir(), follow.file(), follow.conf());
      } catch (UncheckedIOException e) {
        LOG.debug("Cannot follow the metrics of {} now: {}", follow.outDir(), e.getMessage());
        return;
      }
      printed = Math.min(printed, lastStep(records));
      for (var r : records) {
        if (r.get("step") instanceof Number n && n.longValue() > printed) {
          progress.accept(follow.line().apply(r));
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
  private static final class WorkerFunction<R extends Serializable>
      extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<R>>
      implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final BarrierWork<R> work;
    private final long timeoutMillis;
    private final String runId;
    private final String logAs;

    WorkerFunction(BarrierWork<R> work, long timeoutMillis, String runId, String logAs) {
      this.work = work;
      this.timeoutMillis = timeoutMillis;
      this.runId = runId;
      this.logAs = logAs;
    }

    /**
     * Where this rank's progress lines go: in the driver's JVM (local mode), rank 0's to the driver's consumer
     * and the other ranks' (the same events) to the debug log; on an executor, to its log.
     */
    private Consumer<String> progressSink(int rank) {
      Consumer<String> driver = LOCAL_PROGRESS.get(runId);
      Logger log = LoggerFactory.getLogger(logAs);
      if (driver == null) {
        return log::info;
      }
      return rank == 0 ? driver : log::debug;
    }

    @Override
    public scala.collection.Iterator<R> apply(scala.collection.Iterator<Integer> partition) {
      BarrierTaskContext context = BarrierTaskContext.get();
      int rank = context.partitionId();
      int size = context.getTaskInfos().length;
      TaskGpus.bind("barrier worker " + rank + " of " + size);
      String host = SparkEnv.get().blockManager().blockManagerId().host();
      String[] addresses = context.allGather(host + ":" + freePort());
      var peers = new ArrayList<InetSocketAddress>();
      for (String a : addresses) {
        int colon = a.lastIndexOf(':');
        peers.add(new InetSocketAddress(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))));
      }
      int attempt = context.stageAttemptNumber();
      LoggerFactory.getLogger(logAs).info("Barrier worker {} of {} at {} (stage attempt {})", rank, size,
          addresses[rank], attempt);
      List<R> out;
      try (Collective collective = Collectives.tcpRing(rank, size, peers, Duration.ofMillis(timeoutMillis))) {
        R result = work.run(new BarrierWork.Worker(rank, size, collective, progressSink(rank), context::isInterrupted,
            attempt));
        out = rank == 0 ? List.of(result) : Collections.emptyList();
      }
      Iterator<R> it = out.iterator();
      return scala.collection.JavaConverters.asScalaIterator(it);
    }

    private static int freePort() {
      try (var socket = new ServerSocket(0)) {
        return socket.getLocalPort();
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot find a free port for the barrier collective", e);
      }
    }
  }
}
