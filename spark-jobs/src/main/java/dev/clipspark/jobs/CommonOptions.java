package dev.clipspark.jobs;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Options every job takes: settings files and overrides, and the Spark master. */
public final class CommonOptions {

  @Option(names = "--conf", paramLabel = "FILE",
      description = "HOCON settings file (see conf/). Overrides the defaults; --set overrides it.")
  File conf;

  @Option(names = "--set", paramLabel = "KEY=VALUE",
      description = "Override one setting, e.g. --set balance.max-per-query=500 (repeatable).")
  List<String> sets = new ArrayList<>();

  @Option(names = "--master", paramLabel = "URL",
      description = "Spark master. Default: the one spark-submit set, else local[*].")
  String master;
}
