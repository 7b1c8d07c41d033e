package dev.clipspark.dataset.fetch;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;
import java.time.Duration;
import java.util.Objects;

/**
 * How {@link UrlFetcher} downloads images: the {@code fetch { }} block of {@code reference.conf}, read and
 * validated once on the driver. The record is small, immutable and serialisable, so it can be broadcast or
 * captured by a Spark closure; every component is validated by the constructor, so no invalid instance exists.
 *
 * @param threads concurrent downloads per Spark task ({@value #THREADS_MIN} to {@value #THREADS_MAX})
 * @param connectTimeout time allowed to open a TCP connection ({@link #TIMEOUT_MIN} to {@link #TIMEOUT_MAX})
 * @param readTimeout time allowed for one whole response once connected: TLS handshake, request, headers and
 *     the complete body ({@link #TIMEOUT_MIN} to {@link #TIMEOUT_MAX})
 * @param retries retries after a timeout, a broken connection, HTTP 429 or 5xx
 *     ({@value #RETRIES_MIN} to {@value #RETRIES_MAX})
 * @param retryBackoff wait before the first retry, doubled for each further one ({@link #BACKOFF_MIN} to
 *     {@link #BACKOFF_MAX})
 * @param maxBodyBytes largest body accepted ({@value #MAX_BODY_BYTES_MIN} to {@value #MAX_BODY_BYTES_MAX}, the
 *     largest byte array a JVM allocates)
 * @param maxRedirects redirects followed before giving up ({@value #MAX_REDIRECTS_MIN} to
 *     {@value #MAX_REDIRECTS_MAX})
 * @param userAgent the {@code User-Agent} header sent with every request (not blank, printable ASCII)
 * @param respectRobotsTag whether images whose {@code X-Robots-Tag} forbids use are skipped
 * @param allowPrivate whether private, loopback and link-local addresses may be fetched (see
 *     {@link AddressPolicy})
 */
public record FetchOptions(
    int threads,
    Duration connectTimeout,
    Duration readTimeout,
    int retries,
    Duration retryBackoff,
    long maxBodyBytes,
    int maxRedirects,
    String userAgent,
    boolean respectRobotsTag,
    boolean allowPrivate)
    implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Concurrent downloads per Spark task. */
  public static final String THREADS = "fetch.threads";

  public static final int THREADS_DEFAULT = 16;
  public static final int THREADS_MIN = 1;
  public static final int THREADS_MAX = 512;

  /** Time allowed to open a connection. */
  public static final String CONNECT_TIMEOUT = "fetch.connect-timeout";

  public static final Duration CONNECT_TIMEOUT_DEFAULT = Duration.ofSeconds(10);

  /** Time allowed for the whole response after connecting (headers and body). */
  public static final String READ_TIMEOUT = "fetch.read-timeout";

  public static final Duration READ_TIMEOUT_DEFAULT = Duration.ofSeconds(20);

  /** Smallest connect or read timeout. */
  public static final Duration TIMEOUT_MIN = Duration.ofMillis(1);

  /** Largest connect or read timeout. */
  public static final Duration TIMEOUT_MAX = Duration.ofMinutes(10);

  /** Retries after a timeout, a broken connection, HTTP 429 or 5xx (0: no retry). */
  public static final String RETRIES = "fetch.retries";

  public static final int RETRIES_DEFAULT = 2;
  public static final int RETRIES_MIN = 0;
  public static final int RETRIES_MAX = 20;

  /** Wait before the first retry; doubles with each further retry. */
  public static final String RETRY_BACKOFF = "fetch.retry-backoff";

  public static final Duration RETRY_BACKOFF_DEFAULT = Duration.ofMillis(500);
  public static final Duration BACKOFF_MIN = Duration.ZERO;
  public static final Duration BACKOFF_MAX = Duration.ofMinutes(10);

  /** Largest body accepted; larger ones are aborted and counted as body_too_large. */
  public static final String MAX_BODY_BYTES = "fetch.max-body-bytes";

  public static final long MAX_BODY_BYTES_DEFAULT = 20L << 20;
  public static final long MAX_BODY_BYTES_MIN = 1024;
  /** 2 GiB less the few bytes a JVM keeps back: the largest body a {@code byte[]} can hold. */
  public static final long MAX_BODY_BYTES_MAX = Integer.MAX_VALUE - 8;

  /** Redirects followed before giving up (each hop is checked against allow-private). */
  public static final String MAX_REDIRECTS = "fetch.max-redirects";

  public static final int MAX_REDIRECTS_DEFAULT = 5;
  public static final int MAX_REDIRECTS_MIN = 0;
  public static final int MAX_REDIRECTS_MAX = 50;

  /** The User-Agent header sent with every request. */
  public static final String USER_AGENT = "fetch.user-agent";

  public static final String USER_AGENT_DEFAULT =
      "ClipSpark/0.1 (+https://github.com/clipspark/clipspark; image-text dataset builder)";

  /** Skip images whose X-Robots-Tag header says noai, noimageai, noindex or none. */
  public static final String RESPECT_ROBOTS_TAG = "fetch.respect-robots-tag";

  public static final boolean RESPECT_ROBOTS_TAG_DEFAULT = true;

  /** Allow private, loopback and link-local addresses (off: such URLs are refused, against SSRF). */
  public static final String ALLOW_PRIVATE = "fetch.allow-private";

  public static final boolean ALLOW_PRIVATE_DEFAULT = false;

  /** Validates every component; throws {@link ConfigValueException} naming the key of the first bad one. */
  public FetchOptions {
    checkRange(THREADS, threads, THREADS_MIN, THREADS_MAX);
    checkDuration(CONNECT_TIMEOUT, connectTimeout, TIMEOUT_MIN, TIMEOUT_MAX);
    checkDuration(READ_TIMEOUT, readTimeout, TIMEOUT_MIN, TIMEOUT_MAX);
    checkRange(RETRIES, retries, RETRIES_MIN, RETRIES_MAX);
    checkDuration(RETRY_BACKOFF, retryBackoff, BACKOFF_MIN, BACKOFF_MAX);
    if (maxBodyBytes < MAX_BODY_BYTES_MIN || maxBodyBytes > MAX_BODY_BYTES_MAX) {
      throw new ConfigValueException(
          MAX_BODY_BYTES,
          maxBodyBytes + " bytes",
          "must be between " + MAX_BODY_BYTES_MIN + " and " + MAX_BODY_BYTES_MAX + " bytes");
    }
    checkRange(MAX_REDIRECTS, maxRedirects, MAX_REDIRECTS_MIN, MAX_REDIRECTS_MAX);
    checkUserAgent(userAgent);
  }

  /** The defaults, equal to what {@code reference.conf} sets. */
  public static FetchOptions defaults() {
    return new FetchOptions(
        THREADS_DEFAULT,
        CONNECT_TIMEOUT_DEFAULT,
        READ_TIMEOUT_DEFAULT,
        RETRIES_DEFAULT,
        RETRY_BACKOFF_DEFAULT,
        MAX_BODY_BYTES_DEFAULT,
        MAX_REDIRECTS_DEFAULT,
        USER_AGENT_DEFAULT,
        RESPECT_ROBOTS_TAG_DEFAULT,
        ALLOW_PRIVATE_DEFAULT);
  }

  /**
   * Reads and validates every {@code fetch.*} key.
   *
   * @throws ConfigValueException for a missing key or a value out of range, e.g. {@code Cannot set
   *     fetch.max-redirects to 51: must be between 0 and 50}
   */
  public static FetchOptions from(Settings s) {
    Objects.requireNonNull(s, "settings");
    return new FetchOptions(
        s.intIn(THREADS, THREADS_MIN, THREADS_MAX),
        s.durationIn(CONNECT_TIMEOUT, TIMEOUT_MIN, TIMEOUT_MAX),
        s.durationIn(READ_TIMEOUT, TIMEOUT_MIN, TIMEOUT_MAX),
        s.intIn(RETRIES, RETRIES_MIN, RETRIES_MAX),
        s.durationIn(RETRY_BACKOFF, BACKOFF_MIN, BACKOFF_MAX),
        s.bytesIn(MAX_BODY_BYTES, MAX_BODY_BYTES_MIN, MAX_BODY_BYTES_MAX),
        s.intIn(MAX_REDIRECTS, MAX_REDIRECTS_MIN, MAX_REDIRECTS_MAX),
        s.nonEmptyString(USER_AGENT),
        s.bool(RESPECT_ROBOTS_TAG),
        s.bool(ALLOW_PRIVATE));
  }

  /** A copy with {@code allowPrivate} changed. */
  public FetchOptions withAllowPrivate(boolean allow) {
    return new FetchOptions(threads, connectTimeout, readTimeout, retries, retryBackoff, maxBodyBytes,
        maxRedirects, userAgent, respectRobotsTag, allow);
  }

  /** A copy with both timeouts changed. */
  public FetchOptions withTimeouts(Duration connect, Duration read) {
    return new FetchOptions(threads, connect, read, retries, retryBackoff, maxBodyBytes, maxRedirects,
        userAgent, respectRobotsTag, allowPrivate);
  }

  /** A copy with the retry count and first back-off changed. */
  public FetchOptions withRetries(int count, Duration backoff) {
    return new FetchOptions(threads, connectTimeout, readTimeout, count, backoff, maxBodyBytes, maxRedirects,
        userAgent, respectRobotsTag, allowPrivate);
  }

  /** A copy with {@code maxBodyBytes} changed. */
  public FetchOptions withMaxBodyBytes(long bytes) {
    return new FetchOptions(threads, connectTimeout, readTimeout, retries, retryBackoff, bytes, maxRedirects,
        userAgent, respectRobotsTag, allowPrivate);
  }

  /** A copy with {@code maxRedirects} changed. */
  public FetchOptions withMaxRedirects(int redirects) {
    return new FetchOptions(threads, connectTimeout, readTimeout, retries, retryBackoff, maxBodyBytes, redirects,
        userAgent, respectRobotsTag, allowPrivate);
  }

  /** A copy with {@code userAgent} changed. */
  public FetchOptions withUserAgent(String agent) {
    return new FetchOptions(threads, connectTimeout, readTimeout, retries, retryBackoff, maxBodyBytes,
        maxRedirects, agent, respectRobotsTag, allowPrivate);
  }

  /** A copy with {@code respectRobotsTag} changed. */
  public FetchOptions withRespectRobotsTag(boolean respect) {
    return new FetchOptions(threads, connectTimeout, readTimeout, retries, retryBackoff, maxBodyBytes,
        maxRedirects, userAgent, respect, allowPrivate);
  }

  /**
   * The product token of {@link #userAgent()}, lower case: what an {@code X-Robots-Tag} scope must name to
   * address us ({@code clipspark} for {@code ClipSpark/0.1 (...)}).
   */
  public String productToken() {
    String ua = userAgent.strip();
    int end = 0;
    while (end < ua.length() && ua.charAt(end) != '/' && !Character.isWhitespace(ua.charAt(end))) {
      end++;
    }
    return ua.substring(0, end).toLowerCase(java.util.Locale.ROOT);
  }

  private static void checkRange(String key, int value, int min, int max) {
    if (value < min || value > max) {
      throw new ConfigValueException(key, value, "must be between " + min + " and " + max);
    }
  }

  private static void checkDuration(String key, Duration value, Duration min, Duration max) {
    if (value == null) {
      throw new ConfigValueException(key, "nothing", "the key is required");
    }
    if (value.compareTo(min) < 0 || value.compareTo(max) > 0) {
      throw new ConfigValueException(key, value, "must be between " + min + " and " + max);
    }
  }

  private static void checkUserAgent(String ua) {
    if (ua == null || ua.isBlank()) {
      throw new ConfigValueException(USER_AGENT, ua == null ? "nothing" : "\"" + ua + "\"", "must not be empty");
    }
    for (int i = 0; i < ua.length(); i++) {
      char c = ua.charAt(i);
      if ((c < 0x20 && c != '\t') || c > 0x7e) {
        throw new ConfigValueException(USER_AGENT, "\"" + ua + "\"",
            "must hold only printable ASCII characters (no line breaks)");
      }
    }
  }
}
