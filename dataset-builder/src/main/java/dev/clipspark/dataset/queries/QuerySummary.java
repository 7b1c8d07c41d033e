package dev.clipspark.dataset.queries;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a query list build did; {@code summary.json} beside {@code queries.parquet} holds the same fields.
 * Every per-kind map has the four kinds ({@code unigram}, {@code bigram}, {@code title}, {@code wordnet}) in
 * priority order, with 0 for a kind that was disabled or had no input.
 *
 * @param found per kind, the queries that met that kind's thresholds, before one-row-per-query (a query
 *     found by several kinds counts in each)
 * @param beforeCap per kind, the queries it keeps once each query has only its highest-priority kind
 * @param afterCap per kind, the queries written (the first {@code max} in priority order)
 * @param totalBeforeCap the sum of {@code beforeCap}
 * @param total the number of queries written, the sum of {@code afterCap}
 * @param droppedByCap {@code totalBeforeCap - total}
 * @param corpusWords the number of words in the corpus (T in the bigram PMI)
 * @param titleLines the non-blank lines of the titles TSV (0 without one)
 * @param malformedTitleLines title lines skipped for having no tab or views that are not a whole number
 *     of at least 0
 * @param wordnetSynsets the synsets read from WordNet (0 without WordNet)
 * @param inputs the inputs of the build
 * @param options the options of the build
 */
public record QuerySummary(
    Map<String, Long> found,
    Map<String, Long> beforeCap,
    Map<String, Long> afterCap,
    long totalBeforeCap,
    long total,
    long droppedByCap,
    long corpusWords,
    long titleLines,
    long malformedTitleLines,
    long wordnetSynsets,
    QueryInputs inputs,
    QueryOptions options) {

  /** Copies the maps, keeping their order. */
  public QuerySummary {
    found = Collections.unmodifiableMap(new LinkedHashMap<>(found));
    beforeCap = Collections.unmodifiableMap(new LinkedHashMap<>(beforeCap));
    afterCap = Collections.unmodifiableMap(new LinkedHashMap<>(afterCap));
  }
}
