package dev.clipspark.training.tokenizer;

import java.io.Serializable;

/**
 * One BPE merge rule: two adjacent symbols that become one, {@code left + right}. Symbols are written in
 * {@link BytesToUnicode} characters and the last symbol of a word ends in {@code </w>}, as in a CLIP merges
 * file line {@code left right}.
 *
 * @param left the first symbol, not empty, without white space
 * @param right the second symbol, not empty, without white space
 */
public record BpeMerge(String left, String right) implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Checks that both symbols are non-empty and hold no white space. */
  public BpeMerge {
    check(left, "left");
    check(right, "right");
  }

  private static void check(String symbol, String which) {
    if (symbol == null || symbol.isEmpty()) {
      throw new IllegalArgumentException("Cannot make a BPE merge: the " + which + " symbol is empty");
    }
    for (int i = 0; i < symbol.length(); i++) {
      if (TextCleaner.isPythonSpace(symbol.charAt(i))) {
        throw new IllegalArgumentException("Cannot make a BPE merge: the " + which + " symbol \"" + symbol
            + "\" contains white space");
      }
    }
  }

  /** The merged symbol, {@code left + right}: the vocabulary entry this merge adds. */
  public String token() {
    return left + right;
  }

  /** The merge as a line of a merges file, {@code left right}. */
  @Override
  public String toString() {
    return left + " " + right;
  }
}
