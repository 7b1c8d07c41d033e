package dev.clipspark.dataset.fetch;

import dev.clipspark.dataset.RejectReason;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Downloads one image URL the way img2dataset does: GET over HTTP/1.1, manual redirects, retries with
 * exponential back-off, a size cap, a whole-response deadline, the {@code X-Robots-Tag} opt-out and an SSRF
 * guard. Thread-safe: one instance serves every thread of a Spark task; {@link #close()} it when the task ends.
 *
 * <p>What {@link #fetch(String)} does, hop by hop (the URL, then each redirect target):
 * <ol>
 *   <li>Only absolute {@code http} and {@code https} URLs are fetched; anything else is {@code BAD_URL}.
 *       Characters a URI does not allow are percent-encoded first, as browsers do.
 *   <li>The host is resolved; an unknown host is {@code DNS_ERROR}. Unless {@code allow-private}, the hop is
 *       refused with {@code PRIVATE_ADDRESS} when <em>any</em> resolved address is restricted by
 *       {@link AddressPolicy}. The connection is then opened to one of exactly those checked addresses (the
 *       name is not resolved a second time), so DNS rebinding between the check and the connection cannot
 *       redirect it. The time the system resolver takes is not covered by the timeouts.
 *   <li>Connecting may take {@code connect-timeout} in total over the resolved addresses. From then on
 *       {@code read-timeout} bounds the whole exchange: TLS handshake, request, headers and body. A watchdog
 *       closes the connection at the deadline, so a server that trickles its body one byte at a time ends as
 *       {@code TIMEOUT} about {@code read-timeout} after connecting, whatever it sends.
 *   <li>301, 302, 303, 307 and 308 with a {@code Location} (absolute or relative) are followed up to
 *       {@code max-redirects} times, then {@code TOO_MANY_REDIRECTS}.
 *   <li>On a 2xx response: an {@code X-Robots-Tag} forbidding use (see {@code respect-robots-tag}) gives
 *       {@code ROBOTS_DISALLOWED} without reading the body; a {@code Content-Length} above
 *       {@code max-body-bytes} gives {@code BODY_TOO_LARGE} without reading it, and so does a body that grows
 *       past the cap while streaming; an empty body gives {@code EMPTY_FILE}.
 * </ol>
 * A timeout, a failed or broken connection, HTTP 429 and 5xx are retried from the original URL after waiting
 * {@code retry-backoff}, doubled for each further retry (each wait at most {@link FetchOptions#BACKOFF_MAX});
 * when the retries are spent the last reason stands. Other 4xx are {@code HTTP_ERROR} at once, as are
 * certificate and TLS handshake failures ({@code NETWORK_ERROR}).
 *
 * <p>The timeouts apply per hop, so one attempt lasts at most {@code (max-redirects + 1) * (connect-timeout +
 * read-timeout)} plus name resolution, and a whole fetch that times out {@code retries + 1} times that plus the
 * back-off waits.
 *
 * <p>Every request sends the configured {@code User-Agent}, {@code Accept-Encoding: identity} and
 * {@code Connection: close}; each hop uses a fresh connection (HTTP/1.1, no connection reuse). System proxy
 * settings are not used.
 */
public final class UrlFetcher implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(UrlFetcher.class);
  private static final Set<Integer> REDIRECTS = Set.of(301, 302, 303, 307, 308);

  /** Resolves a host name to its addresses (the seam that lets tests avoid DNS). */
  @FunctionalInterface
  interface Resolver {
    InetAddress[] resolve(String host) throws UnknownHostException;
  }

  private final FetchOptions options;
  private final Resolver resolver;
  private final Function<InetAddress, Optional<String>> addressRule;
  private final SSLSocketFactory tls;
  private final String productToken;
  private final ScheduledThreadPoolExecutor watchdog;
  private final Set<Socket> openSockets = ConcurrentHashMap.newKeySet();
  private final CountDownLatch closed = new CountDownLatch(1);

  /** A fetcher using the system resolver, {@link AddressPolicy} and the JVM's default trust store. */
  public UrlFetcher(FetchOptions options) {
    this(options, InetAddress::getAllByName, AddressPolicy::restriction,
        (SSLSocketFactory) SSLSocketFactory.getDefault());
  }

  /**
   * @param addressRule why an address is refused when {@code allowPrivate} is off, or empty to allow it
   */
  UrlFetcher(
      FetchOptions options,
      Resolver resolver,
      Function<InetAddress, Optional<String>> addressRule,
      SSLSocketFactory tls) {
    this.options = Objects.requireNonNull(options, "options");
    this.resolver = Objects.requireNonNull(resolver, "resolver");
    this.addressRule = Objects.requireNonNull(addressRule, "addressRule");
    this.tls = Objects.requireNonNull(tls, "tls");
    this.productToken = options.productToken();
    this.watchdog = new ScheduledThreadPoolExecutor(1, r -> {
      var t = new Thread(r, "clipspark-fetch-watchdog");
      t.setDaemon(true);
      return t;
    });
    watchdog.setRemoveOnCancelPolicy(true);
  }

  /** The options this fetcher was built with. */
  public FetchOptions options() {
    return options;
  }

  /**
   * The normalised form of an http(s) URL: lower-case scheme and host, no default port, no fragment, and
   * the characters a URI does not allow percent-encoded, as {@link #fetch} requests it; two URLs with the
   * same form fetch the same resource. A URL that cannot be parsed is returned stripped (fetching it
   * fails with {@code bad_url}).
   */
  public static String normalise(String url) {
    try {
      return HttpUrl.parse(url).normalised();
    } catch (HttpUrl.BadUrlException e) {
      return url == null ? "" : url.strip();
    }
  }

  /**
   * Downloads {@code url}. Never throws for anything the URL or the server does; every failure is a
   * {@link FetchResult} with its reason.
   *
   * @throws IllegalStateException when the fetcher is closed
   */
  public FetchResult fetch(String url) {
    if (isClosed()) {
      throw new IllegalStateException("Cannot fetch " + url + ": the fetcher is closed");
    }
    HttpUrl start;
    try {
      start = HttpUrl.parse(url);
    } catch (HttpUrl.BadUrlException e) {
      return rejected(FetchResult.failure(RejectReason.BAD_URL, 0, url, 0, e.getMessage()), url);
    }
    for (int attempt = 1; ; attempt++) {
      try {
        Hop done = followRedirects(start);
        return FetchResult.success(done.body(), done.status(), done.url(), attempt);
      } catch (Failure f) {
        if (!f.retryable || attempt > options.retries() || !backOff(attempt)) {
          return rejected(FetchResult.failure(f.reason, f.status, f.url, attempt, f.getMessage()), url);
        }
      }
    }
  }

  /**
   * Aborts the fetches in flight (they end as {@code NETWORK_ERROR}, without retrying), ends the back-off of
   * those waiting to retry (they return their last failure) and stops the watchdog thread. Idempotent; later
   * {@link #fetch} calls throw.
   */
  @Override
  public void close() {
    closed.countDown();
    for (Socket s : openSockets) {
      closeQuietly(s);
    }
    watchdog.shutdownNow();
  }

  private boolean isClosed() {
    return closed.getCount() == 0;
  }

  /** The result of one hop: a body, or a redirect to follow. */
  private record Hop(byte[] body, int status, String url, String location) {}

  /** Why an attempt failed; cheap (no stack trace), never leaves this class. */
  private static final class Failure extends Exception {
    private static final long serialVersionUID = 1L;
    final RejectReason reason;
    final int status;
    final String url;
    final boolean retryable;

    Failure(RejectReason reason, String detail, int status, String url, boolean retryable) {
      super(detail, null, false, false);
      this.reason = reason;
      this.status = status;
      this.url = url;
      this.retryable = retryable;
    }

    /** This failure, reporting {@code lastStatus} when its own hop received no response. */
    Failure orStatus(int lastStatus) {
      return status != 0 ? this : new Failure(reason, getMessage(), lastStatus, url, retryable);
    }
  }

  private Hop followRedirects(HttpUrl start) throws Failure {
    HttpUrl current = start;
    int lastStatus = 0;
    for (int redirects = 0; ; redirects++) {
      Hop hop;
      try {
        hop = exchange(current);
      } catch (Failure f) {
        throw f.orStatus(lastStatus); // httpStatus is the last status received, a redirect's included
      }
      lastStatus = hop.status();
      if (hop.location() == null) {
        return hop;
      }
      if (redirects == options.maxRedirects()) {
        throw new Failure(RejectReason.TOO_MANY_REDIRECTS,
            "more than " + options.maxRedirects() + " redirects", hop.status(), current.toString(), false);
      }
      try {
        current = current.resolve(hop.location());
      } catch (HttpUrl.BadUrlException e) {
        throw new Failure(RejectReason.BAD_URL, "redirect to a bad URL: " + e.getMessage(), hop.status(),
            current.toString(), false);
      }
    }
  }

  /** One request and response on a fresh connection to a checked address. */
  private Hop exchange(HttpUrl url) throws Failure {
    String where = url.toString();
    InetAddress[] addresses = resolveChecked(url, where);
    Socket raw = connect(addresses, url, where);
    var timedOut = new AtomicBoolean();
    ScheduledFuture<?> alarm;
    try {
      alarm = watchdog.schedule(() -> {
        timedOut.set(true);
        closeQuietly(raw);
      }, options.readTimeout().toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      release(raw);
      throw closedFailure(where);
    }
    int status = 0;
    try {
      raw.setSoTimeout(saturatedMillis(options.readTimeout()));
      raw.setTcpNoDelay(true);
      Socket s = url.https() ? startTls(raw, url) : raw;
      Http1.writeRequest(new BufferedOutputStream(s.getOutputStream(), 1024), url, options.userAgent());
      var in = new BufferedInputStream(s.getInputStream(), 8192);
      Http1.Head head = Http1.readHead(in);
      status = head.status();
      return respond(head, in, where);
    } catch (Http1.TooLargeException e) {
      throw new Failure(RejectReason.BODY_TOO_LARGE, e.getMessage(), status, where, false);
    } catch (IOException e) {
      throw classify(e, timedOut.get(), status, url, where);
    } finally {
      alarm.cancel(false);
      release(raw);
    }
  }

  private InetAddress[] resolveChecked(HttpUrl url, String where) throws Failure {
    InetAddress[] addresses;
    try {
      addresses = resolver.resolve(url.host());
    } catch (UnknownHostException e) {
      throw new Failure(RejectReason.DNS_ERROR, "unknown host " + url.host(), 0, where, false);
    }
    if (addresses == null || addresses.length == 0) {
      throw new Failure(RejectReason.DNS_ERROR, "no address for host " + url.host(), 0, where, false);
    }
    if (!options.allowPrivate()) {
      for (InetAddress a : addresses) {
        Optional<String> why = addressRule.apply(a);
        if (why.isPresent()) {
          String detail = url.ipLiteral()
              ? a.getHostAddress() + " is not a public address: " + why.get()
              : url.host() + " resolves to " + a.getHostAddress() + ", not a public address: " + why.get();
          throw new Failure(RejectReason.PRIVATE_ADDRESS, detail, 0, where, false);
        }
      }
    }
    return addresses;
  }

  private Socket connect(InetAddress[] addresses, HttpUrl url, String where) throws Failure {
    long deadline = System.nanoTime() + options.connectTimeout().toNanos();
    IOException last = null;
    for (InetAddress address : addresses) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      if (left <= 0) {
        break;
      }
      var socket = new Socket();
      openSockets.add(socket);
      if (isClosed()) {
        release(socket);
        throw closedFailure(where);
      }
      try {
        socket.connect(new InetSocketAddress(address, url.port()), (int) Math.min(left, Integer.MAX_VALUE));
        return socket;
      } catch (IOException e) {
        release(socket);
        if (isClosed()) {
          throw closedFailure(where);
        }
        last = e;
      }
    }
    if (last == null || last instanceof SocketTimeoutException) {
      throw new Failure(RejectReason.TIMEOUT,
          "connect timed out after " + format(options.connectTimeout()), 0, where, true);
    }
    throw new Failure(RejectReason.NETWORK_ERROR,
        "cannot connect to " + url.hostHeader() + ": " + last.getMessage(), 0, where, true);
  }

  private Socket startTls(Socket raw, HttpUrl url) throws IOException {
    var ssl = (SSLSocket) tls.createSocket(raw, url.host(), url.port(), true);
    var params = ssl.getSSLParameters();
    params.setEndpointIdentificationAlgorithm("HTTPS"); // verify the certificate names this host
    if (!url.ipLiteral()) {
      try {
        params.setServerNames(List.of(new SNIHostName(url.host())));
      } catch (IllegalArgumentException notAnSniName) {
        // e.g. a name with an underscore: connect without SNI; the certificate is still checked.
      }
    }
    ssl.setSSLParameters(params);
    ssl.startHandshake();
    return ssl;
  }

  private Hop respond(Http1.Head head, java.io.InputStream in, String where) throws IOException, Failure {
    int status = head.status();
    if (REDIRECTS.contains(status)) {
      String location = head.first("location");
      if (location == null) {
        throw new Failure(RejectReason.HTTP_ERROR, "HTTP " + status + " without a Location", status, where, false);
      }
      return new Hop(null, status, where, location);
    }
    if (status == 429 || status >= 500) {
      throw new Failure(RejectReason.HTTP_ERROR, "HTTP " + status, status, where, true);
    }
    if (status < 200 || status >= 300) {
      throw new Failure(RejectReason.HTTP_ERROR, "HTTP " + status, status, where, false);
    }
    if (options.respectRobotsTag()) {
      Optional<String> no = RobotsTag.disallowing(head.all("x-robots-tag"), productToken);
      if (no.isPresent()) {
        throw new Failure(RejectReason.ROBOTS_DISALLOWED, "X-Robots-Tag: " + no.get(), status, where, false);
      }
    }
    if (status == 204 || status == 205) {
      throw new Failure(RejectReason.EMPTY_FILE, "HTTP " + status + " has no body", status, where, false);
    }
    int max = (int) options.maxBodyBytes();
    long declared = Http1.declaredLength(head);
    if (declared > max) {
      throw new Failure(RejectReason.BODY_TOO_LARGE,
          "Content-Length " + declared + " exceeds max-body-bytes " + max, status, where, false);
    }
    if (declared == 0) {
      throw new Failure(RejectReason.EMPTY_FILE, "empty body", status, where, false);
    }
    byte[] body = Http1.readBody(in, head, max);
    if (body.length == 0) {
      throw new Failure(RejectReason.EMPTY_FILE, "empty body", status, where, false);
    }
    return new Hop(body, status, where, null);
  }

  private Failure classify(IOException e, boolean timedOut, int status, HttpUrl url, String where) {
    if (timedOut || e instanceof SocketTimeoutException) {
      return new Failure(RejectReason.TIMEOUT,
          "read timed out after " + format(options.readTimeout()), status, where, true);
    }
    if (isClosed()) {
      return closedFailure(where);
    }
    if (e instanceof SSLHandshakeException) {
      return new Failure(RejectReason.NETWORK_ERROR,
          "TLS handshake with " + url.hostHeader() + " failed: " + e.getMessage(), status, where, false);
    }
    if (e instanceof Http1.MalformedResponseException) {
      return new Failure(RejectReason.NETWORK_ERROR, "malformed response: " + e.getMessage(), status, where, false);
    }
    return new Failure(RejectReason.NETWORK_ERROR,
        "connection to " + url.hostHeader() + " failed: " + e.getMessage(), status, where, true);
  }

  private static Failure closedFailure(String where) {
    return new Failure(RejectReason.NETWORK_ERROR, "aborted: the fetcher was closed", 0, where, false);
  }

  /** Waits before retry number {@code attempt}; false when the fetcher was closed or the thread interrupted. */
  private boolean backOff(int attempt) {
    long first = options.retryBackoff().toNanos();
    long wait = first << Math.min(attempt - 1, 30);
    if (wait < first || wait > FetchOptions.BACKOFF_MAX.toNanos()) {
      wait = FetchOptions.BACKOFF_MAX.toNanos();
    }
    try {
      return !closed.await(wait, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private FetchResult rejected(FetchResult result, String url) {
    if (LOG.isDebugEnabled()) {
      LOG.debug("Cannot fetch {}: {} ({})", url, result.reject().key(), result.detail());
    }
    return result;
  }

  private void release(Socket socket) {
    openSockets.remove(socket);
    closeQuietly(socket);
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException ignored) {
      // Closing only frees the descriptor; there is nothing to report.
    }
  }

  private static int saturatedMillis(Duration d) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, d.toMillis()));
  }

  /** {@code 500ms}, {@code 20s}, {@code 2m}: how a duration is written in the config. */
  static String format(Duration d) {
    long ms = d.toMillis();
    if (ms >= 60_000 && ms % 60_000 == 0) {
      return ms / 60_000 + "m";
    }
    if (ms >= 1000 && ms % 1000 == 0) {
      return ms / 1000 + "s";
    }
    return ms + "ms";
  }
}
