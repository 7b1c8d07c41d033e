package dev.clipspark.dataset.config;

/**
 * A setting has a value that is not allowed. The message names the key, the value and what is allowed,
 * e.g. {@code Cannot set fetch.max-redirects to -1: must be between 0 and 50}.
 */
public final class ConfigValueException extends IllegalArgumentException {

  private final String key;

  public ConfigValueException(String key, Object value, String allowed) {
    super(String.format("Cannot set %s to %s: %s", key, value, allowed));
    this.key = key;
  }

  /** The full path of the offending key. */
  public String key() {
    return key;
  }
}
