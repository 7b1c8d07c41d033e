package dev.clipspark.evaluation.metrics;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The tokenisation captions are scored after ({@link CaptionMetrics}), close to coco-caption's: Stanford's
 * PTBTokenizer with {@code -lowerCase}, then coco's removal of punctuation tokens. In order:
 * <ol>
 *   <li>lower-case ({@link Locale#ROOT});</li>
 *   <li>split at white space; within a piece, a <em>word</em> is a maximal run of letters and digits in which
 *       {@code -}, {@code .} and {@code '} may join two letters or digits and {@code ,} two digits ("well-known",
 *       "3.5", "1,000", "o'clock"); every other character is a token of its own;</li>
 *   <li>a word ending in {@code n't} splits off {@code n't} ("don't" to "do n't", "can't" to "ca n't", as PTB); a
 *       word whose part after its last apostrophe is {@code s, re, ve, ll, d, m} splits it off ("dog's" to
 *       "dog 's");</li>
 *   <li>punctuation tokens are removed: {@code . ? ! , : ; - ' ` "}, brackets {@code ( ) [ ] { }}, and their
 *       typographic forms (curly quotes, dashes, the ellipsis).</li>
 * </ol>
 * What differs from running the Stanford tokenizer: PTB keeps a final period inside abbreviations ("u.s." stays
 * one token; here "u.s"), rewrites square brackets to {@code -lsb-}/{@code -rsb-} tokens that coco does not remove
 * (here they are removed), splits a few more contractions ("gonna", "cannot") and handles slashes, ampersands in
 * names and URLs by its own rules (here every symbol other than the ones above is a token of its own: "and/or"
 * gives "and / or"). On plain captions (words, commas, periods, apostrophes, hyphens) the tokens are PTB's.
 * {@code tools/reference/caption_metrics_reference.py} implements the same rules independently.
 */
public final class CaptionTokenizer {

  /** Removed tokens: coco-caption's punctuation list, brackets and their typographic forms. */
  static final Set<String> PUNCTUATION = Set.of(".", "?", "!", ",", ":", ";", "-", "'", "`", "\"", "(", ")", "[",
      "]", "{", "}", "\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014", "\u2026");
  private static final Set<String> CLITICS = Set.of("s", "re", "ve", "ll", "d", "m");

  private CaptionTokenizer() {}

  /** The tokens of one caption. */
  public static List<String> tokenize(String caption) {
    var out = new ArrayList<String>();
    String s = caption.toLowerCase(Locale.ROOT);
    int n = s.length();
    int i = 0;
    while (i < n) {
      int c = s.codePointAt(i);
      if (Character.isWhitespace(c)) {
        i += Character.charCount(c);
      } else if (Character.isLetterOrDigit(c)) {
        int j = i + Character.charCount(c);
        while (j < n) {
          int d = s.codePointAt(j);
          if (Character.isLetterOrDigit(d)) {
            j += Character.charCount(d);
          } else if (j + 1 < n && joins(s, j, d)) {
            j += 1;
          } else {
            break;
          }
        }
        word(s.substring(i, j), out);
        i = j;
      } else {
        String t = new String(Character.toChars(c));
        if (!PUNCTUATION.contains(t)) {
          out.add(t);
        }
        i += Character.charCount(c);
      }
    }
    return out;
  }

  /** Whether {@code d} at {@code j} joins the letter or digit before it to the one after it. */
  private static boolean joins(String s, int j, int d) {
    int after = s.codePointAt(j + 1);
    if (!Character.isLetterOrDigit(after)) {
      return false;
    }
    if (d == '-' || d == '.' || d == '\'') {
      return true;
    }
    return d == ',' && Character.isDigit(s.codePointBefore(j)) && Character.isDigit(after);
  }

  private static void word(String w, List<String> out) {
    if (w.length() > 3 && w.endsWith("n't")) {
      out.add(w.substring(0, w.length() - 3));
      out.add("n't");
      return;
    }
    int apostrophe = w.lastIndexOf('\'');
    if (apostrophe > 0 && CLITICS.contains(w.substring(apostrophe + 1))) {
      out.add(w.substring(0, apostrophe));
      out.add(w.substring(apostrophe));
      return;
    }
    out.add(w);
  }
}
