package dev.clipspark.evaluation.metrics;

import java.util.Arrays;
import java.util.Locale;

/**
 * Retrieval metrics of one direction (image to text or text to image): for each query, the rank of its best
 * correct candidate among all candidates, then recall@k (the fraction of queries ranked at most k) and the
 * median rank.
 *
 * <p>Ranks are 1-based and count ties against the model: a correct candidate's rank is one plus the number of
 * other candidates scoring at least as high as it, so a model that scores everything equal ranks every query
 * last, not first. With several correct candidates (an image with five captions) the best-ranked one counts.
 * The median of an even number of ranks is the mean of the middle two.
 *
 * @param queries the queries ranked
 * @param candidates the candidates each query ranked
 * @param ranks each query's rank, 1-based
 * @param recallAt1 fraction of queries with rank 1
 * @param recallAt5 fraction with rank at most 5
 * @param recallAt10 fraction with rank at most 10
 * @param medianRank the median of {@code ranks}
 */
public record RetrievalMetrics(int queries, int candidates, int[] ranks, double recallAt1, double recallAt5,
    double recallAt10, double medianRank) {

  /** Recall at {@code k}: the fraction of queries whose rank is at most k. */
  public double recallAt(int k) {
    long hits = Arrays.stream(ranks).filter(r -> r <= k).count();
    return hits / (double) ranks.length;
  }

  /**
   * The rank of a query's best correct candidate.
   *
   * @param scores the query's score for every candidate
   * @param correct the indices of its correct candidates (at least one)
   */
  public static int rank(float[] scores, int[] correct) {
    if (correct.length == 0) {
      throw new IllegalArgumentException("Cannot rank a query without a correct candidate");
    }
    int best = Integer.MAX_VALUE;
    for (int c : correct) {
      if (c < 0 || c >= scores.length) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot rank candidate %d: the query scored %d candidates", c, scores.length));
      }
      float own = scores[c];
      int atLeast = 0;
      for (int j = 0; j < scores.length; j++) {
        if (j != c && scores[j] >= own) {
          atLeast++;
        }
      }
      best = Math.min(best, 1 + atLeast);
    }
    return best;
  }

  /** Metrics of the given ranks of {@code queries} queries over {@code candidates} candidates. */
  public static RetrievalMetrics ofRanks(int[] ranks, int candidates) {
    if (ranks.length == 0) {
      throw new IllegalArgumentException("Cannot compute retrieval metrics of no queries");
    }
    int[] sorted = ranks.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    var m = new RetrievalMetrics(n, candidates, ranks.clone(), 0, 0, 0, median);
    return new RetrievalMetrics(n, candidates, m.ranks, m.recallAt(1), m.recallAt(5), m.recallAt(10), median);
  }
}
