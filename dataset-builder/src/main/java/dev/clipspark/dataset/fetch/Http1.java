package dev.clipspark.dataset.fetch;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;
import java.util.zip.ZipException;

/**
 * The HTTP/1.1 client side of one exchange over an already open connection: the request, the response head
 * and the body (fixed length, chunked, or up to the end of the connection), with hard limits on every size.
 * One request per connection ({@code Connection: close}), as img2dataset's fetcher does.
 */
final class Http1 {

  /** The response broke the protocol (bad status line, bad chunk size, headers too large...). */
  static final class MalformedResponseException extends IOException {
    private static final long serialVersionUID = 1L;

    MalformedResponseException(String message) {
      super(message);
    }
  }

  /** The body is larger than the cap (declared by Content-Length or found while streaming). */
  static final class TooLargeException extends IOException {
    private static final long serialVersionUID = 1L;

    TooLargeException(String message) {
      super(message);
    }
  }

  /** A status line and its headers (names in lower case, in order, repeated names kept). */
  record Head(int status, List<String[]> headers) {

    /** Every value of the header {@code name} (lower case). */
    List<String> all(String name) {
      var values = new ArrayList<String>();
      for (String[] h : headers) {
        if (h[0].equals(name)) {
          values.add(h[1]);
        }
      }
      return values;
    }

    /** The first value of the header {@code name} (lower case), or null. */
    String first(String name) {
      for (String[] h : headers) {
        if (h[0].equals(name)) {
          return h[1];
        }
      }
      return null;
    }
  }

  static final int MAX_LINE = 16 * 1024;
  static final int MAX_HEAD_BYTES = 64 * 1024;
  static final int MAX_HEADERS = 256;
  private static final int MAX_INTERIM = 8;

  private Http1() {}

  /** Writes a GET request for {@code url} and flushes it. */
  static void writeRequest(OutputStream out, HttpUrl url, String userAgent) throws IOException {
    String request = "GET " + url.requestTarget() + " HTTP/1.1\r\n"
        + "Host: " + url.hostHeader() + "\r\n"
        + "User-Agent: " + userAgent + "\r\n"
        + "Accept: image/*, */*;q=0.8\r\n"
        + "Accept-Encoding: identity\r\n"
        + "Connection: close\r\n"
        + "\r\n";
    out.write(request.getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
  }

  /** Reads the final response head, skipping interim (1xx) responses. */
  static Head readHead(InputStream in) throws IOException {
    for (int interim = 0; interim <= MAX_INTERIM; interim++) {
      Head head = readOneHead(in);
      if (head.status() >= 200 || head.status() == 101) {
        return head;
      }
    }
    throw new MalformedResponseException("more than " + MAX_INTERIM + " interim 1xx responses");
  }

  private static Head readOneHead(InputStream in) throws IOException {
    int[] budget = {MAX_HEAD_BYTES};
    String statusLine = readLine(in, budget);
    if (statusLine == null) {
      throw new EOFException("the server closed the connection without a response");
    }
    // HTTP/1.1 200 OK  (the reason phrase may be missing)
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/") || parts[1].length() != 3
        || !parts[1].chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new MalformedResponseException("bad status line: " + abbreviate(statusLine));
    }
    int status = Integer.parseInt(parts[1]);
    if (status < 100) {
      throw new MalformedResponseException("bad status code " + status);
    }
    var headers = new ArrayList<String[]>();
    while (true) {
      String line = readLine(in, budget);
      if (line == null) {
        throw new EOFException("the connection closed inside the response headers");
      }
      if (line.isEmpty()) {
        return new Head(status, headers);
      }
      if ((line.charAt(0) == ' ' || line.charAt(0) == '\t') && !headers.isEmpty()) {
        String[] last = headers.get(headers.size() - 1); // obsolete line folding
        last[1] = (last[1] + " " + line.strip()).strip();
        continue;
      }
      int colon = line.indexOf(':');
      if (colon <= 0) {
        throw new MalformedResponseException("bad header line: " + abbreviate(line));
      }
      if (headers.size() == MAX_HEADERS) {
        throw new MalformedResponseException("more than " + MAX_HEADERS + " headers");
      }
      headers.add(new String[] {
          line.substring(0, colon).strip().toLowerCase(Locale.ROOT), line.substring(colon + 1).strip()});
    }
  }

  /**
   * The declared body length, -1 when the body is chunked or runs to the end of the connection.
   *
   * @throws MalformedResponseException for an unparseable or contradictory Content-Length
   */
  static long declaredLength(Head head) throws MalformedResponseException {
    if (isChunked(head)) {
      return -1;
    }
    long length = -1;
    for (String value : head.all("content-length")) {
      for (String v : value.split(",")) {
        long n;
        try {
          n = Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
          throw new MalformedResponseException("bad Content-Length: " + abbreviate(value));
        }
        if (n < 0 || (length >= 0 && n != length)) {
          throw new MalformedResponseException("bad Content-Length: " + abbreviate(value));
        }
        length = n;
      }
    }
    return length;
  }

  /**
   * Reads the body (after {@link #readHead}) and undoes a gzip or deflate content coding, should a server send
   * one although the request asked for {@code identity}.
   *
   * @throws TooLargeException as soon as more than {@code max} bytes arrive or would be decoded
   */
  static byte[] readBody(InputStream in, Head head, int max) throws IOException {
    long declared = declaredLength(head);
    byte[] raw;
    if (isChunked(head)) {
      raw = readChunked(in, max);
    } else if (declared >= 0) {
      if (declared > max) {
        throw new TooLargeException("Content-Length " + declared + " exceeds max-body-bytes " + max);
      }
      raw = in.readNBytes((int) declared);
      if (raw.length < declared) {
        throw new EOFException("the connection closed after " + raw.length + " of " + declared + " body bytes");
      }
    } else {
      raw = readCapped(in, max);
    }
    return decode(raw, head.first("content-encoding"), max);
  }

  private static boolean isChunked(Head head) {
    for (String te : head.all("transfer-encoding")) {
      String[] codings = te.split(",");
      if (codings[codings.length - 1].strip().equalsIgnoreCase("chunked")) {
        return true;
      }
    }
    return false;
  }

  private static byte[] readChunked(InputStream in, int max) throws IOException {
    var body = new Growable(max);
    int[] budget = {Integer.MAX_VALUE};
    while (true) {
      String sizeLine = readLine(in, budget);
      if (sizeLine == null) {
        throw new EOFException("the connection closed inside a chunked body");
      }
      int semi = sizeLine.indexOf(';');
      String hex = (semi < 0 ? sizeLine : sizeLine.substring(0, semi)).strip();
      long size;
      try {
        size = hex.isEmpty() || hex.length() > 15 ? -1 : Long.parseLong(hex, 16);
      } catch (NumberFormatException e) {
        size = -1;
      }
      if (size < 0) {
        throw new MalformedResponseException("bad chunk size: " + abbreviate(sizeLine));
      }
      if (size == 0) {
        int[] trailerBudget = {MAX_HEAD_BYTES};
        String trailer;
        do {
          trailer = readLine(in, trailerBudget);
        } while (trailer != null && !trailer.isEmpty());
        return body.toArray();
      }
      body.readFrom(in, size);
      String end = readLine(in, budget);
      if (end == null || !end.isEmpty()) {
        throw new MalformedResponseException("a chunk does not end with CRLF");
      }
    }
  }

  private static byte[] readCapped(InputStream in, int max) throws IOException {
    var body = new Growable(max);
    body.readFrom(in, Long.MAX_VALUE);
    return body.toArray();
  }

  private static byte[] decode(byte[] raw, String contentEncoding, int max) throws IOException {
    if (contentEncoding == null || raw.length == 0) {
      return raw;
    }
    String coding = contentEncoding.strip().toLowerCase(Locale.ROOT);
    try {
      if (coding.equals("gzip") || coding.equals("x-gzip")) {
        try (var in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
          return readCapped(in, max);
        }
      }
      if (coding.equals("deflate")) {
        // RFC 9110 means zlib-wrapped deflate; some servers send it raw. A zlib header is a multiple of 31.
        boolean zlib = raw.length >= 2 && (raw[0] & 0x0f) == 8
            && (((raw[0] & 0xff) << 8) | (raw[1] & 0xff)) % 31 == 0;
        var inflater = new Inflater(!zlib);
        try (var in = new InflaterInputStream(new ByteArrayInputStream(raw), inflater)) {
          return readCapped(in, max);
        } finally {
          inflater.end();
        }
      }
      return raw; // identity, or a coding we did not ask for: left for the image decoder to judge
    } catch (ZipException | EOFException e) {
      throw new MalformedResponseException("cannot undo the " + coding + " content coding: " + e.getMessage());
    }
  }

  /**
   * Reads one line ending in LF (a preceding CR is dropped) as ISO-8859-1; null at end of stream before any
   * byte. {@code budget[0]} is the number of bytes still allowed and is decreased.
   */
  private static String readLine(InputStream in, int[] budget) throws IOException {
    var line = new StringBuilder(64);
    int read = 0;
    while (true) {
      int b = in.read();
      if (b < 0) {
        if (read == 0) {
          return null;
        }
        throw new EOFException("the connection closed inside a line");
      }
      read++;
      if (--budget[0] < 0) {
        throw new MalformedResponseException("the response head is larger than " + MAX_HEAD_BYTES + " bytes");
      }
      if (b == '\n') {
        int n = line.length();
        if (n > 0 && line.charAt(n - 1) == '\r') {
          line.setLength(n - 1);
        }
        return line.toString();
      }
      if (read > MAX_LINE) {
        throw new MalformedResponseException("a line is longer than " + MAX_LINE + " bytes");
      }
      line.append((char) b);
    }
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }

  /** A byte buffer that doubles as it fills and refuses to grow past {@code max}. */
  private static final class Growable {
    private final int max;
    private byte[] buf;
    private int size;

    Growable(int max) {
      this.max = max;
      this.buf = new byte[Math.min(8192, max)];
    }

    /** Reads {@code count} bytes (or up to end of stream when count is Long.MAX_VALUE). */
    void readFrom(InputStream in, long count) throws IOException {
      boolean toEnd = count == Long.MAX_VALUE;
      long left = count;
      while (left > 0) {
        if (size == buf.length) {
          if (size >= max) {
            // Full at the cap: one more byte (or a declared chunk beyond it) is too much.
            if (!toEnd || in.read() >= 0) {
              throw new TooLargeException("the body exceeds max-body-bytes " + max);
            }
            return;
          }
          buf = Arrays.copyOf(buf, (int) Math.min((long) max, 2L * buf.length));
        }
        int want = (int) Math.min(left, buf.length - size);
        int n = in.read(buf, size, want);
        if (n < 0) {
          if (toEnd) {
            return;
          }
          throw new EOFException("the connection closed inside a chunk");
        }
        size += n;
        left -= n;
      }
    }

    byte[] toArray() {
      return Arrays.copyOf(buf, size);
    }
  }
}
