package dev.clipspark.evaluation.metrics;

import java.util.Arrays;
import java.util.Locale;

/**
 * Retrieval metrics of one direction (image to text or text to image): for each query, the rank of its best
 * correct candidate among all candidates, then recall@k (the fraction of queries ranked at most k) and the
 * median rank.
 *
 * <p>Ranks are 1-based and count ties against the model: a query's rank is one plus the number of wrong
 * candidates scoring at least as high as its best-scoring correct candidate, so a model that scores everything
 * equal ranks every query last among the wrong candidates, not first. With several correct candidates (an image
 * with five captions, a caption carried by several images) the best one counts, and correct candidates never
 * count against each other. The median of an even number of ranks is the mean of the middle two.
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
   * The rank of a query's best correct candidate: 1 + the number of wrong candidates scoring at least as high as
   * the highest-scoring correct one (every wrong one when that score is NaN). Time O(candidates + correct x log
   * correct); nothing is allocated beyond a sorted copy of {@code correct}.
   *
   * @param scores the query's score for every candidate
   * @param correct the indices of its correct candidates (at least one; repeats allowed)
   */
  public static int rank(float[] scores, int[] correct) {
    if (correct.length == 0) {
      throw new IllegalArgumentException("Cannot rank a query without a correct candidate");
    }
    int[] sorted = correct.clone();
    Arrays.sort(sorted);
    if (sorted[0] < 0 || sorted[sorted.length - 1] >= scores.length) {
      int bad = sorted[0] < 0 ? sorted[0] : sorted[sorted.length - 1];
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot rank candidate %d: the query scored %d candidates", bad, scores.length));
    }
    float best = Float.NEGATIVE_INFINITY;
    for (int c : sorted) {
      best = Math.max(best, scores[c]);
    }
    int atLeast = 0;
    int next = 0;
    for (int j = 0; j < scores.length; j++) {
      while (next < sorted.length && sorted[next] < j) {
        next++;
      }
      if (next < sorted.length && sorted[next] == j) {
        continue;
      }
      if (scores[j] >= best || Float.isNaN(best)) {
        atLeast++;
      }
    }
    return 1 + atLeast;
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
