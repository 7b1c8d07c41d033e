package dev.clipspark.dataset.queries;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/**
 * Where a query came from, in priority order: when a query is found by several kinds it keeps the first of
 * them, and when the list is over its cap the kinds are kept in this order (the CLIP paper's order: the base
 * list of frequent words, then the augmentations, WordNet last).
 */
public enum QueryKind {
  /** A corpus word seen at least {@code queries.min-count} times; score: its count. */
  UNIGRAM,
  /** Two consecutive corpus words with high pointwise mutual information; score: the PMI (natural log). */
  BIGRAM,
  /** An article title with at least {@code queries.title.min-views} views; score: the views. */
  TITLE,
  /** A WordNet lemma name; score: the number of synsets it names. */
  WORDNET;

  /** The lower-case name written in the {@code kind} column and in {@code summary.json}. */
  @JsonValue
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The kind whose {@link #label()} is {@code label}. */
  @JsonCreator
  public static QueryKind ofLabel(String label) {
    for (QueryKind k : values()) {
      if (k.label().equals(label)) {
        return k;
      }
    }
    throw new IllegalArgumentException("Unknown query kind " + label + ": must be one of unigram, bigram, title, wordnet");
  }
}
