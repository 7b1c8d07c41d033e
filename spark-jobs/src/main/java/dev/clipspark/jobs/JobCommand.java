package dev.clipspark.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.Settings;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;

/**
 * A subcommand that runs a Spark job. {@link #call()} loads and validates every setting and input first
 * ({@link #prepare(Settings)}), and only then starts Spark, so a bad value never costs a Spark start-up.
 */
abstract class JobCommand implements Callable<Integer> {

  /** How often progress lines may come. */
  static final java.time.Duration PROGRESS_INTERVAL = java.time.Duration.ofSeconds(5);

  @Mixin
  CommonOptions common;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** Reads and validates settings and inputs; throws with a clear message on anything bad. */
  abstract void prepare(Settings settings);

  /** Runs the job; returns the exit code. */
  abstract int run(SparkSession spark);

  /** Defaults of this command that replace reference.conf's (none unless overridden). */
  Config commandDefaults() {
    return ConfigFactory.empty();
  }

  /** The session name, e.g. {@code build-dataset}. */
  String jobName() {
    return spec.name();
  }

  /** Whether the Spark-stage {@link ProgressReporter} runs for this command (training reports its own steps). */
  boolean reportsStageProgress() {
    return true;
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  @Override
  public Integer call() {
    Settings settings = JobConfig.load(common.settings.conf, common.settings.sets, commandDefaults());
    prepare(settings);
    SparkSession spark = SparkSessions.create(jobName(), common.master);
    ProgressReporter progress = reportsStageProgress()
        ? ProgressReporter.start(jobName(), spark.sparkContext(), common.progress, System.console() != null,
            PROGRESS_INTERVAL, spec.commandLine().getErr())
        : null;
    try {
      return run(spark);
    } finally {
      if (progress != null) {
        progress.close();
      }
      spark.stop();
    }
  }
}
