package dev.clipspark.dataset.fetch;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * A real HTTP(S) server on 127.0.0.1 (the JDK's {@code com.sun.net.httpserver}), with routes by exact path,
 * a log of every request it received, and a latch that blocking handlers wait on until the test ends.
 */
public final class LoopbackServer implements AutoCloseable {

  /** One request as the server saw it. */
  public record Seen(String method, String rawPath, Map<String, List<String>> headers) {
    String header(String name) {
      for (var e : headers.entrySet()) {
        if (e.getKey().equalsIgnoreCase(name)) {
          return e.getValue().get(0);
        }
      }
      return null;
    }
  }

  private final HttpServer server;
  private final ExecutorService executor;
  private final Map<String, HttpHandler> routes = new ConcurrentHashMap<>();
  private final List<Seen> seen = new CopyOnWriteArrayList<>();
  /** Released when the server closes: handlers that must stall wait on it. */
  final CountDownLatch release = new CountDownLatch(1);

  private LoopbackServer(HttpServer server) {
    this.server = server;
    this.executor = Executors.newCachedThreadPool(r -> {
      var t = new Thread(r, "loopback-server");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/", this::dispatch);
    server.start();
  }

  public static LoopbackServer http() {
    try {
      return new LoopbackServer(HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static LoopbackServer https(SSLContext context) {
    try {
      var s = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      s.setHttpsConfigurator(new HttpsConfigurator(context));
      return new LoopbackServer(s);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  int port() {
    return server.getAddress().getPort();
  }

  /** {@code http://127.0.0.1:PORT} + path. */
  public String url(String path) {
    return "http://127.0.0.1:" + port() + path;
  }

  public LoopbackServer route(String path, HttpHandler handler) {
    routes.put(path, handler);
    return this;
  }

  /** Every request received so far, in arrival order. */
  public List<Seen> seen() {
    return List.copyOf(seen);
  }

  /** How many requests asked for {@code rawPath}. */
  public long count(String rawPath) {
    return seen.stream().filter(s -> s.rawPath().equals(rawPath)).count();
  }

  private void dispatch(HttpExchange exchange) throws IOException {
    String rawPath = exchange.getRequestURI().getRawPath();
    seen.add(new Seen(exchange.getRequestMethod(), rawPath, Map.copyOf(exchange.getRequestHeaders())));
    HttpHandler handler = routes.get(rawPath);
    try (exchange) {
      if (handler == null) {
        exchange.sendResponseHeaders(404, -1);
      } else {
        handler.handle(exchange);
      }
    }
  }

  /** Sends {@code body} with a Content-Length. */
  public static void send(HttpExchange exchange, int status, byte[] body) throws IOException {
    exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    exchange.getResponseBody().write(body);
  }

  /** Sends {@code body} chunked (no Content-Length). */
  static void sendChunked(HttpExchange exchange, byte[] body) throws IOException {
    exchange.sendResponseHeaders(200, 0);
    exchange.getResponseBody().write(body);
  }

  /** Blocks a handler until the server closes (at most 30 s). */
  public void stall() {
    try {
      release.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    release.countDown();
    server.stop(0);
    executor.shutdownNow();
  }
}
