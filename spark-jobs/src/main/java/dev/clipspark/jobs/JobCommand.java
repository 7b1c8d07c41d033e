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

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  @Override
  public Integer call() {
    Settings settings = JobConfig.load(common.settings.conf, common.settings.sets, commandDefaults());
    prepare(settings);
    SparkSession spark = SparkSessions.create(jobName(), common.master);
    try {
      return run(spark);
    } finally {
      spark.stop();
    }
  }
}
