package dev.clipspark.dataset.fetch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class FetchOptionsTest {

  private static Settings with(String hocon) {
    return new Settings(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference()).resolve());
  }

  @Test
  void defaultsAreWhatReferenceConfSays() {
    assertThat(FetchOptions.from(with(""))).isEqualTo(FetchOptions.defaults());
  }

  @Test
  void readsEveryKey() {
    FetchOptions o = FetchOptions.from(with("""
        fetch {
          threads = 3, connect-timeout = 250ms, read-timeout = 2m, retries = 0, retry-backoff = 0s
          max-body-bytes = 64KiB, max-redirects = 0, user-agent = "Bot/1", respect-robots-tag = no
          allow-private = yes
        }
        """));

    assertThat(o).isEqualTo(new FetchOptions(3, Duration.ofMillis(250), Duration.ofMinutes(2), 0, Duration.ZERO,
        65536, 0, "Bot/1", false, true));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "fetch.threads = 0                | Cannot set fetch.threads to 0: must be between 1 and 512",
      "fetch.threads = 513              | Cannot set fetch.threads to 513: must be between 1 and 512",
      "fetch.connect-timeout = 0ms      | Cannot set fetch.connect-timeout to PT0S: must be between PT0.001S and PT10M",
      "fetch.read-timeout = 11m         | Cannot set fetch.read-timeout to PT11M: must be between PT0.001S and PT10M",
      "fetch.retries = 21               | Cannot set fetch.retries to 21: must be between 0 and 20",
      "fetch.retries = -1               | Cannot set fetch.retries to -1: must be between 0 and 20",
      "fetch.max-body-bytes = 512       | Cannot set fetch.max-body-bytes to 512 bytes: must be between 1024 and 2147483639 bytes",
      "fetch.max-body-bytes = 3GiB      | Cannot set fetch.max-body-bytes to 3221225472 bytes: must be between 1024 and 2147483639 bytes",
      "fetch.max-redirects = 51         | Cannot set fetch.max-redirects to 51: must be between 0 and 50",
      "fetch.user-agent = \"  \"        | Cannot set fetch.user-agent to \"  \": must not be empty",
      "fetch.allow-private = maybe      | Cannot set fetch.allow-private to \"maybe\": must be true or false",
      "fetch.retry-backoff = soon       | Cannot set fetch.retry-backoff to \"soon\": must be a duration such as 500ms, 10s or 2m",
  })
  void refusesValuesOutOfRange(String hocon, String message) {
    assertThatThrownBy(() -> FetchOptions.from(with(hocon)))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage(message);
  }

  @Test
  void theConstructorValidatesToo() {
    assertThatThrownBy(() -> FetchOptions.defaults().withMaxRedirects(-1))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set fetch.max-redirects to -1: must be between 0 and 50");
    assertThatThrownBy(() -> FetchOptions.defaults().withUserAgent("Bot/1\r\nX-Evil: 1"))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageStartingWith("Cannot set fetch.user-agent to")
        .hasMessageEndingWith("must hold only printable ASCII characters (no line breaks)");
    assertThatThrownBy(() -> FetchOptions.defaults().withTimeouts(null, Duration.ofSeconds(1)))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set fetch.connect-timeout to nothing: the key is required");
  }

  @Test
  void copiesChangeOnlyTheirComponent() {
    FetchOptions d = FetchOptions.defaults();

    assertThat(d.withAllowPrivate(true)).isEqualTo(new FetchOptions(d.threads(), d.connectTimeout(),
        d.readTimeout(), d.retries(), d.retryBackoff(), d.maxBodyBytes(), d.maxRedirects(), d.userAgent(),
        d.respectRobotsTag(), true));
    assertThat(d.withRetries(7, Duration.ofSeconds(1)).retries()).isEqualTo(7);
    assertThat(d.withRetries(7, Duration.ofSeconds(1)).retryBackoff()).isEqualTo(Duration.ofSeconds(1));
  }
}
