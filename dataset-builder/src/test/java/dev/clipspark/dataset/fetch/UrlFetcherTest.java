package dev.clipspark.dataset.fetch;

import static dev.clipspark.dataset.fetch.LoopbackServer.send;
import static dev.clipspark.dataset.fetch.LoopbackServer.sendChunked;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.clipspark.dataset.RejectReason;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import javax.net.ssl.SSLSocketFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class UrlFetcherTest {

  /** Short timeouts for the cases that wait on them; roomy enough for a busy machine elsewhere. */
  private static final Duration SHORT = Duration.ofMillis(400);
  private static final Duration ROOMY = Duration.ofSeconds(5);

  private LoopbackServer server;
  private byte[] image;

  @BeforeEach
  void start() {
    server = LoopbackServer.http();
    image = new byte[5000];
    new Random(42).nextBytes(image);
    server.route("/img.jpg", ex -> send(ex, 200, image));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  /** Loopback allowed (the test server lives there), no retries, roomy timeouts. */
  private static FetchOptions options() {
    return FetchOptions.defaults()
        .withAllowPrivate(true)
        .withTimeouts(ROOMY, ROOMY)
        .withRetries(0, Duration.ofMillis(10));
  }

  private static FetchResult fetch(FetchOptions options, String url) {
    try (var fetcher = new UrlFetcher(options)) {
      return fetcher.fetch(url);
    }
  }

  @Test
  void downloadsAnImage() {
    FetchResult r = fetch(options(), server.url("/img.jpg"));

    assertThat(r.ok()).as(r.toString()).isTrue();
    assertThat(r.body()).isEqualTo(image);
    assertThat(r.reject()).isNull();
    assertThat(r.httpStatus()).isEqualTo(200);
    assertThat(r.attempts()).isEqualTo(1);
    assertThat(r.finalUrl()).isEqualTo(server.url("/img.jpg"));
    assertThat(server.seen()).singleElement().satisfies(s -> assertThat(s.method()).isEqualTo("GET"));
  }

  @Test
  void downloadsAChunkedBody() {
    server.route("/chunked", ex -> sendChunked(ex, image));

    FetchResult r = fetch(options(), server.url("/chunked"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
  }

  @Test
  void sendsTheConfiguredUserAgentAndHost() {
    var agent = "UnitTestAgent/9.9 (+loopback only)";

    FetchResult r = fetch(options().withUserAgent(agent), server.url("/img.jpg"));

    assertThat(r.ok()).as(r.toString()).isTrue();
    var seen = server.seen().get(0);
    assertThat(seen.header("User-Agent")).isEqualTo(agent);
    assertThat(seen.header("Host")).isEqualTo("127.0.0.1:" + server.port());
  }

  @Test
  void followsARedirectChainWithinTheLimit() {
    // /r3 -> /r2 (absolute) -> /r1 (relative) -> /img.jpg (absolute path)
    server.route("/r3", ex -> redirect(ex, 301, server.url("/r2")));
    server.route("/r2", ex -> redirect(ex, 302, "r1"));
    server.route("/r1", ex -> redirect(ex, 307, "/img.jpg"));

    FetchResult r = fetch(options().withMaxRedirects(3), server.url("/r3"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
    assertThat(r.finalUrl()).isEqualTo(server.url("/img.jpg"));
    assertThat(server.seen()).extracting(LoopbackServer.Seen::rawPath)
        .containsExactly("/r3", "/r2", "/r1", "/img.jpg");
  }

  @Test
  void stopsAfterMaxRedirects() {
    server.route("/r3", ex -> redirect(ex, 301, "/r2"));
    server.route("/r2", ex -> redirect(ex, 308, "/r1"));
    server.route("/r1", ex -> redirect(ex, 303, "/img.jpg"));

    FetchResult r = fetch(options().withMaxRedirects(2), server.url("/r3"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.TOO_MANY_REDIRECTS);
    assertThat(r.body()).isNull();
    assertThat(r.httpStatus()).isEqualTo(303);
    assertThat(r.detail()).isEqualTo("more than 2 redirects");
    assertThat(server.count("/img.jpg")).isZero();
    assertThat(server.seen()).hasSize(3);
  }

  @Test
  void noRedirectAllowedWhenMaxIsZero() {
    server.route("/moved", ex -> redirect(ex, 302, "/img.jpg"));

    FetchResult r = fetch(options().withMaxRedirects(0), server.url("/moved"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.TOO_MANY_REDIRECTS);
  }

  @Test
  void resolvesARelativeLocationAgainstTheCurrentUrl() {
    server.route("/a/b/start", ex -> redirect(ex, 302, "../c/target.jpg?size=2"));
    server.route("/a/c/target.jpg", ex -> send(ex, 200, image));

    FetchResult r = fetch(options(), server.url("/a/b/start"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
    assertThat(r.finalUrl()).isEqualTo(server.url("/a/c/target.jpg?size=2"));
  }

  @Test
  void notFoundIsAnHttpErrorWithoutRetry() {
    FetchResult r = fetch(options().withRetries(2, Duration.ofMillis(10)), server.url("/missing.jpg"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.HTTP_ERROR);
    assertThat(r.httpStatus()).isEqualTo(404);
    assertThat(r.detail()).isEqualTo("HTTP 404");
    assertThat(r.attempts()).isEqualTo(1);
    assertThat(server.count("/missing.jpg")).isEqualTo(1);
  }

  @Test
  void retriesA503AndSucceeds() {
    var calls = new AtomicInteger();
    server.route("/flaky", ex -> {
      if (calls.incrementAndGet() <= 2) {
        send(ex, 503, "busy".getBytes(StandardCharsets.US_ASCII));
      } else {
        send(ex, 200, image);
      }
    });

    FetchResult r = fetch(options().withRetries(3, Duration.ofMillis(10)), server.url("/flaky"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
    assertThat(r.attempts()).isEqualTo(3);
    assertThat(server.count("/flaky")).isEqualTo(3);
  }

  @ParameterizedTest
  @ValueSource(ints = {500, 429})
  void givesUpOnARetryableStatusAfterTheRetries(int status) {
    server.route("/down", ex -> send(ex, status, new byte[0]));

    FetchResult r = fetch(options().withRetries(2, Duration.ofMillis(10)), server.url("/down"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.HTTP_ERROR);
    assertThat(r.httpStatus()).isEqualTo(status);
    assertThat(r.attempts()).isEqualTo(3);
    assertThat(server.count("/down")).isEqualTo(3);
  }

  @Test
  void slowHeadersTimeOut() {
    server.route("/slow", ex -> {
      server.stall();
      send(ex, 200, image);
    });

    FetchResult r = assertTimeoutPreemptively(Duration.ofSeconds(15),
        () -> fetch(options().withTimeouts(ROOMY, SHORT), server.url("/slow")));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.TIMEOUT);
    assertThat(r.httpStatus()).isZero();
    assertThat(r.detail()).isEqualTo("read timed out after 400ms");
  }

  @Test
  void aTricklingBodyTimesOutInsteadOfHanging() {
    server.route("/trickle", ex -> {
      ex.sendResponseHeaders(200, 0);
      OutputStream out = ex.getResponseBody();
      // One byte every 20 ms, forever: every single read succeeds well within the read timeout.
      while (server.release.getCount() > 0) {
        out.write('x');
        out.flush();
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          return;
        }
      }
    });

    FetchResult r = assertTimeoutPreemptively(Duration.ofSeconds(15),
        () -> fetch(options().withTimeouts(ROOMY, SHORT), server.url("/trickle")));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.TIMEOUT);
    assertThat(r.httpStatus()).isEqualTo(200);
  }

  @Test
  void refusesADeclaredLengthOverTheCap() {
    server.route("/big", ex -> send(ex, 200, new byte[4096]));

    FetchResult r = fetch(options().withMaxBodyBytes(1024), server.url("/big"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.BODY_TOO_LARGE);
    assertThat(r.detail()).isEqualTo("Content-Length 4096 exceeds max-body-bytes 1024");
  }

  @Test
  void abortsAChunkedBodyThatGrowsPastTheCap() {
    server.route("/big", ex -> sendChunked(ex, new byte[4096]));

    FetchResult r = fetch(options().withMaxBodyBytes(1024), server.url("/big"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.BODY_TOO_LARGE);
    assertThat(r.detail()).isEqualTo("the body exceeds max-body-bytes 1024");
  }

  @Test
  void acceptsABodyOfExactlyTheCap() {
    byte[] exact = new byte[1024];
    new Random(1).nextBytes(exact);
    server.route("/fixed", ex -> send(ex, 200, exact));
    server.route("/chunked", ex -> sendChunked(ex, exact));

    try (var fetcher = new UrlFetcher(options().withMaxBodyBytes(1024))) {
      assertThat(fetcher.fetch(server.url("/fixed")).body()).isEqualTo(exact);
      assertThat(fetcher.fetch(server.url("/chunked")).body()).isEqualTo(exact);
    }
  }

  @Test
  void emptyBodiesAreEmptyFiles() {
    server.route("/empty", ex -> send(ex, 200, new byte[0]));
    server.route("/empty-chunked", ex -> sendChunked(ex, new byte[0]));
    server.route("/no-content", ex -> ex.sendResponseHeaders(204, -1));

    try (var fetcher = new UrlFetcher(options())) {
      for (String path : new String[] {"/empty", "/empty-chunked", "/no-content"}) {
        FetchResult r = fetcher.fetch(server.url(path));
        assertThat(r.reject()).as(path + ": " + r).isEqualTo(RejectReason.EMPTY_FILE);
        assertThat(r.attempts()).isEqualTo(1);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"noai", "noimageai", "none", "noindex", "NoImageAI", "nofollow, noai", "clipspark: noai",
      "*: noindex", "googlebot: noindex, clipspark: none"})
  void robotsTagDisallowsWithoutReadingTheBody(String tag) {
    server.route("/tagged", ex -> {
      ex.getResponseHeaders().add("X-Robots-Tag", tag);
      ex.sendResponseHeaders(200, 0);
      // The body is held back until the test ends: a client reading it would time out instead.
      server.stall();
      ex.getResponseBody().write(image);
    });

    FetchResult r = fetch(options().withTimeouts(ROOMY, SHORT), server.url("/tagged"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.ROBOTS_DISALLOWED);
    assertThat(r.detail()).isEqualTo("X-Robots-Tag: " + tag);
    assertThat(r.httpStatus()).isEqualTo(200);
  }

  @Test
  void robotsTagAcrossSeveralHeaders() {
    server.route("/tagged", ex -> {
      ex.getResponseHeaders().add("X-Robots-Tag", "nofollow");
      ex.getResponseHeaders().add("X-Robots-Tag", "noimageai");
      send(ex, 200, image);
    });

    FetchResult r = fetch(options(), server.url("/tagged"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.ROBOTS_DISALLOWED);
    assertThat(r.detail()).isEqualTo("X-Robots-Tag: noimageai");
  }

  @ParameterizedTest
  @ValueSource(strings = {"googlebot: noindex", "nofollow, noarchive", "max-image-preview: none",
      "otherbot: noai, noimageai"})
  void robotsTagThatDoesNotConcernUs(String tag) {
    server.route("/tagged", ex -> {
      ex.getResponseHeaders().add("X-Robots-Tag", tag);
      send(ex, 200, image);
    });

    FetchResult r = fetch(options(), server.url("/tagged"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
  }

  @Test
  void robotsTagIgnoredWhenRespectIsOff() {
    server.route("/tagged", ex -> {
      ex.getResponseHeaders().add("X-Robots-Tag", "noai");
      send(ex, 200, image);
    });

    FetchResult r = fetch(options().withRespectRobotsTag(false), server.url("/tagged"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
  }

  @Test
  void refusesLoopbackWhenPrivateAddressesAreNotAllowed() {
    var options = options().withAllowPrivate(false);
    try (var fetcher = new UrlFetcher(options)) {
      FetchResult literal = fetcher.fetch(server.url("/img.jpg"));
      FetchResult name = fetcher.fetch("http://localhost:" + server.port() + "/img.jpg");
      FetchResult v6 = fetcher.fetch("http://[::1]:" + server.port() + "/img.jpg");

      assertThat(literal.reject()).as(literal.toString()).isEqualTo(RejectReason.PRIVATE_ADDRESS);
      assertThat(literal.detail()).isEqualTo("127.0.0.1 is not a public address: loopback");
      assertThat(literal.attempts()).isEqualTo(1);
      assertThat(name.reject()).as(name.toString()).isEqualTo(RejectReason.PRIVATE_ADDRESS);
      assertThat(name.detail()).startsWith("localhost resolves to ").endsWith("not a public address: loopback");
      assertThat(v6.reject()).as(v6.toString()).isEqualTo(RejectReason.PRIVATE_ADDRESS);
    }
    assertThat(server.seen()).isEmpty();
  }

  @Test
  void checksEveryRedirectHop() {
    // Only 127.0.0.2 counts as private here, so the first hop (127.0.0.1) is allowed and the redirect is not.
    server.route("/start", ex -> redirect(ex, 302, "http://127.0.0.2:" + server.port() + "/img.jpg"));
    var fetcher = new UrlFetcher(options().withAllowPrivate(false), InetAddress::getAllByName,
        a -> a.getHostAddress().equals("127.0.0.2") ? Optional.of("test rule") : Optional.empty(),
        (SSLSocketFactory) SSLSocketFactory.getDefault());

    FetchResult r;
    try (fetcher) {
      r = fetcher.fetch(server.url("/start"));
    }

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.PRIVATE_ADDRESS);
    assertThat(r.finalUrl()).isEqualTo("http://127.0.0.2:" + server.port() + "/img.jpg");
    assertThat(r.httpStatus()).isEqualTo(302);
    assertThat(server.seen()).extracting(LoopbackServer.Seen::rawPath).containsExactly("/start");
  }

  @Test
  void refusesANameWhenAnyOfItsAddressesIsPrivate() {
    // 127.0.0.1 is allowed by this rule, 10.0.0.1 is not: one bad address is enough, nothing is connected.
    UrlFetcher.Resolver resolver = host -> new InetAddress[] {
        InetAddress.getByName("127.0.0.1"), InetAddress.getByName("10.0.0.1")};
    var fetcher = new UrlFetcher(options().withAllowPrivate(false), resolver,
        a -> a.isLoopbackAddress() ? Optional.empty() : AddressPolicy.restriction(a),
        (SSLSocketFactory) SSLSocketFactory.getDefault());

    FetchResult r;
    try (fetcher) {
      r = fetcher.fetch("http://mixed.example:" + server.port() + "/img.jpg");
    }

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.PRIVATE_ADDRESS);
    assertThat(r.detail()).isEqualTo("mixed.example resolves to 10.0.0.1, not a public address: private (RFC 1918)");
    assertThat(server.seen()).isEmpty();
  }

  @Test
  void connectsToTheAddressThatWasResolvedAndChecked() {
    // No DNS knows this name: the request can only arrive through the resolved address.
    UrlFetcher.Resolver resolver = host -> {
      assertThat(host).isEqualTo("images.example");
      return new InetAddress[] {InetAddress.getByName("127.0.0.1")};
    };
    var fetcher = new UrlFetcher(options(), resolver, AddressPolicy::restriction,
        (SSLSocketFactory) SSLSocketFactory.getDefault());

    FetchResult r;
    try (fetcher) {
      r = fetcher.fetch("http://images.example:" + server.port() + "/img.jpg");
    }

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
    assertThat(server.seen().get(0).header("Host")).isEqualTo("images.example:" + server.port());
  }

  @Test
  void unknownHostIsADnsErrorWithoutRetry() {
    var lookups = new AtomicInteger();
    UrlFetcher.Resolver resolver = host -> {
      lookups.incrementAndGet();
      throw new UnknownHostException(host);
    };
    var fetcher = new UrlFetcher(options().withRetries(2, Duration.ofMillis(10)), resolver,
        AddressPolicy::restriction, (SSLSocketFactory) SSLSocketFactory.getDefault());

    FetchResult r;
    try (fetcher) {
      r = fetcher.fetch("http://no-such-host.invalid/img.jpg");
    }

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.DNS_ERROR);
    assertThat(r.detail()).isEqualTo("unknown host no-such-host.invalid");
    assertThat(r.attempts()).isEqualTo(1);
    assertThat(lookups).hasValue(1);
  }

  @ParameterizedTest
  @ValueSource(strings = {"ftp://127.0.0.1/img.jpg", "file:///etc/passwd", "not a url", "", "http://",
      "javascript:alert(1)", "http://exa mple.com/x.jpg", "http://127.0.0.1:99999/x.jpg", "//127.0.0.1/x.jpg"})
  void refusesWhatIsNotAnHttpUrl(String url) {
    FetchResult r = fetch(options(), url);

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.BAD_URL);
    assertThat(r.attempts()).isZero();
    assertThat(r.finalUrl()).isEqualTo(url);
  }

  @Test
  void aRedirectToAnotherSchemeIsABadUrl() {
    server.route("/to-ftp", ex -> redirect(ex, 301, "ftp://127.0.0.1/img.jpg"));

    FetchResult r = fetch(options(), server.url("/to-ftp"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.BAD_URL);
    assertThat(r.detail()).contains("ftp");
  }

  @Test
  void aRefusedConnectionIsANetworkErrorAfterRetries() throws IOException {
    int port;
    try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    } // closed: nothing listens there now

    FetchResult r = fetch(options().withRetries(1, Duration.ofMillis(10)), "http://127.0.0.1:" + port + "/x.jpg");

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.NETWORK_ERROR);
    assertThat(r.attempts()).isEqualTo(2);
    assertThat(r.detail()).startsWith("cannot connect to 127.0.0.1:" + port);
  }

  @Test
  void aMalformedResponseIsANetworkError() throws Exception {
    try (var raw = new RawServer("this is not HTTP\r\n\r\n")) {
      FetchResult r = fetch(options(), "http://127.0.0.1:" + raw.port() + "/x.jpg");

      assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.NETWORK_ERROR);
      assertThat(r.detail()).startsWith("malformed response: bad status line");
    }
  }

  @Test
  void aBodyCutShortIsANetworkErrorAndIsRetried() throws Exception {
    try (var raw = new RawServer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")) {
      FetchResult r = fetch(options().withRetries(1, Duration.ofMillis(10)), "http://127.0.0.1:" + raw.port() + "/");

      assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.NETWORK_ERROR);
      assertThat(r.detail()).contains("10 of 100 body bytes");
      assertThat(r.attempts()).isEqualTo(2);
      assertThat(raw.connections()).isEqualTo(2);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "deflate-zlib", "deflate-raw"})
  void undoesAContentCodingTheServerSentAnyway(String coding) {
    server.route("/coded", ex -> {
      var coded = new ByteArrayOutputStream();
      try (OutputStream out = coding.equals("gzip") ? new GZIPOutputStream(coded)
          : new DeflaterOutputStream(coded, new Deflater(Deflater.DEFAULT_COMPRESSION, coding.endsWith("raw")))) {
        out.write(image);
      }
      ex.getResponseHeaders().add("Content-Encoding", coding.startsWith("deflate") ? "deflate" : coding);
      send(ex, 200, coded.toByteArray());
    });

    FetchResult r = fetch(options(), server.url("/coded"));

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
    assertThat(server.seen().get(0).header("Accept-Encoding")).isEqualTo("identity");
  }

  @Test
  void theCapAppliesToTheDecodedBody() {
    server.route("/bomb", ex -> {
      var coded = new ByteArrayOutputStream();
      try (var out = new GZIPOutputStream(coded)) {
        out.write(new byte[100_000]); // compresses to about 100 bytes
      }
      ex.getResponseHeaders().add("Content-Encoding", "gzip");
      send(ex, 200, coded.toByteArray());
    });

    FetchResult r = fetch(options().withMaxBodyBytes(4096), server.url("/bomb"));

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.BODY_TOO_LARGE);
  }

  @Test
  void closeAbortsAFetchInFlightAndRefusesNewOnes() throws Exception {
    var requested = new CountDownLatch(1);
    server.route("/hang", ex -> {
      requested.countDown();
      server.stall();
    });
    var fetcher = new UrlFetcher(options().withTimeouts(ROOMY, Duration.ofSeconds(60)).withRetries(3, SHORT));
    CompletableFuture<FetchResult> pending = CompletableFuture.supplyAsync(() -> fetcher.fetch(server.url("/hang")));
    assertThat(requested.await(10, TimeUnit.SECONDS)).isTrue();

    fetcher.close();

    FetchResult r = pending.get(10, TimeUnit.SECONDS); // the read timeout is 60 s: only close() ends it this soon
    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.NETWORK_ERROR);
    assertThat(r.detail()).isEqualTo("aborted: the fetcher was closed");
    assertThat(r.attempts()).isEqualTo(1);
    assertThatThrownBy(() -> fetcher.fetch(server.url("/img.jpg")))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the fetcher is closed");
  }

  private static void redirect(com.sun.net.httpserver.HttpExchange ex, int status, String location)
      throws IOException {
    ex.getResponseHeaders().add("Location", location);
    ex.sendResponseHeaders(status, -1);
  }

  /** A server on 127.0.0.1 that answers every connection with the same raw bytes, then closes it. */
  private static final class RawServer implements AutoCloseable {
    private final ServerSocket socket;
    private final AtomicInteger connections = new AtomicInteger();

    RawServer(String response) throws IOException {
      socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      var t = new Thread(() -> {
        while (!socket.isClosed()) {
          try (Socket s = socket.accept()) {
            connections.incrementAndGet();
            readRequestHead(s);
            s.getOutputStream().write(response.getBytes(StandardCharsets.ISO_8859_1));
          } catch (IOException e) {
            // closed by the test, or the client went away
          }
        }
      }, "raw-server");
      t.setDaemon(true);
      t.start();
    }

    /** Reads up to the blank line that ends the request, so closing does not reset unread data. */
    private static void readRequestHead(Socket s) throws IOException {
      var in = s.getInputStream();
      int matched = 0;
      byte[] end = {'\r', '\n', '\r', '\n'};
      while (matched < end.length) {
        int b = in.read();
        if (b < 0) {
          return;
        }
        matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
      }
    }

    int port() {
      return socket.getLocalPort();
    }

    int connections() {
      return connections.get();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }
}
