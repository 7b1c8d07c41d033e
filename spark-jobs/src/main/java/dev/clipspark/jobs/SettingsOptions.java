package dev.clipspark.jobs;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Settings files and overrides, taken by every subcommand. */
public final class SettingsOptions {

  @Option(names = "--conf", paramLabel = "FILE",
      description = "HOCON settings file (see conf/). Overrides the defaults; --set overrides it.")
  File conf;

  @Option(names = "--set", paramLabel = "KEY=VALUE",
      description = "Override one setting, e.g. --set balance.max-per-query=500 (repeatable).")
  List<String> sets = new ArrayList<>();
}
