package dev.clipspark.training.tokenizer;

import java.text.Normalizer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text clean-up CLIP applies before tokenising ({@code basic_clean}, {@code whitespace_clean} and
 * {@code lower()} in OpenAI's {@code simple_tokenizer.py}): fix the text, HTML-unescape it twice, collapse
 * every run of white space into one space, strip, lower-case.
 *
 * <p>CLIP fixes the text with the Python library {@code ftfy}. {@link #fixText} re-implements the parts of
 * {@code ftfy.fix_text} (version 6, default settings) that work character by character, in ftfy's order:
 * its own HTML unescaping (only entities that end in a semicolon, plus all-caps names such as
 * {@code &EACUTE;}, and only while no line so far contains a {@code <}), C1 control characters read as
 * Windows-1252, Latin ligatures ({@code ﬁ} to {@code fi}), full-width and half-width forms, curly quotes
 * to straight ones, line breaks, lone surrogates, terminal colour escapes, invisible control characters,
 * and NFC normalisation, repeated until the text no longer changes. What is <em>not</em> reproduced is
 * ftfy's mojibake repair ({@code fix_encoding}): text that was decoded with the wrong encoding, such as
 * {@code cafÃ©} for {@code café}, stays as it is, so such captions can get other token ids than in CLIP.
 *
 * <p>White space is what Python's {@code str.isspace} accepts, and lower-casing uses the full Unicode case
 * mapping, as Python's {@code str.lower} does. All methods are thread-safe and static.
 */
public final class TextCleaner {

  /** Python's {@code html._charref}: numeric references and up to 32 characters of a name. */
  private static final Pattern HTML_CHARREF =
      Pattern.compile("&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\\t\\n\\f <&#;]{1,32};?)");
  /** ftfy's {@code HTML_ENTITY_RE}. */
  private static final Pattern FTFY_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");
  /** ftfy's {@code ANSI_RE}; Python's {@code \d} is any decimal digit. */
  private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001b\\[((?:\\p{Nd}|;)*)([a-zA-Z])");

  /** Windows-1252 for 0x80 to 0x9F; undefined bytes keep their code point. */
  private static final char[] CP1252_C1 = {
    '\u20ac', '\u0081', '\u201a', '\u0192', '\u201e', '\u2026', '\u2020', '\u2021',
    '\u02c6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008d', '\u017d', '\u008f',
    '\u0090', '\u2018', '\u2019', '\u201c', '\u201d', '\u2022', '\u2013', '\u2014',
    '\u02dc', '\u2122', '\u0161', '\u203a', '\u0153', '\u009d', '\u017e', '\u0178'};

  /** ftfy's {@code LIGATURES}. */
  private static final Map<Character, String> LIGATURES = Map.ofEntries(
      Map.entry('\u0132', "IJ"), Map.entry('\u0133', "ij"), Map.entry('\u0149', "\u02bcn"),
      Map.entry('\u01f1', "DZ"), Map.entry('\u01f2', "Dz"), Map.entry('\u01f3', "dz"),
      Map.entry('\u01c4', "D\u017d"), Map.entry('\u01c5', "D\u017e"), Map.entry('\u01c6', "d\u017e"),
      Map.entry('\u01c7', "LJ"), Map.entry('\u01c8', "Lj"), Map.entry('\u01c9', "lj"),
      Map.entry('\u01ca', "NJ"), Map.entry('\u01cb', "Nj"), Map.entry('\u01cc', "nj"),
      Map.entry('\ufb00', "ff"), Map.entry('\ufb01', "fi"), Map.entry('\ufb02', "fl"),
      Map.entry('\ufb03', "ffi"), Map.entry('\ufb04', "ffl"), Map.entry('\ufb05', "\u017ft"),
      Map.entry('\ufb06', "st"));

  /** ftfy's {@code WIDTH_MAP}, indexed by {@code c - 0xFF00}; null where the character stays. */
  private static final String[] WIDTH = buildWidthMap();

  /** ftfy's {@code HTML_ENTITIES}: {@code &name;} and the all-caps variants, to their text. */
  private static final Map<String, String> FTFY_ENTITIES = buildFtfyEntities();

  private TextCleaner() {}

  /**
   * The full clean-up of CLIP's {@code encode}: {@link #fixText}, {@link #htmlUnescape} twice, white space
   * collapsed to single spaces, stripped, lower-cased.
   */
  public static String clean(String text) {
    String t = fixText(text);
    t = htmlUnescape(htmlUnescape(t));
    return lower(collapseWhitespace(t));
  }

  /**
   * Python's {@code str.lower}: the full Unicode lower-case mapping, with Python's Final_Sigma rule for
   * {@code Σ} (it becomes {@code ς} after a cased letter, case-ignorable characters such as combining marks
   * and {@code ^} skipped, when no cased letter follows), which Java's {@code toLowerCase} applies differently.
   */
  public static String lower(String text) {
    if (text.indexOf('\u03a3') < 0) {
      return text.toLowerCase(Locale.ROOT);
    }
    var out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      if (cp == 0x03a3) {
        out.append(isFinalSigma(text, i) ? '\u03c2' : '\u03c3');
      } else {
        out.append(Character.toString(cp).toLowerCase(Locale.ROOT));
      }
      i += Character.charCount(cp);
    }
    return out.toString();
  }

  private static boolean isFinalSigma(String text, int at) {
    int j = at;
    int cp = -1;
    while (j > 0) {
      cp = text.codePointBefore(j);
      j -= Character.charCount(cp);
      if (!isCaseIgnorable(cp)) {
        break;
      }
      cp = -1;
    }
    if (cp < 0 || !isCased(cp)) {
      return false;
    }
    j = at + 1;
    while (j < text.length()) {
      cp = text.codePointAt(j);
      if (!isCaseIgnorable(cp)) {
        return !isCased(cp);
      }
      j += Character.charCount(cp);
    }
    return true;
  }

  /** Unicode's Cased property. */
  private static boolean isCased(int cp) {
    return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
  }

  /** Unicode's Case_Ignorable property: marks, format characters, modifiers, and the word-internal punctuation. */
  private static boolean isCaseIgnorable(int cp) {
    switch (Character.getType(cp)) {
      case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.FORMAT, Character.MODIFIER_LETTER,
          Character.MODIFIER_SYMBOL:
        return true;
      default:
        break;
    }
    switch (cp) {
      case '\'', '.', ':', 0x00b7, 0x0387, 0x055f, 0x05f4, 0x2018, 0x2019, 0x2024, 0x2027, 0xfe13, 0xfe52,
          0xfe55, 0xff07, 0xff0e, 0xff1a:
        return true;
      default:
        return false;
    }
  }

  /**
   * Python's {@code html.unescape}: named references from the HTML5 table (the legacy ones also without a
   * semicolon, the longest known prefix of an unknown name), decimal and hexadecimal references with the
   * HTML5 rules for invalid numbers (Windows-1252 for 0x80 to 0x9F, U+FFFD for 0, surrogates and numbers
   * past U+10FFFF, nothing for other control characters and non-characters).
   */
  public static String htmlUnescape(String s) {
    if (s.indexOf('&') < 0) {
      return s;
    }
    Matcher m = HTML_CHARREF.matcher(s);
    var out = new StringBuilder(s.length());
    int last = 0;
    while (m.find()) {
      out.append(s, last, m.start()).append(replaceCharref(m.group(1)));
      last = m.end();
    }
    return out.append(s, last, s.length()).toString();
  }

  private static String replaceCharref(String s) {
    if (s.charAt(0) == '#') {
      boolean hex = s.charAt(1) == 'x' || s.charAt(1) == 'X';
      String digits = s.substring(hex ? 2 : 1);
      if (digits.endsWith(";")) {
        digits = digits.substring(0, digits.length() - 1);
      }
      return numericCharref(digits, hex ? 16 : 10);
    }
    String v = HtmlEntities.HTML5.get(s);
    if (v != null) {
      return v;
    }
    for (int x = s.length() - 1; x > 1; x--) {
      v = HtmlEntities.HTML5.get(s.substring(0, x));
      if (v != null) {
        return v + s.substring(x);
      }
    }
    return "&" + s;
  }

  private static String numericCharref(String digits, int radix) {
    int start = 0;
    while (start < digits.length() - 1 && digits.charAt(start) == '0') {
      start++;
    }
    String d = digits.substring(start);
    long num = d.length() > 8 ? Long.MAX_VALUE : Long.parseLong(d, radix);
    if (num == 0) {
      return "\ufffd";
    }
    if (num == 0x0d) {
      return "\r";
    }
    if (num >= 0x80 && num <= 0x9f) {
      return String.valueOf(CP1252_C1[(int) num - 0x80]);
    }
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) {
      return "\ufffd";
    }
    int cp = (int) num;
    if ((cp >= 0x1 && cp <= 0x8) || cp == 0xb || (cp >= 0xe && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f)
        || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe) {
      return "";
    }
    return new String(Character.toChars(cp));
  }

  /**
   * The character-level fixes of {@code ftfy.fix_text} described in the class comment, without mojibake
   * repair. Text made only of printable ASCII, tabs and line feeds with no {@code &} is returned as is.
   */
  public static String fixText(String text) {
    if (isPlain(text)) {
      return text;
    }
    var out = new StringBuilder(text.length());
    boolean unescape = true;
    int pos = 0;
    while (pos < text.length()) {
      int nl = text.indexOf('\n', pos);
      int end = nl < 0 ? text.length() : nl + 1;
      String segment = text.substring(pos, end);
      if (unescape && segment.indexOf('<') >= 0) {
        unescape = false;
      }
      out.append(fixSegment(segment, unescape));
      pos = end;
    }
    return out.toString();
  }

  private static boolean isPlain(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c >= 0x7f || c == '&' || (c < 0x20 && c != '\t' && c != '\n')) {
        return false;
      }
    }
    return true;
  }

  private static String fixSegment(String segment, boolean unescape) {
    String text = segment;
    while (true) {
      String orig = text;
      if (unescape) {
        text = ftfyUnescape(text);
      }
      text = mapChars(text);
      text = text.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n').replace('\u2029', '\n')
          .replace('\u0085', '\n');
      text = ANSI_ESCAPE.matcher(text).replaceAll("");
      text = removeControlChars(text);
      if (!Normalizer.isNormalized(text, Normalizer.Form.NFC)) {
        text = Normalizer.normalize(text, Normalizer.Form.NFC);
      }
      if (text.equals(orig)) {
        return text;
      }
    }
  }

  private static String ftfyUnescape(String text) {
    if (text.indexOf('&') < 0) {
      return text;
    }
    Matcher m = FTFY_ENTITY.matcher(text);
    var out = new StringBuilder(text.length());
    int last = 0;
    while (m.find()) {
      String entity = m.group();
      String replacement = FTFY_ENTITIES.get(entity);
      if (replacement == null) {
        replacement = entity;
        if (entity.startsWith("&#")) {
          String unescaped = htmlUnescape(entity);
          if (unescaped.indexOf(';') < 0) {
            replacement = unescaped;
          }
        }
      }
      out.append(text, last, m.start()).append(replacement);
      last = m.end();
    }
    return out.append(text, last, text.length()).toString();
  }

  /** C1 controls, ligatures, width forms, curly quotes and lone surrogates, in ftfy's order. */
  private static String mapChars(String text) {
    var out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c >= 0x80 && c <= 0x9f) {
        c = CP1252_C1[c - 0x80];
      }
      String lig = LIGATURES.get(c);
      if (lig != null) {
        appendWidthAndQuotes(out, lig);
        continue;
      }
      if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
        out.append(c).append(text.charAt(++i));
        continue;
      }
      if (Character.isSurrogate(c)) {
        out.append('\ufffd');
        continue;
      }
      appendWidthAndQuotes(out, c);
    }
    return out.toString();
  }

  private static void appendWidthAndQuotes(StringBuilder out, String s) {
    for (int i = 0; i < s.length(); i++) {
      appendWidthAndQuotes(out, s.charAt(i));
    }
  }

  private static void appendWidthAndQuotes(StringBuilder out, char c) {
    if (c == '\u3000') {
      out.append(' ');
      return;
    }
    if (c >= 0xff00 && c <= 0xffef && WIDTH[c - 0xff00] != null) {
      String w = WIDTH[c - 0xff00];
      for (int i = 0; i < w.length(); i++) {
        out.append(uncurl(w.charAt(i)));
      }
      return;
    }
    out.append(uncurl(c));
  }

  private static char uncurl(char c) {
    if (c == '\u02bc' || (c >= '\u2018' && c <= '\u201b')) {
      return '\'';
    }
    if (c >= '\u201c' && c <= '\u201f') {
      return '"';
    }
    return c;
  }

  private static String removeControlChars(String text) {
    StringBuilder out = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean control = c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f
          || (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
      if (control && out == null) {
        out = new StringBuilder(text.length()).append(text, 0, i);
      } else if (!control && out != null) {
        out.append(c);
      }
    }
    return out == null ? text : out.toString();
  }

  /** Whether Python's {@code str.isspace} is true for {@code c}. */
  static boolean isPythonSpace(int c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680
        || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f
        || c == 0x3000;
  }

  /** {@code re.sub(r'\s+', ' ', text).strip()} with Python's notion of white space. */
  static String collapseWhitespace(String text) {
    var out = new StringBuilder(text.length());
    boolean pendingSpace = false;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (isPythonSpace(c)) {
        pendingSpace = out.length() > 0;
      } else {
        if (pendingSpace) {
          out.append(' ');
          pendingSpace = false;
        }
        out.append(c);
      }
    }
    return out.toString();
  }

  private static String[] buildWidthMap() {
    var map = new String[0xf0];
    for (int c = 0xff01; c <= 0xffef; c++) {
      String s = String.valueOf((char) c);
      String n = Normalizer.normalize(s, Normalizer.Form.NFKC);
      if (!n.equals(s)) {
        map[c - 0xff00] = n;
      }
    }
    return map;
  }

  private static Map<String, String> buildFtfyEntities() {
    var map = new HashMap<String, String>(4096);
    for (var e : HtmlEntities.HTML5.entrySet()) {
      String name = e.getKey();
      if (!name.endsWith(";")) {
        continue;
      }
      map.put("&" + name, e.getValue());
      if (name.equals(name.toLowerCase(Locale.ROOT))) {
        String upper = "&" + name.toUpperCase(Locale.ROOT);
        if (htmlUnescape(upper).equals(upper)) {
          map.put(upper, e.getValue().toUpperCase(Locale.ROOT));
        }
      }
    }
    return Map.copyOf(map);
  }
}
