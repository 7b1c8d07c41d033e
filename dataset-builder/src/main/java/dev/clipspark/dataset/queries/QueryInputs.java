package dev.clipspark.dataset.queries;

import java.util.List;

/**
 * The inputs of a query list build. Paths are Hadoop paths or URIs ({@code file:}, {@code hdfs:},
 * {@code s3a:}, or a plain local path).
 *
 * @param corpusPaths text or Parquet corpus files or directories (glob patterns allowed), at least one
 * @param titlesPath a TSV file or directory of article titles and their views ({@code title<TAB>views}), or
 *     {@code null} for none
 * @param wordnetDir a WordNet 3.0 database directory ({@code data.noun} ...), or {@code null} for none
 */
public record QueryInputs(List<String> corpusPaths, String titlesPath, String wordnetDir) {

  /** Checks that there is at least one corpus path and that no path is blank. */
  public QueryInputs {
    if (corpusPaths == null || corpusPaths.isEmpty()) {
      throw new IllegalArgumentException("Cannot build queries: no corpus path given");
    }
    for (String p : corpusPaths) {
      if (p == null || p.isBlank()) {
        throw new IllegalArgumentException("Cannot build queries: a corpus path is empty in " + corpusPaths);
      }
    }
    corpusPaths = List.copyOf(corpusPaths);
    if (titlesPath != null && titlesPath.isBlank()) {
      throw new IllegalArgumentException("Cannot build queries: the titles path is empty (use null for none)");
    }
    if (wordnetDir != null && wordnetDir.isBlank()) {
      throw new IllegalArgumentException("Cannot build queries: the WordNet directory is empty (use null for none)");
    }
  }

  /** Inputs with a corpus only. */
  public static QueryInputs corpus(String... corpusPaths) {
    return new QueryInputs(List.of(corpusPaths), null, null);
  }

  /** A copy with {@code titlesPath} as the titles TSV. */
  public QueryInputs withTitles(String titlesPath) {
    return new QueryInputs(corpusPaths, titlesPath, wordnetDir);
  }

  /** A copy with {@code wordnetDir} as the WordNet directory. */
  public QueryInputs withWordNet(String wordnetDir) {
    return new QueryInputs(corpusPaths, titlesPath, wordnetDir);
  }
}
