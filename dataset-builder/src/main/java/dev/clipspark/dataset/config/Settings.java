package dev.clipspark.dataset.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Typed getters over a resolved {@link Config} that validate as they read. Each getter takes the full
 * key path; a missing key, a value of the wrong type or a value out of range raises a
 * {@link ConfigValueException} naming the key, the value and what is allowed.
 */
public final class Settings {

  private final Config config;

  public Settings(Config config) {
    this.config = config;
  }

  /** The underlying config. */
  public Config config() {
    return config;
  }

  /** An int in {@code [min, max]}. */
  public int intIn(String key, int min, int max) {
    long v = longIn(key, min, max);
    return (int) v;
  }

  /** A long in {@code [min, max]}. */
  public long longIn(String key, long min, long max) {
    long v;
    try {
      v = config.getLong(key);
    } catch (ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be a whole number between " + min + " and " + max);
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
    return v;
  }

  /** A double in {@code [min, max]}. */
  public double doubleIn(String key, double min, double max) {
    double v;
    try {
      v = config.getDouble(key);
    } catch (ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be a number between " + min + " and " + max);
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
    if (!(v >= min && v <= max)) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
    return v;
  }

  /** A finite double (no NaN, no infinity), any size. */
  public double finiteDouble(String key) {
    double v;
    try {
      v = config.getDouble(key);
    } catch (ConfigException.WrongType | ConfigException.BadValue e) {
      throw new ConfigValueException(key, show(key), "must be a finite number");
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
    if (!Double.isFinite(v)) {
      throw new ConfigValueException(key, v, "must be a finite number");
    }
    return v;
  }

  /** A boolean ({@code true}/{@code false}, also {@code yes}/{@code no}, {@code on}/{@code off}). */
  public boolean bool(String key) {
    try {
      return config.getBoolean(key);
    } catch (ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be true or false");
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
  }

  /** A string, possibly empty. */
  public String string(String key) {
    try {
      return config.getString(key);
    } catch (ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be a string");
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
  }

  /** A string that is not blank. */
  public String nonEmptyString(String key) {
    String v = string(key);
    if (v.isBlank()) {
      throw new ConfigValueException(key, "\"" + v + "\"", "must not be empty");
    }
    return v;
  }

  /** A list of strings. */
  public List<String> stringList(String key) {
    try {
      return List.copyOf(config.getStringList(key));
    } catch (ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be a list of strings");
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
  }

  /** A size in bytes ({@code 20MiB}, {@code 1048576}) in {@code [min, max]}. */
  public long bytesIn(String key, long min, long max) {
    long v;
    try {
      v = config.getBytes(key);
    } catch (ConfigException.BadValue | ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be a size such as 1048576, 512KiB or 20MiB");
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
    if (v < min || v > max) {
      throw new ConfigValueException(key, v + " bytes", "must be between " + min + " and " + max + " bytes");
    }
    return v;
  }

  /** A duration ({@code 10s}, {@code 500ms}) in {@code [min, max]}. */
  public Duration durationIn(String key, Duration min, Duration max) {
    Duration v;
    try {
      v = config.getDuration(key);
    } catch (ConfigException.BadValue | ConfigException.WrongType e) {
      throw new ConfigValueException(key, show(key), "must be a duration such as 500ms, 10s or 2m");
    } catch (ConfigException.Missing e) {
      throw missing(key);
    }
    if (v.compareTo(min) < 0 || v.compareTo(max) > 0) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
    return v;
  }

  /**
   * One of an enum's constants, written in lower case with hyphens for underscores
   * ({@code CENTER_CROP} is {@code center-crop}).
   */
  public <E extends Enum<E>> E enumOf(String key, Class<E> type) {
    String v = string(key);
    for (E e : type.getEnumConstants()) {
      if (spell(e).equals(v.trim().toLowerCase(Locale.ROOT))) {
        return e;
      }
    }
    throw new ConfigValueException(key, "\"" + v + "\"", "must be one of " + allowed(type));
  }

  /** How {@link #enumOf} spells a constant. */
  public static String spell(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** The allowed spellings of an enum, comma-separated. */
  public static <E extends Enum<E>> String allowed(Class<E> type) {
    return Arrays.stream(type.getEnumConstants()).map(Settings::spell).collect(Collectors.joining(", "));
  }

  /** All leaf keys under {@code prefix} (full paths), sorted. */
  public List<String> keysUnder(String prefix) {
    var keys = new ArrayList<String>();
    if (!config.hasPath(prefix)) {
      return keys;
    }
    for (var e : config.getConfig(prefix).entrySet()) {
      keys.add(prefix + "." + e.getKey());
    }
    keys.sort(null);
    return keys;
  }

  private String show(String key) {
    ConfigValue v = config.getValue(key);
    return v.render(com.typesafe.config.ConfigRenderOptions.concise());
  }

  private static ConfigValueException missing(String key) {
    return new ConfigValueException(key, "nothing", "the key is required");
  }
}
