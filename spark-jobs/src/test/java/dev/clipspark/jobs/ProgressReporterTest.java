package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Spark-stage progress lines on a real local Spark session. */
class ProgressReporterTest {

  static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("ProgressReporterTest")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void reportsStagesTasksRowsAndTotalsAndLeavesBarrierStagesOut() throws Exception {
    var out = new StringWriter();
    var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    List<Integer> numbers = IntStream.range(0, 20_000).boxed().toList();
    try (var reporter = ProgressReporter.start("test-job", spark.sparkContext(), ProgressReporter.Mode.ALWAYS,
        false, Duration.ofMillis(50), new PrintWriter(out, true))) {
      assertThat(reporter).isNotNull();
      // A shuffle: a map stage then a result stage of 3 tasks that read 20,000 shuffled rows.
      long distinct = jsc.parallelize(numbers, 4).map(i -> i % 1000).distinct(3).count();
      assertThat(distinct).isEqualTo(1000);
      jsc.parallelize(numbers, 2).rdd().barrier().mapPartitions(new Identity(), false,
          scala.reflect.ClassTag$.MODULE$.apply(Integer.class)).count();
      Thread.sleep(300);
    }
    String text = out.toString();
    List<String> lines = text.lines().toList();
    assertThat(lines).as(text).anyMatch(l -> l.matches("test-job: stage \\d+ \\(.+\\)( done,)? \\d+/\\d+ tasks, [0-9,]+"
        + " rows.*, elapsed 0:00:\\d\\d.*"));
    assertThat(lines).as(text).anyMatch(l -> l.contains(" 3/3 tasks, 1,000 rows") || l.contains("/3 tasks"));
    // The last line is the closing one: 2 stages (the barrier stage is not counted), 7 tasks, the rows read.
    String last = lines.get(lines.size() - 1);
    assertThat(last).matches("test-job: 2 Spark stages, 7 tasks, [0-9,]+ rows read in 0:00:\\d\\d wall time");
    assertThat(text).doesNotContain("4/4 tasks, 20,000 rows").as("barrier stages are left out");
    // No line repeats itself when nothing moved.
    assertThat(lines).doesNotHaveDuplicates();
  }

  @Test
  void autoIsQuietOffATerminalAndNeverIsQuietEverywhere() {
    var out = new StringWriter();
    assertThat(ProgressReporter.start("j", spark.sparkContext(), ProgressReporter.Mode.AUTO, false,
        Duration.ofSeconds(1), new PrintWriter(out))).isNull();
    assertThat(ProgressReporter.start("j", spark.sparkContext(), ProgressReporter.Mode.NEVER, true,
        Duration.ofSeconds(1), new PrintWriter(out))).isNull();
    var auto = ProgressReporter.start("j", spark.sparkContext(), ProgressReporter.Mode.AUTO, true,
        Duration.ofSeconds(1), new PrintWriter(out));
    assertThat(auto).isNotNull();
    auto.close();
    assertThat(out.toString()).startsWith("j: 0 Spark stages, 0 tasks, 0 rows read in 0:00:0");
  }

  /** A barrier stage's body: passes its rows on. */
  static final class Identity
      extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<Integer>>
      implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    @Override
    public scala.collection.Iterator<Integer> apply(scala.collection.Iterator<Integer> rows) {
      return rows;
    }
  }

  private static <T> scala.collection.Seq<T> seq() {
    return scala.collection.JavaConverters.asScalaBuffer(new java.util.ArrayList<T>()).toSeq();
  }

  @Test
  void etaFollowsTheStageShareOfTasksDone() {
    long[] now = {0};
    var reporter = new ProgressReporter("j", new PrintWriter(new StringWriter()), () -> now[0]);
    scala.collection.Seq<org.apache.spark.storage.RDDInfo> rdds = seq();
    scala.collection.Seq<Object> parents = seq();
    scala.collection.Seq<scala.collection.Seq<org.apache.spark.scheduler.TaskLocation>> locality = seq();
    var info = new org.apache.spark.scheduler.StageInfo(7, 0, "collect at X.java:1\nmore", 10, rdds, parents,
        "details", org.apache.spark.executor.TaskMetrics.empty(), locality, scala.Option.empty(), 0, false, 0);
    reporter.onStageSubmitted(new org.apache.spark.scheduler.SparkListenerStageSubmitted(info, null));
    assertThat(reporter.line()).isEqualTo("j: stage 7 (collect at X.java:1) 0/10 tasks, 0 rows, elapsed 0:00:00");
    now[0] = Duration.ofSeconds(20).toNanos();
    for (int i = 0; i < 4; i++) {
      reporter.onTaskEnd(new org.apache.spark.scheduler.SparkListenerTaskEnd(7, 0, "ResultTask", null, null, null,
          null));
    }
    assertThat(reporter.line()).isEqualTo("j: stage 7 (collect at X.java:1) 4/10 tasks, 0 rows, elapsed 0:00:20,"
        + " stage eta 0:00:30");
  }
}
