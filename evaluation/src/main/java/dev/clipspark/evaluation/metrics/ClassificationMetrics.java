package dev.clipspark.evaluation.metrics;

import java.util.Arrays;
import java.util.Locale;

/**
 * Classification metrics of scored predictions: top-1 and top-k accuracy over all samples, each class's
 * recall (its samples predicted correctly at top-1, the "per-class accuracy"), their unweighted mean (CLIP's
 * "mean per-class recall") and the confusion matrix of top-1 predictions (rows: true class, columns: predicted).
 *
 * <p>Ranking rule: a sample's top-k holds the k highest-scoring classes; among equal scores the lower class
 * index ranks first, so results do not depend on the order samples arrive in.
 *
 * @param classes the number of classes
 * @param samples the samples scored
 * @param top1 fraction whose highest-scoring class is the true one
 * @param topK fraction whose true class is among the {@code k} highest-scoring ones
 * @param k the k of {@code topK} (at most the number of classes)
 * @param perClassRecall for each class, its samples' top-1 accuracy (NaN for a class without samples)
 * @param perClassCount samples of each class
 * @param meanPerClassRecall mean of {@code perClassRecall} over the classes that have samples
 * @param confusion {@code confusion[t][p]}: samples of class t predicted as p at top-1
 */
public record ClassificationMetrics(int classes, long samples, double top1, double topK, int k,
    double[] perClassRecall, long[] perClassCount, double meanPerClassRecall, long[][] confusion) {

  /** Accumulates scored samples; not thread-safe. Serializable, so Spark tasks can each fill one and merge. */
  public static final class Accumulator implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final int classes;
    private final int k;
    private long samples;
    private long correct1;
    private long correctK;
    private final long[][] confusion;

    /**
     * @param classes the number of classes, at least 1
     * @param k the k of top-k accuracy, from 1; capped at {@code classes}
     */
    public Accumulator(int classes, int k) {
      if (classes < 1) {
        throw new IllegalArgumentException("Cannot score " + classes + " classes: need at least 1");
      }
      if (k < 1) {
        throw new IllegalArgumentException("Cannot compute top-" + k + " accuracy: k must be at least 1");
      }
      this.classes = classes;
      this.k = Math.min(k, classes);
      this.confusion = new long[classes][classes];
    }

    /**
     * Adds one sample.
     *
     * @param label its true class, in {@code [0, classes)}
     * @param scores a score per class, higher is better
     */
    public Accumulator add(int label, float[] scores) {
      if (scores.length != classes) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot score a sample with %d scores: expected one per class, %d", scores.length, classes));
      }
      if (label < 0 || label >= classes) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot score a sample of class %d: classes are 0 to %d", label, classes - 1));
      }
      // Rank of the true class: classes scoring higher, or equal with a lower index, come first.
      float own = scores[label];
      int before = 0;
      int best = 0;
      for (int c = 0; c < classes; c++) {
        float s = scores[c];
        if (s > own || (s == own && c < label)) {
          before++;
        }
        if (s > scores[best]) {
          best = c;
        }
      }
      samples++;
      correct1 += before == 0 ? 1 : 0;
      correctK += before < k ? 1 : 0;
      confusion[label][best]++;
      return this;
    }

    /** Adds {@code other}'s samples to this one (same classes and k). */
    public Accumulator merge(Accumulator other) {
      if (other.classes != classes || other.k != k) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot merge metrics of %d classes, top-%d into %d classes, top-%d", other.classes, other.k, classes, k));
      }
      samples += other.samples;
      correct1 += other.correct1;
      correctK += other.correctK;
      for (int t = 0; t < classes; t++) {
        for (int p = 0; p < classes; p++) {
          confusion[t][p] += other.confusion[t][p];
        }
      }
      return this;
    }

    /** Samples added so far. */
    public long samples() {
      return samples;
    }

    /** The metrics of the samples added so far. */
    public ClassificationMetrics result() {
      if (samples == 0) {
        throw new IllegalStateException("Cannot compute classification metrics of no samples");
      }
      double[] recall = new double[classes];
      long[] count = new long[classes];
      double sum = 0;
      int present = 0;
      for (int c = 0; c < classes; c++) {
        count[c] = Arrays.stream(confusion[c]).sum();
        recall[c] = count[c] == 0 ? Double.NaN : confusion[c][c] / (double) count[c];
        if (count[c] > 0) {
          sum += recall[c];
          present++;
        }
      }
      long[][] copy = new long[classes][];
      for (int c = 0; c < classes; c++) {
        copy[c] = confusion[c].clone();
      }
      return new ClassificationMetrics(classes, samples, correct1 / (double) samples, correctK / (double) samples, k,
          recall, count, sum / present, copy);
    }
  }

  /** Metrics of a whole score matrix: {@code scores[i]} are sample i's class scores. */
  public static ClassificationMetrics of(int[] labels, float[][] scores, int k) {
    if (labels.length != scores.length) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot score %d labels against %d rows of scores: they must be as many", labels.length, scores.length));
    }
    if (scores.length == 0) {
      throw new IllegalArgumentException("Cannot compute classification metrics of no samples");
    }
    var acc = new Accumulator(scores[0].length, k);
    for (int i = 0; i < labels.length; i++) {
      acc.add(labels[i], scores[i]);
    }
    return acc.result();
  }

  /** The class predicted at top-1 for each row of scores (ties: the lower index). */
  public static int[] argMax(float[][] scores) {
    int[] out = new int[scores.length];
    for (int i = 0; i < scores.length; i++) {
      int best = 0;
      for (int c = 1; c < scores[i].length; c++) {
        if (scores[i][c] > scores[i][best]) {
          best = c;
        }
      }
      out[i] = best;
    }
    return out;
  }
}
