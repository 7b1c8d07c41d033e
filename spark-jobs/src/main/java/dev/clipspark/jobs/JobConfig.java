package dev.clipspark.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigResolveOptions;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Loads a job's settings with ClipSpark's precedence: {@code --set key=value} flags, then the
 * {@code --conf} file, then the defaults in every module's {@code reference.conf}.
 *
 * <p>Every key a user gives must exist in {@code reference.conf}: an unknown key (usually a typo) stops
 * the job before Spark starts, naming the key, where it came from and the known keys of its section.
 * Values are checked by each job's option records when they are read.
 */
public final class JobConfig {

  private JobConfig() {}

  /**
   * Resolves the settings for one run.
   *
   * @param confFile the HOCON file given with {@code --conf}, or null
   * @param sets the {@code key=value} overrides given with {@code --set}, in order (later wins)
   */
  public static Settings load(File confFile, List<String> sets) {
    return load(confFile, sets, ConfigFactory.empty());
  }

  /**
   * Resolves the settings for one run of a command that has defaults of its own (the demo's smaller
   * sizes): they sit between the {@code --conf} file and {@code reference.conf}.
   */
  public static Settings load(File confFile, List<String> sets, Config commandDefaults) {
    Config reference = ConfigFactory.defaultReference();
    checkKnown(commandDefaults, reference, "the command's defaults");
    reference = commandDefaults.withFallback(reference);
    Config file = ConfigFactory.empty();
    if (confFile != null) {
      if (!confFile.isFile()) {
        throw new ConfigValueException("--conf", confFile, "the file does not exist");
      }
      try {
        file = ConfigFactory.parseFile(confFile, ConfigParseOptions.defaults().setAllowMissing(false));
      } catch (ConfigException e) {
        throw new IllegalArgumentException("Cannot read --conf " + confFile + ": " + e.getMessage(), e);
      }
      checkKnown(file, reference, "--conf " + confFile);
    }
    Config overrides = ConfigFactory.empty();
    for (String set : sets) {
      Config one = parseSet(set);
      checkKnown(one, reference, "--set " + set);
      overrides = one.withFallback(overrides);
    }
    Config merged = overrides.withFallback(file).withFallback(reference);
    try {
      return new Settings(merged.resolve(ConfigResolveOptions.defaults()));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("Cannot resolve the settings: " + e.getMessage(), e);
    }
  }

  /** Parses one {@code key=value} override; the value is HOCON, so lists ({@code [a, b]}) work. */
  static Config parseSet(String set) {
    int eq = set.indexOf('=');
    if (eq <= 0) {
      throw new ConfigValueException("--set", set, "must be key=value, e.g. --set balance.max-per-query=500");
    }
    String key = set.substring(0, eq).trim();
    String value = set.substring(eq + 1).trim();
    try {
      return ConfigFactory.parseString(key + " = " + quoteIfNeeded(value));
    } catch (ConfigException e) {
      throw new ConfigValueException(key, value, "not a valid value: " + e.getMessage());
    }
  }

  private static String quoteIfNeeded(String value) {
    if (value.isEmpty()) {
      return "\"\"";
    }
    char c = value.charAt(0);
    if (c == '[' || c == '{' || c == '"') {
      return value;
    }
    // Plain strings with characters HOCON would treat specially (e.g. ':' in URLs) are quoted.
    if (value.matches("[A-Za-z0-9_.+\\-]+( [A-Za-z0-9_.+\\-]+)*")) {
      return value;
    }
    return com.typesafe.config.ConfigValueFactory.fromAnyRef(value).render();
  }

  private static void checkKnown(Config given, Config reference, String origin) {
    var unknown = new ArrayList<String>();
    for (var entry : given.entrySet()) {
      String key = entry.getKey();
      if (!reference.hasPathOrNull(key)) {
        unknown.add(key);
      }
    }
    if (!unknown.isEmpty()) {
      String key = unknown.get(0);
      throw new ConfigValueException(key, given.getValue(key).render(),
          "unknown key (from " + origin + "); " + knownNear(key, reference));
    }
  }

  private static String knownNear(String key, Config reference) {
    String section = key.contains(".") ? key.substring(0, key.indexOf('.')) : "";
    var known = new TreeSet<String>();
    if (!section.isEmpty() && reference.hasPath(section) && reference.getValue(section) instanceof com.typesafe.config.ConfigObject) {
      for (var e : reference.getConfig(section).entrySet()) {
        known.add(section + "." + e.getKey());
      }
      return "known keys in '" + section + "': " + String.join(", ", known);
    }
    for (String root : reference.root().keySet()) {
      known.add(root);
    }
    return "known sections: " + String.join(", ", known);
  }
}
