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
}
