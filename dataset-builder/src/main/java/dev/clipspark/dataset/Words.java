package dev.clipspark.dataset;

import java.util.ArrayList;
import java.util.List;

/**
 * The one word tokenizer of ClipSpark's dataset builder: query building counts the words it yields and
 * the matcher looks for queries in the words it yields, so both must go through this class (or an
 * implementation tested to be equal to it).
 *
 * <p>Rules, applied code point by code point:
 * <ul>
 *   <li>Text is lower-cased with {@link Character#toLowerCase(int)} (locale-independent), and the
 *       right single quotation mark U+2019 is read as an apostrophe.</li>
 *   <li>A word is a maximal run of letters, digits and combining marks (Unicode categories L*, Nd, Nl,
 *       No, Mn, Mc, Me). An apostrophe between two such characters stays inside the word
 *       ({@code don't}, {@code o'clock}); everything else (space, punctuation, hyphen, underscore,
 *       symbols) separates words.</li>
 *   <li>An ideograph ({@link Character#isIdeographic(int)}, e.g. Han characters) is a word of its own,
 *       since scripts written without spaces have no other cheap word boundary.</li>
 * </ul>
 * A multi-word query is the sequence of its words; {@link #normalize(String)} gives its canonical
 * spelling (words joined by one space).
 */
public final class Words {

  private Words() {}

  /** Returns the lower-cased words of {@code text}, in order. */
  public static List<String> tokenize(CharSequence text) {
    var words = new ArrayList<String>();
    var current = new StringBuilder();
    int n = text.length();
    int i = 0;
    while (i < n) {
      int cp = Character.codePointAt(text, i);
      int width = Character.charCount(cp);
      if (isIdeograph(cp)) {
        flush(current, words);
        words.add(new String(Character.toChars(Character.toLowerCase(cp))));
      } else if (isWordChar(cp)) {
        current.appendCodePoint(Character.toLowerCase(cp));
      } else if (isApostrophe(cp) && current.length() > 0 && i + width < n
          && isWordChar(Character.codePointAt(text, i + width))
          && !isIdeograph(Character.codePointAt(text, i + width))) {
        current.append('\'');
      } else {
        flush(current, words);
      }
      i += width;
    }
    flush(current, words);
    return words;
  }

  /** The canonical spelling of a query or phrase: its words joined by single spaces ("" if none). */
  public static String normalize(CharSequence text) {
    return String.join(" ", tokenize(text));
  }

  /** Whether {@code cp} belongs inside a word (letters, digits, numbers and combining marks). */
  public static boolean isWordChar(int cp) {
    switch (Character.getType(cp)) {
      case Character.UPPERCASE_LETTER:
      case Character.LOWERCASE_LETTER:
      case Character.TITLECASE_LETTER:
      case Character.MODIFIER_LETTER:
      case Character.OTHER_LETTER:
      case Character.DECIMAL_DIGIT_NUMBER:
      case Character.LETTER_NUMBER:
      case Character.OTHER_NUMBER:
      case Character.NON_SPACING_MARK:
      case Character.COMBINING_SPACING_MARK:
      case Character.ENCLOSING_MARK:
        return true;
      default:
        return false;
    }
  }

  /** Whether {@code cp} is a word of its own (an ideograph). */
  public static boolean isIdeograph(int cp) {
    return cp >= 0x2E80 && Character.isIdeographic(cp);
  }

  /** Whether {@code cp} is read as an apostrophe: U+0027 or U+2019. */
  public static boolean isApostrophe(int cp) {
    return cp == '\'' || cp == '\u2019';
  }

  private static void flush(StringBuilder current, List<String> words) {
    if (current.length() > 0) {
      words.add(current.toString());
      current.setLength(0);
    }
  }
}
