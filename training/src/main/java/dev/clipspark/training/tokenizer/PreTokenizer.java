package dev.clipspark.training.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's pre-tokenisation: the regular expression that splits cleaned text into the pieces that BPE then
 * works on, one at a time. In order of preference a piece is a special token ({@code <|startoftext|>},
 * {@code <|endoftext|>}), an English contraction suffix ({@code 's 't 're 've 'm 'll 'd}), a run of letters,
 * a single digit (numbers are split one digit per piece), or a run of characters that are neither white
 * space, letters nor digits. White space separates pieces and is dropped. As in CLIP the pattern ignores
 * case. "White space" here is Unicode's White_Space property, which the Python {@code regex} module uses. One
 * character, U+0345 (combining ypogegrammeni), matches no branch and is dropped like white space: it case-folds
 * to a Greek letter, so CLIP's case-insensitive pattern keeps it out of the punctuation class, though it is not
 * a letter itself.
 */
public final class PreTokenizer {

  /** The pattern, equivalent to the one in OpenAI's {@code simple_tokenizer.py}. */
  public static final Pattern PATTERN = Pattern.compile(
      "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]"
          + "|[^\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}"
          + "\\x{3000}\\x{345}\\p{L}\\p{N}]+",
      Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

  private PreTokenizer() {}

  /** The pieces of {@code text}, in order; {@code text} is normally already {@link TextCleaner#clean cleaned}. */
  public static List<String> split(String text) {
    var pieces = new ArrayList<String>();
    Matcher m = PATTERN.matcher(text);
    while (m.find()) {
      pieces.add(m.group());
    }
    return pieces;
  }
}
