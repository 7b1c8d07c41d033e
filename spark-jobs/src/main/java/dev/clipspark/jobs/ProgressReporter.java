package dev.clipspark.jobs;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.apache.spark.SparkContext;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.StageInfo;

/**
 * Progress of a long Spark job on the console, shared by the commands: at most one line every {@code interval},
 * and only when something moved, naming the running stage, its tasks done of the total, the rows read so far
 * (input and shuffle records of finished tasks), the rate, the elapsed time and an ETA from the stage's share of
 * tasks done; then, when the command ends, one line with the totals and the wall time. Barrier stages (training)
 * are left out: the trainer reports its steps itself.
 *
 * <p>A {@link SparkListener}: Spark calls it on its listener-bus thread; a daemon thread prints.
 */
final class ProgressReporter extends SparkListener implements AutoCloseable {

  /** When progress lines are printed ({@code --progress}). */
  enum Mode {
    /** When standard output is a terminal. */
    AUTO,
    /** Always, also into files and pipes. */
    ALWAYS,
    /** Never. */
    NEVER
  }

  /** Per stage: what is known of it. */
  private static final class Stage {
    final int id;
    final String name;
    final int tasks;
    final long startNanos;
    int done;
    long rows;
    boolean completed;

    Stage(int id, String name, int tasks, long startNanos) {
      this.id = id;
      this.name = name;
      this.tasks = tasks;
      this.startNanos = startNanos;
    }
  }

  private final String job;
  private final PrintWriter out;
  private final LongSupplier clock;
  private final long startNanos;
  private final Map<Integer, Stage> stages = new HashMap<>();
  private Stage current;
  private long totalRows;
  private long totalTasks;
  private int totalStages;
  private String lastPrinted = "";
  private ScheduledExecutorService printer;
  private SparkContext context;

  ProgressReporter(String job, PrintWriter out, LongSupplier clock) {
    this.job = job;
    this.out = out;
    this.clock = clock;
    this.startNanos = clock.getAsLong();
  }

  /**
   * Starts reporting on {@code sc} every {@code interval} when {@code mode} says so (for {@link Mode#AUTO}, when
   * {@code terminal}); returns null when it does not.
   */
  static ProgressReporter start(String job, SparkContext sc, Mode mode, boolean terminal, Duration interval,
      PrintWriter out) {
    if (mode == Mode.NEVER || (mode == Mode.AUTO && !terminal)) {
      return null;
    }
    var reporter = new ProgressReporter(job, out, System::nanoTime);
    sc.addSparkListener(reporter);
    reporter.context = sc;
    reporter.printer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "clipspark-progress");
      t.setDaemon(true);
      return t;
    });
    long millis = interval.toMillis();
    reporter.printer.scheduleAtFixedRate(reporter::printIfMoved, millis, millis, TimeUnit.MILLISECONDS);
    return reporter;
  }

  private static boolean isBarrier(StageInfo info) {
    var rdds = info.rddInfos().iterator();
    while (rdds.hasNext()) {
      if (rdds.next().isBarrier()) {
        return true;
      }
    }
    return false;
  }

  @Override
  public synchronized void onStageSubmitted(SparkListenerStageSubmitted event) {
    StageInfo info = event.stageInfo();
    if (isBarrier(info)) {
      return;
    }
    var stage = new Stage(info.stageId(), shortName(info.name()), info.numTasks(), clock.getAsLong());
    stages.put(stage.id, stage);
    current = stage;
    totalStages++;
  }

  @Override
  public synchronized void onTaskEnd(SparkListenerTaskEnd event) {
    Stage stage = stages.get(event.stageId());
    if (stage == null) {
      return;
    }
    stage.done++;
    totalTasks++;
    TaskMetrics m = event.taskMetrics();
    if (m != null) {
      long rows = m.inputMetrics().recordsRead() + m.shuffleReadMetrics().recordsRead();
      stage.rows += rows;
      totalRows += rows;
    }
  }

  @Override
  public synchronized void onStageCompleted(SparkListenerStageCompleted event) {
    Stage stage = stages.get(event.stageInfo().stageId());
    if (stage != null) {
      stage.completed = true;
    }
  }

  /** {@code collect at DatasetBuild.java:280} stays; Spark's longer call-site names keep their first line. */
  static String shortName(String name) {
    int nl = name.indexOf('\n');
    return nl < 0 ? name : name.substring(0, nl);
  }

  /** The progress line of now, or null before the first stage. */
  synchronized String line() {
    if (current == null) {
      return null;
    }
    Stage s = current;
    long now = clock.getAsLong();
    double stageSeconds = (now - s.startNanos) / 1e9;
    var sb = new StringBuilder(String.format(Locale.ROOT, "%s: stage %d (%s)%s %,d/%,d tasks, %,d rows", job, s.id,
        s.name, s.completed ? " done," : "", s.done, s.tasks, s.rows));
    if (stageSeconds > 0 && s.rows > 0) {
      sb.append(String.format(Locale.ROOT, ", %,.0f rows/s", s.rows / stageSeconds));
    }
    sb.append(", elapsed ").append(clock(Duration.ofNanos(now - startNanos)));
    if (!s.completed && s.done > 0 && s.done < s.tasks) {
      double remaining = stageSeconds * (s.tasks - s.done) / s.done;
      sb.append(", stage eta ").append(clock(Duration.ofMillis((long) (remaining * 1000))));
    }
    return sb.toString();
  }

  /** Prints {@link #line()} unless it says nothing new since the last one printed (times aside). */
  void printIfMoved() {
    String line = line();
    if (line == null) {
      return;
    }
    String withoutTimes = line.replaceAll(", (elapsed|stage eta) [0-9:]+|, [0-9,]+ rows/s", "");
    if (withoutTimes.equals(lastPrinted)) {
      return;
    }
    lastPrinted = withoutTimes;
    out.println(line);
    out.flush();
  }

  /** The closing line: stages, tasks and rows in all, and the wall time. */
  synchronized String summary() {
    return String.format(Locale.ROOT, "%s: %,d Spark stages, %,d tasks, %,d rows read in %s wall time", job,
        totalStages, totalTasks, totalRows, clock(Duration.ofNanos(clock.getAsLong() - startNanos)));
  }

  /** h:mm:ss. */
  static String clock(Duration d) {
    long s = Math.max(0, d.toSeconds());
    return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  }

  /** Stops printing and prints the closing line. */
  @Override
  public void close() {
    if (printer != null) {
      printer.shutdownNow();
    }
    if (context != null) {
      context.removeSparkListener(this);
    }
    out.println(summary());
    out.flush();
  }
}
