package dev.clipspark.jobs;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Options every Spark job takes: settings files and overrides, and the Spark master. */
public final class CommonOptions {

  @Mixin
  SettingsOptions settings = new SettingsOptions();

  @Option(names = "--master", paramLabel = "URL",
      description = "Spark master. Default: the one spark-submit set, else local[*].")
  String master;

  @Option(names = "--progress", defaultValue = "auto", paramLabel = "auto|always|never",
      description = "Progress lines of the Spark stages on standard error, at most one every 5 s, and the totals at"
          + " the end: auto prints them when standard output is a terminal (default: ${DEFAULT-VALUE}).")
  ProgressReporter.Mode progress = ProgressReporter.Mode.AUTO;
}
