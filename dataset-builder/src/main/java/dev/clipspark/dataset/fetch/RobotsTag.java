package dev.clipspark.dataset.fetch;

import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads {@code X-Robots-Tag} response headers the way img2dataset does, a little more carefully.
 *
 * <p>Each header value is a comma-separated list of directives. A directive written {@code token: directive}
 * opens a scope: it and the directives after it in the same header value apply only to the user agent
 * {@code token} ({@code googlebot: noindex, nofollow}); a new header value starts unscoped again. A scope
 * applies to us when it is {@code *} or our product token. Directives that themselves carry a value after a
 * colon ({@code max-image-preview: none}, {@code unavailable_after: 25 Jun 2010 15:00:00 PST}) are not
 * scopes. Use is disallowed by {@code noai}, {@code noimageai}, {@code noindex} and {@code none},
 * compared without regard to case.
 */
final class RobotsTag {

  /** The directives that forbid using the image. */
  static final Set<String> DISALLOWING = Set.of("noai", "noimageai", "noindex", "none");

  private static final Set<String> VALUED = Set.of(
      "unavailable_after", "max-snippet", "max-image-preview", "max-video-preview");
  private static final Pattern TOKEN = Pattern.compile("[a-z0-9*][a-z0-9_.*-]*");

  private RobotsTag() {}

  /**
   * The first header value that disallows use by {@code productToken} (lower case), or empty.
   *
   * @param headerValues every {@code X-Robots-Tag} value of the response, in order
   */
  static Optional<String> disallowing(List<String> headerValues, String productToken) {
    for (String value : headerValues) {
      if (disallows(value, productToken)) {
        return Optional.of(value);
      }
    }
    return Optional.empty();
  }

  private static boolean disallows(String value, String productToken) {
    String scope = null;
    for (String part : value.split(",")) {
      String p = part.strip().toLowerCase(Locale.ROOT);
      int colon = p.indexOf(':');
      if (colon > 0) {
        String before = p.substring(0, colon).strip();
        if (!VALUED.contains(before) && TOKEN.matcher(before).matches()) {
          scope = before;
          p = p.substring(colon + 1).strip();
        }
      }
      boolean applies = scope == null || scope.equals("*") || scope.equals(productToken);
      // What still holds a colon is a directive with a value (max-image-preview: none), never disallowing.
      if (applies && p.indexOf(':') < 0) {
        for (String directive : p.split("\\s+")) {
          if (DISALLOWING.contains(directive)) {
            return true;
          }
        }
      }
    }
    return false;
  }
}
