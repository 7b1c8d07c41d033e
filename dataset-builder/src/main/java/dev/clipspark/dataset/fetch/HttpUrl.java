package dev.clipspark.dataset.fetch;

import java.net.IDN;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An http or https URL taken apart for one request. Parsing is lenient in the way browsers and
 * img2dataset's HTTP stack are: characters a URI does not allow (spaces, {@code |}, non-ASCII letters,
 * brackets in the path) are percent-encoded as UTF-8, and a non-ASCII host name is converted to its ASCII
 * (punycode) form. What still is not an absolute http(s) URL with a host is refused with a message.
 */
record HttpUrl(URI uri, String scheme, String host, int port, boolean ipLiteral) {

  /** Why a URL or a redirect target cannot be used. */
  static final class BadUrlException extends Exception {
    private static final long serialVersionUID = 1L;

    BadUrlException(String message) {
      super(message);
    }
  }

  private static final Pattern SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]*:");
  private static final Pattern HOST_NAME = Pattern.compile("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.?");
  private static final Pattern IPV4 = Pattern.compile("[0-9]+(\\.[0-9]+){3}");
  private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]+");
  private static final String HEX = "0123456789ABCDEF";
  private static final String ALLOWED_AFTER_AUTHORITY = "!$&'()*+,;=:@/?";

  /** Parses an absolute http or https URL. */
  static HttpUrl parse(String url) throws BadUrlException {
    if (url == null || url.isBlank()) {
      throw new BadUrlException("the URL is empty");
    }
    URI uri = toUri(url.strip());
    if (!uri.isAbsolute() || uri.isOpaque()) {
      throw new BadUrlException("not an absolute http or https URL");
    }
    return of(uri);
  }

  /** The target of a redirect: {@code location} (absolute or relative) resolved against this URL. */
  HttpUrl resolve(String location) throws BadUrlException {
    if (location == null || location.isBlank()) {
      throw new BadUrlException("the redirect has an empty Location");
    }
    URI ref = toUri(location.strip());
    URI base = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? uri.resolve("/") : uri;
    URI target;
    if (ref.getScheme() == null && ref.getRawAuthority() == null
        && (ref.getRawPath() == null || ref.getRawPath().isEmpty())) {
      // "?q" or "" or "#f": RFC 3986 keeps the base path (java.net.URI follows RFC 2396 and drops its last segment).
      String query = ref.getRawQuery() != null ? ref.getRawQuery() : base.getRawQuery();
      try {
        target = new URI(base.getScheme() + "://" + base.getRawAuthority() + base.getRawPath()
            + (query == null ? "" : "?" + query));
      } catch (URISyntaxException e) {
        throw new BadUrlException("malformed redirect Location " + location + ": " + e.getMessage());
      }
    } else {
      target = base.resolve(ref);
    }
    if (!target.isAbsolute() || target.isOpaque()) {
      throw new BadUrlException("the redirect Location " + location + " is not a usable URL");
    }
    return of(target);
  }

  /** The request target: the raw path (at least {@code /}) and query; the fragment is never sent. */
  String requestTarget() {
    String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
    return uri.getRawQuery() == null ? path : path + "?" + uri.getRawQuery();
  }

  /** The {@code Host} header: the host (bracketed when IPv6) and the port unless it is the scheme's default. */
  String hostHeader() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return port == defaultPort(scheme) ? h : h + ":" + port;
  }

  /**
   * The form two spellings of one resource share: lower-case scheme and host, the port only when it is
   * not the scheme's default, the path (at least {@code /}) and query, no fragment.
   */
  String normalised() {
    String userInfo = uri.getRawUserInfo();
    return scheme + "://" + (userInfo == null ? "" : userInfo + "@") + hostHeader().toLowerCase(Locale.ROOT)
        + requestTarget();
  }

  boolean https() {
    return scheme.equals("https");
  }

  @Override
  public String toString() {
    return uri.toString();
  }

  private static HttpUrl of(URI uri) throws BadUrlException {
    String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new BadUrlException("the scheme " + uri.getScheme() + " is neither http nor https");
    }
    String authority = uri.getRawAuthority();
    if (authority == null || authority.isEmpty()) {
      throw new BadUrlException("the URL has no host");
    }
    // Taken apart by hand: URI leaves getHost() null for valid names it considers registry-based (e.g. a_b.com).
    String hostPort = authority.substring(authority.lastIndexOf('@') + 1);
    String host;
    String portText;
    if (hostPort.startsWith("[")) {
      int close = hostPort.indexOf(']');
      if (close < 0) {
        throw new BadUrlException("the IPv6 host " + hostPort + " is not closed with ]");
      }
      host = hostPort.substring(1, close);
      String rest = hostPort.substring(close + 1);
      if (!rest.isEmpty() && !rest.startsWith(":")) {
        throw new BadUrlException("unexpected text after the IPv6 host: " + rest);
      }
      portText = rest.isEmpty() ? "" : rest.substring(1);
      if (!IPV6.matcher(host).matches() || host.indexOf(':') < 0) {
        throw new BadUrlException("the host [" + host + "] is not an IPv6 address");
      }
    } else {
      int colon = hostPort.lastIndexOf(':');
      host = colon < 0 ? hostPort : hostPort.substring(0, colon);
      portText = colon < 0 ? "" : hostPort.substring(colon + 1);
      if (host.isEmpty()) {
        throw new BadUrlException("the URL has no host");
      }
      if (!HOST_NAME.matcher(host).matches()) {
        throw new BadUrlException("the host " + host + " is not a valid host name");
      }
    }
    int port = defaultPort(scheme);
    if (!portText.isEmpty()) {
      if (portText.length() > 5 || !portText.chars().allMatch(c -> c >= '0' && c <= '9')) {
        throw new BadUrlException("the port " + portText + " is not a number");
      }
      port = Integer.parseInt(portText);
      if (port < 1 || port > 65535) {
        throw new BadUrlException("the port " + port + " is not between 1 and 65535");
      }
    }
    host = host.toLowerCase(Locale.ROOT);
    boolean literal = host.indexOf(':') >= 0 || IPV4.matcher(host).matches();
    return new HttpUrl(uri, scheme, host, port, literal);
  }

  private static int defaultPort(String scheme) {
    return scheme.equals("https") ? 443 : 80;
  }

  /**
   * A URI reference holding only ASCII: parsed as it is when it is a valid ASCII URI (so a valid URL is sent
   * byte for byte as given), else made valid by {@link #lenient}. Non-ASCII text always goes the lenient way:
   * {@link URI} would accept it raw, but it cannot go on the request line or into DNS as it is.
   */
  private static URI toUri(String s) throws BadUrlException {
    boolean ascii = s.chars().allMatch(c -> c > 0x20 && c < 0x7f);
    if (ascii) {
      try {
        return new URI(s);
      } catch (URISyntaxException strict) {
        // fall through to the lenient reading
      }
    }
    try {
      return new URI(lenient(s));
    } catch (URISyntaxException e) {
      throw new BadUrlException("malformed URL: " + e.getMessage());
    }
  }

  /** Percent-encodes what a URI does not allow; converts a non-ASCII host to punycode. */
  private static String lenient(String s) throws BadUrlException {
    int i = 0;
    Matcher m = SCHEME.matcher(s);
    if (m.lookingAt()) {
      i = m.end();
    }
    var out = new StringBuilder(s.length() + 16).append(s, 0, i);
    if (s.startsWith("//", i)) {
      int start = i + 2;
      int end = start;
      while (end < s.length() && "/?#".indexOf(s.charAt(end)) < 0) {
        end++;
      }
      out.append("//").append(asciiAuthority(s.substring(start, end)));
      i = end;
    }
    boolean fragment = false;
    for (; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '#' && !fragment) {
        fragment = true;
        out.append(c);
      } else if (isUnreservedOrAlnum(c) || ALLOWED_AFTER_AUTHORITY.indexOf(c) >= 0) {
        out.append(c);
      } else if (c == '%' && i + 2 < s.length() && isHex(s.charAt(i + 1)) && isHex(s.charAt(i + 2))) {
        out.append(c);
      } else {
        int cp = s.codePointAt(i);
        i += Character.charCount(cp) - 1;
        percentEncode(new String(Character.toChars(cp)), out);
      }
    }
    return out.toString();
  }

  private static String asciiAuthority(String authority) throws BadUrlException {
    int at = authority.lastIndexOf('@');
    String userInfo = at < 0 ? "" : authority.substring(0, at + 1);
    String hostPort = authority.substring(at + 1);
    if (hostPort.startsWith("[")) {
      return userInfo + hostPort;
    }
    int colon = hostPort.lastIndexOf(':');
    String host = colon < 0 ? hostPort : hostPort.substring(0, colon);
    String port = colon < 0 ? "" : hostPort.substring(colon);
    try {
      host = IDN.toASCII(host, IDN.ALLOW_UNASSIGNED);
    } catch (IllegalArgumentException e) {
      throw new BadUrlException("the host " + host + " is not a valid host name: " + e.getMessage());
    }
    var encodedUser = new StringBuilder();
    for (int i = 0; i < userInfo.length(); i++) {
      char c = userInfo.charAt(i);
      if (isUnreservedOrAlnum(c) || "!$&'()*+,;=:@%".indexOf(c) >= 0) {
        encodedUser.append(c);
      } else {
        percentEncode(String.valueOf(c), encodedUser);
      }
    }
    return encodedUser + host + port;
  }

  private static boolean isUnreservedOrAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
        || c == '_' || c == '~';
  }

  private static boolean isHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  private static void percentEncode(String text, StringBuilder out) {
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      out.append('%').append(HEX.charAt((b >> 4) & 0xf)).append(HEX.charAt(b & 0xf));
    }
  }
}
