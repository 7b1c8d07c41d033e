package dev.clipspark.dataset.fetch;

import static dev.clipspark.dataset.fetch.LoopbackServer.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.clipspark.dataset.RejectReason;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS against a loopback server whose self-signed certificate (made by the JDK's keytool for this test run)
 * names {@code localhost} only.
 */
class UrlFetcherTlsTest {

  private static final char[] PASSWORD = "changeit".toCharArray();

  @TempDir
  static Path dir;

  private static SSLContext serverContext;
  private static SSLSocketFactory trustingClient;

  private LoopbackServer server;
  private byte[] image;

  @BeforeAll
  static void makeCertificate() throws Exception {
    Path keystore = dir.resolve("loopback.p12");
    Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
    Process p = new ProcessBuilder(keytool.toString(), "-genkeypair", "-alias", "loopback", "-keyalg", "EC",
        "-groupname", "secp256r1", "-dname", "CN=localhost", "-ext", "SAN=dns:localhost", "-validity", "2",
        "-keystore", keystore.toString(), "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit")
        .redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(output).isZero();

    var ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(keystore)) {
      ks.load(in, PASSWORD);
    }
    var kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, PASSWORD);
    serverContext = SSLContext.getInstance("TLS");
    serverContext.init(kmf.getKeyManagers(), null, null);

    var tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    var client = SSLContext.getInstance("TLS");
    client.init(null, tmf.getTrustManagers(), null);
    trustingClient = client.getSocketFactory();
  }

  @BeforeEach
  void start() {
    server = LoopbackServer.https(serverContext);
    image = new byte[3000];
    new Random(3).nextBytes(image);
    server.route("/img.jpg", ex -> send(ex, 200, image));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private static FetchOptions options() {
    return FetchOptions.defaults()
        .withAllowPrivate(true)
        .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5))
        .withRetries(2, Duration.ofMillis(10));
  }

  /** Names resolve to 127.0.0.1, where the server listens, without asking any resolver. */
  private static UrlFetcher fetcher(FetchOptions options, SSLSocketFactory tls) {
    return new UrlFetcher(options, host -> new InetAddress[] {InetAddress.getByName("127.0.0.1")},
        AddressPolicy::restriction, tls);
  }

  @Test
  void downloadsOverHttpsWhenTheCertificateNamesTheHost() {
    FetchResult r;
    try (var fetcher = fetcher(options(), trustingClient)) {
      r = fetcher.fetch("https://localhost:" + server.port() + "/img.jpg");
    }

    assertThat(r.body()).as(r.toString()).isEqualTo(image);
    assertThat(server.seen().get(0).header("Host")).isEqualTo("localhost:" + server.port());
  }

  @Test
  void refusesACertificateThatDoesNotNameTheHostWithoutRetrying() {
    FetchResult r;
    try (var fetcher = fetcher(options(), trustingClient)) {
      r = fetcher.fetch("https://127.0.0.1:" + server.port() + "/img.jpg");
    }

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.NETWORK_ERROR);
    assertThat(r.detail()).startsWith("TLS handshake with 127.0.0.1:" + server.port() + " failed");
    assertThat(r.attempts()).isEqualTo(1);
    assertThat(server.seen()).isEmpty();
  }

  @Test
  void refusesACertificateNoTrustedAuthoritySigned() {
    FetchResult r;
    try (var fetcher = fetcher(options(), (SSLSocketFactory) SSLSocketFactory.getDefault())) {
      r = fetcher.fetch("https://localhost:" + server.port() + "/img.jpg");
    }

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.NETWORK_ERROR);
    assertThat(r.detail()).startsWith("TLS handshake with localhost:");
    assertThat(server.seen()).isEmpty();
  }

  @Test
  void aTricklingBodyOverTlsTimesOut() {
    server.route("/trickle", ex -> {
      ex.sendResponseHeaders(200, 0);
      var out = ex.getResponseBody();
      while (server.release.getCount() > 0) {
        out.write('x');
        out.flush(); // one TLS record per byte
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          return;
        }
      }
    });

    FetchResult r = assertTimeoutPreemptively(Duration.ofSeconds(15), () -> {
      try (var fetcher = fetcher(options().withTimeouts(Duration.ofSeconds(5), Duration.ofMillis(400))
          .withRetries(0, Duration.ZERO), trustingClient)) {
        return fetcher.fetch("https://localhost:" + server.port() + "/trickle");
      }
    });

    assertThat(r.reject()).as(r.toString()).isEqualTo(RejectReason.TIMEOUT);
    assertThat(r.detail()).isEqualTo("read timed out after 400ms");
  }
}
