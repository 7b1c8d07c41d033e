package dev.clipspark.evaluation.report;

import java.util.Locale;

/** Escaping and number formatting for the report page. Every piece of user data goes through {@link #text}. */
final class Html {

  private Html() {}

  /** {@code s} escaped for HTML text and for double- or single-quoted attribute values. */
  static String text(String s) {
    var out = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> out.append("&amp;");
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '"' -> out.append("&quot;");
        case '\'' -> out.append("&#39;");
        default -> out.append(c);
      }
    }
    return out.toString();
  }

  /** A fraction in [0, 1] as a percentage with two decimals: {@code 0.7123 -> "71.23%"}. */
  static String percent(double fraction) {
    return Double.isFinite(fraction) ? String.format(Locale.ROOT, "%.2f%%", 100 * fraction) : "n/a";
  }

  /** A whole count with thousands separators: {@code 48000 -> "48,000"}. */
  static String count(long n) {
    return String.format(Locale.ROOT, "%,d", n);
  }

  /**
   * A number in its shortest readable form: integers as integers, very small or large values in scientific
   * notation without padding ({@code 1e-6}, {@code 2.5e-4}), others with up to four significant digits.
   */
  static String number(double v) {
    if (!Double.isFinite(v)) {
      return "n/a";
    }
    if (v == Math.rint(v) && Math.abs(v) < 1e9) {
      return Long.toString((long) v);
    }
    int exponent = (int) Math.floor(Math.log10(Math.abs(v)));
    if (exponent <= -3 || exponent >= 6) {
      double mantissa = v / Math.pow(10, exponent);
      if (Math.abs(mantissa) < 1) { // log10 of a power of ten a hair below it
        mantissa *= 10;
        exponent--;
      }
      if (Math.abs(mantissa) >= 9.9995) { // rounding carried into the next decade
        mantissa /= 10;
        exponent++;
      }
      return stripZeros(String.format(Locale.ROOT, "%.3f", mantissa)) + "e" + exponent;
    }
    return stripZeros(new java.math.BigDecimal(v).round(new java.math.MathContext(4)).toPlainString());
  }

  private static String stripZeros(String s) {
    if (s.indexOf('.') < 0) {
      return s;
    }
    int end = s.length();
    while (s.charAt(end - 1) == '0') {
      end--;
    }
    if (s.charAt(end - 1) == '.') {
      end--;
    }
    return s.substring(0, end);
  }
}
