package dev.clipspark.evaluation.metrics;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * BLEU and CIDEr-D of generated captions against reference captions, as coco-caption (pycocoevalcap) computes
 * them, on captions already split into tokens ({@link CaptionTokenizer}). One candidate per image, one or more
 * references per image.
 *
 * <p><b>BLEU</b> (Papineni et al. 2002; coco's {@code BleuScorer} with option {@code closest}), corpus level: for
 * n = 1..4, {@code p_n = (sum of clipped matches + 1e-15) / (sum of candidate n-grams + 1e-9)}, where a candidate
 * n-gram's count is clipped by its largest count in any one reference of its image; the reference length of an
 * image is the length of its reference closest to the candidate's (ties: the shorter);
 * {@code BLEU-N = (p_1 ... p_N)^(1/N) * BP} with {@code BP = exp(1 - 1/r)} when
 * {@code r = (candidate length + 1e-15) / (reference length + 1e-9) < 1}, else 1 (lengths summed over the corpus).
 *
 * <p><b>CIDEr-D</b> (Vedantam et al. 2015; coco's {@code CiderScorer}): each caption is a tf-idf vector per n = 1..4
 * with {@code g(w) = count(w) * (log(I) - log(max(1, df(w))))}, where I is the number of images and df(w) the
 * number of images whose references contain w (document frequencies from the references only). For a candidate c
 * and each reference r of its image:
 * {@code sim_n = sum_w min(g_c(w), g_r(w)) g_r(w) / (|g_c| |g_r|)} (0 when either norm is 0; the min clips the
 * candidate by the reference), times the Gaussian length penalty {@code exp(-(l_c - l_r)^2 / (2 * 6^2))}, where a
 * caption's length is, as coco's code counts it, its number of bigrams. The image's score is
 * {@code 10 * mean over n of (mean over its references of sim_n)}; CIDEr-D is the mean over images.
 */
public final class CaptionMetrics {

  /** Largest n-gram order. */
  public static final int N = 4;
  /** Sigma of CIDEr-D's Gaussian length penalty. */
  public static final double SIGMA = 6.0;

  private static final double TINY = 1e-15;
  private static final double SMALL = 1e-9;

  private CaptionMetrics() {}

  /**
   * Corpus BLEU.
   *
   * @param bleu        BLEU-1 to BLEU-4 ({@code bleu[3]} is BLEU-4)
   * @param precisions  the smoothed n-gram precisions p_1 .. p_4
   * @param brevity     the brevity penalty
   * @param candidateLength candidate tokens, summed
   * @param referenceLength closest reference lengths, summed
   */
  public record Bleu(double[] bleu, double[] precisions, double brevity, long candidateLength,
      long referenceLength) {
    /** BLEU-4. */
    public double bleu4() {
      return bleu[N - 1];
    }
  }

  /**
   * CIDEr-D.
   *
   * @param score    the mean over images
   * @param perImage each image's score
   */
  public record CiderD(double score, double[] perImage) {}

  /**
   * Corpus BLEU-1..4.
   *
   * @param candidates one token list per image
   * @param references the reference token lists of each image (at least one each)
   */
  public static Bleu bleu(List<List<String>> candidates, List<List<List<String>>> references) {
    check(candidates, references);
    long[] guess = new long[N];
    long[] correct = new long[N];
    long testLength = 0;
    long refLength = 0;
    for (int i = 0; i < candidates.size(); i++) {
      List<String> c = candidates.get(i);
      var max = new HashMap<String, Integer>();
      int closest = -1;
      for (List<String> r : references.get(i)) {
        counts(r).forEach((g, k) -> max.merge(g, k, Math::max));
        int d = Math.abs(r.size() - c.size());
        int best = Math.abs(closest - c.size());
        if (closest < 0 || d < best || (d == best && r.size() < closest)) {
          closest = r.size();
        }
      }
      testLength += c.size();
      refLength += closest;
      for (int n = 1; n <= N; n++) {
        guess[n - 1] += Math.max(c.size() - n + 1, 0);
      }
      for (var e : counts(c).entrySet()) {
        int n = order(e.getKey());
        correct[n - 1] += Math.min(e.getValue(), max.getOrDefault(e.getKey(), 0));
      }
    }
    double[] precisions = new double[N];
    double[] bleu = new double[N];
    double product = 1;
    for (int k = 0; k < N; k++) {
      precisions[k] = (correct[k] + TINY) / (guess[k] + SMALL);
      product *= precisions[k];
      bleu[k] = Math.pow(product, 1.0 / (k + 1));
    }
    double ratio = (testLength + TINY) / (refLength + SMALL);
    double brevity = ratio < 1 ? Math.exp(1 - 1 / ratio) : 1;
    for (int k = 0; k < N; k++) {
      bleu[k] *= brevity;
    }
    return new Bleu(bleu, precisions, brevity, testLength, refLength);
  }

  /**
   * CIDEr-D over images.
   *
   * @param candidates one token list per image
   * @param references the reference token lists of each image (at least one each)
   */
  public static CiderD ciderD(List<List<String>> candidates, List<List<List<String>>> references) {
    check(candidates, references);
    var documentFrequency = new HashMap<String, Integer>();
    var refCounts = new ArrayList<List<Map<String, Integer>>>(references.size());
    for (List<List<String>> refs : references) {
      var seen = new HashSet<String>();
      var counted = new ArrayList<Map<String, Integer>>(refs.size());
      for (List<String> r : refs) {
        Map<String, Integer> c = counts(r);
        counted.add(c);
        seen.addAll(c.keySet());
      }
      refCounts.add(counted);
      for (String g : seen) {
        documentFrequency.merge(g, 1, Integer::sum);
      }
    }
    double logImages = Math.log(references.size());
    double[] perImage = new double[candidates.size()];
    double sum = 0;
    for (int i = 0; i < candidates.size(); i++) {
      Vector c = vector(counts(candidates.get(i)), documentFrequency, logImages);
      double[] score = new double[N];
      for (Map<String, Integer> r : refCounts.get(i)) {
        Vector v = vector(r, documentFrequency, logImages);
        double delta = c.length - v.length;
        for (int n = 0; n < N; n++) {
          double val = 0;
          for (var e : c.weights.get(n).entrySet()) {
            double ref = v.weights.get(n).getOrDefault(e.getKey(), 0.0);
            val += Math.min(e.getValue(), ref) * ref;
          }
          if (c.norms[n] != 0 && v.norms[n] != 0) {
            val /= c.norms[n] * v.norms[n];
          }
          score[n] += val * Math.exp(-(delta * delta) / (2 * SIGMA * SIGMA));
        }
      }
      double mean = 0;
      for (int n = 0; n < N; n++) {
        mean += score[n];
      }
      mean /= N;
      perImage[i] = mean / refCounts.get(i).size() * 10.0;
      sum += perImage[i];
    }
    return new CiderD(sum / candidates.size(), perImage);
  }

  /** A caption's tf-idf weights per order, their norms, and its length as coco counts it (bigrams). */
  private record Vector(List<Map<String, Double>> weights, double[] norms, double length) {}

  private static Vector vector(Map<String, Integer> counts, Map<String, Integer> df, double logImages) {
    var weights = new ArrayList<Map<String, Double>>(N);
    for (int n = 0; n < N; n++) {
      weights.add(new HashMap<>());
    }
    double[] norms = new double[N];
    double length = 0;
    for (var e : counts.entrySet()) {
      int n = order(e.getKey()) - 1;
      double w = e.getValue() * (logImages - Math.log(Math.max(1.0, df.getOrDefault(e.getKey(), 0))));
      weights.get(n).put(e.getKey(), w);
      norms[n] += w * w;
      if (n == 1) {
        length += e.getValue();
      }
    }
    for (int n = 0; n < N; n++) {
      norms[n] = Math.sqrt(norms[n]);
    }
    return new Vector(weights, norms, length);
  }

  /** Counts of every n-gram, n = 1..4, keyed by its tokens joined with a space (tokens hold no space). */
  static Map<String, Integer> counts(List<String> tokens) {
    var out = new HashMap<String, Integer>();
    for (int n = 1; n <= N; n++) {
      for (int i = 0; i + n <= tokens.size(); i++) {
        out.merge(String.join(" ", tokens.subList(i, i + n)), 1, Integer::sum);
      }
    }
    return out;
  }

  private static int order(String gram) {
    int n = 1;
    for (int i = 0; i < gram.length(); i++) {
      if (gram.charAt(i) == ' ') {
        n++;
      }
    }
    return n;
  }

  private static void check(List<List<String>> candidates, List<List<List<String>>> references) {
    if (candidates.isEmpty() || candidates.size() != references.size()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot score %d candidate captions against"
          + " the references of %d images: need one candidate per image, at least one image",
          candidates.size(), references.size()));
    }
    for (int i = 0; i < references.size(); i++) {
      if (references.get(i).isEmpty()) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot score image %d: it has no reference"
            + " caption", i));
      }
      checkTokens(candidates.get(i));
      references.get(i).forEach(CaptionMetrics::checkTokens);
    }
  }

  private static void checkTokens(List<String> tokens) {
    for (String t : tokens) {
      if (t.isEmpty() || t.indexOf(' ') >= 0) {
        throw new IllegalArgumentException("Cannot score the token \"" + t + "\": tokens are non-empty and hold"
            + " no space");
      }
    }
  }
}
