package dev.clipspark.training.lm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Writes token sequences with a {@link TokenScorer} (a frozen language model after each image's soft prompts, or
 * after {@code <|endoftext|>} alone for the text-only baseline), by one of three {@link Decoding} strategies. Every
 * strategy stops a sequence at {@code <|endoftext|>} (not part of the returned tokens) or after
 * {@link Decoding#maxTokens} tokens, and never lets a sequence outgrow the scorer's {@link TokenScorer#maxLength}
 * (n_ctx): a prefix of p positions leaves room for {@code n_ctx - p + 1} generated tokens, the last one never
 * being fed back. Rows are decoded independently: a batch gives each row what decoding it alone gives (up to the
 * order of floating-point sums inside the model).
 *
 * <ul>
 *   <li><b>Greedy</b>: the most likely token at each step (ties: the smallest id).</li>
 *   <li><b>Beam search</b> (Hugging Face's rules): W beams per row. At each step every beam's continuations are
 *       ranked by the sum of log-probabilities; going down the best 2W, a continuation with
 *       {@code <|endoftext|>} among the first W becomes a finished caption, any other one a beam, until W beams
 *       are found. A finished caption of n tokens ({@code <|endoftext|>} counted) and log-probability s scores
 *       {@code s / n^alpha} (length normalisation, {@link Decoding#lengthPenalty}); the best W are kept. A row
 *       stops when it holds W finished captions and its best beam, normalised by its own length, scores no higher
 *       than the worst of them (Hugging Face's {@code early_stopping=False}); at the token limit the beams are
 *       finished as they are. The best finished caption is returned. With W = 1 this is greedy decoding.</li>
 *   <li><b>Nucleus sampling</b> (Holtzman et al. 2020): logits divided by the temperature, then a draw from the
 *       smallest set of most likely tokens whose probabilities reach top-p, renormalised. Each row draws from its
 *       own random stream, seeded by the caller (derive it from the run's seed and the row's key), so a caption
 *       does not depend on how rows are split into batches or partitions.</li>
 * </ul>
 */
public final class CaptionDecoder {

  /**
   * A generated sequence.
   *
   * @param tokens        the tokens, without {@code <|endoftext|>}
   * @param logProbability the model's log-probability of the tokens (and of {@code <|endoftext|>} when
   *                       {@code finished}), at temperature 1
   * @param finished      whether it ended with {@code <|endoftext|>} (not at the token limit)
   */
  public record Generated(int[] tokens, double logProbability, boolean finished) {}

  private final int endToken;
  private final Decoding decoding;

  /**
   * @param endToken {@code <|endoftext|>}'s id
   */
  public CaptionDecoder(int endToken, Decoding decoding) {
    this.endToken = endToken;
    this.decoding = decoding;
  }

  /** The settings. */
  public Decoding decoding() {
    return decoding;
  }

  /**
   * Decodes every row of {@code scorer} (which holds each row's prefix and has scored its first token).
   *
   * @param rowSeeds one seed per row for nucleus sampling (ignored otherwise; may then be null)
   */
  public List<Generated> decode(TokenScorer scorer, long[] rowSeeds) {
    if (endToken < 0 || endToken >= scorer.vocabSize()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot stop at token %d: the vocabulary has %d"
          + " tokens", endToken, scorer.vocabSize()));
    }
    return switch (decoding.strategy()) {
      case GREEDY -> sample(scorer, null);
      case NUCLEUS -> {
        if (rowSeeds == null || rowSeeds.length != scorer.batch()) {
          throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot sample %d rows with %s seeds",
              scorer.batch(), rowSeeds == null ? "no" : String.valueOf(rowSeeds.length)));
        }
        yield sample(scorer, rowSeeds);
      }
      case BEAM -> beam(scorer);
    };
  }

  /** The seed of one row's random stream: a mix of the run's seed and a stable hash of the row's key. */
  public static long rowSeed(long seed, String key) {
    long h = 1125899906842597L;
    for (int i = 0; i < key.length(); i++) {
      h = 31 * h + key.charAt(i);
    }
    return mix(seed ^ mix(h));
  }

  /** Tokens the scorer can still generate per row: the limit, capped by n_ctx. */
  private int budget(TokenScorer scorer) {
    return Math.max(0, Math.min(decoding.maxTokens(), scorer.maxLength() - scorer.length() + 1));
  }

  /** Greedy ({@code seeds == null}) or nucleus sampling; finished rows are dropped from the scorer. */
  private List<Generated> sample(TokenScorer scorer, long[] seeds) {
    int n = scorer.batch();
    int budget = budget(scorer);
    var tokens = new ArrayList<List<Integer>>(n);
    double[] logp = new double[n];
    boolean[] finished = new boolean[n];
    SplittableRandom[] random = new SplittableRandom[n];
    for (int i = 0; i < n; i++) {
      tokens.add(new ArrayList<>());
      random[i] = seeds == null ? null : new SplittableRandom(seeds[i]);
    }
    int[] live = new int[n];
    for (int i = 0; i < n; i++) {
      live[i] = i;
    }
    for (int step = 0; step < budget && live.length > 0; step++) {
      double[][] logits = scorer.logits();
      int[] next = new int[live.length];
      var keep = new ArrayList<Integer>();
      for (int j = 0; j < live.length; j++) {
        int row = live[j];
        double[] lp = logSoftmax(logits[j]);
        int t = seeds == null ? argmax(lp) : nucleus(logits[j], random[row]);
        logp[row] += lp[t];
        if (t == endToken) {
          finished[row] = true;
        } else {
          tokens.get(row).add(t);
          next[keep.size()] = t;
          keep.add(j);
        }
      }
      if (step == budget - 1 || keep.isEmpty()) {
        break;
      }
      int[] rows = keep.stream().mapToInt(Integer::intValue).toArray();
      if (rows.length != live.length) {
        scorer.select(rows);
      }
      int[] nextLive = new int[rows.length];
      for (int j = 0; j < rows.length; j++) {
        nextLive[j] = live[rows[j]];
      }
      live = nextLive;
      scorer.append(Arrays.copyOf(next, rows.length));
    }
    var out = new ArrayList<Generated>(n);
    for (int i = 0; i < n; i++) {
      out.add(new Generated(tokens.get(i).stream().mapToInt(Integer::intValue).toArray(), logp[i], finished[i]));
    }
    return out;
  }

  /** One beam (live or finished): its tokens, their log-probability, the scorer row it continues. */
  private record Beam(int[] tokens, double logp, int row, boolean finished) {
    double score(double alpha) {
      return logp / Math.pow(tokens.length + (finished ? 1 : 0), alpha);
    }

    Beam extend(int token, double lp, int newRow) {
      int[] t = Arrays.copyOf(tokens, tokens.length + 1);
      t[tokens.length] = token;
      return new Beam(t, logp + lp, newRow, false);
    }
  }

  /** A candidate continuation: beam, token, total log-probability. */
  private record Candidate(Beam beam, int token, double logp) {}

  private List<Generated> beam(TokenScorer scorer) {
    int n = scorer.batch();
    int width = decoding.beamWidth();
    double alpha = decoding.lengthPenalty();
    int budget = budget(scorer);
    List<List<Beam>> live = new ArrayList<>(n);
    List<List<Beam>> done = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      live.add(List.of(new Beam(new int[0], 0, i, false)));
      done.add(new ArrayList<>());
    }
    Comparator<Beam> byScore = Comparator.comparingDouble((Beam b) -> -b.score(alpha));
    for (int step = 0; step < budget; step++) {
      double[][] logits = scorer.logits();
      boolean last = step == budget - 1;
      var rows = new ArrayList<Integer>();
      var next = new ArrayList<Integer>();
      for (int i = 0; i < n; i++) {
        List<Beam> beams = live.get(i);
        if (beams.isEmpty()) {
          continue;
        }
        var candidates = new ArrayList<Candidate>();
        for (Beam b : beams) {
          double[] lp = logSoftmax(logits[b.row()]);
          for (int t : top(lp, 2 * width)) {
            candidates.add(new Candidate(b, t, b.logp() + lp[t]));
          }
        }
        candidates.sort(Comparator.comparingDouble((Candidate c) -> -c.logp()));
        var kept = new ArrayList<Beam>(width);
        for (int rank = 0; rank < candidates.size() && kept.size() < width; rank++) {
          Candidate c = candidates.get(rank);
          if (c.token() == endToken) {
            if (rank < width) {
              done.get(i).add(new Beam(c.beam().tokens(), c.logp(), -1, true));
            }
          } else {
            kept.add(c.beam().extend(c.token(), c.logp() - c.beam().logp(), c.beam().row()));
          }
        }
        List<Beam> finished = done.get(i);
        finished.sort(byScore);
        while (finished.size() > width) {
          finished.remove(finished.size() - 1);
        }
        boolean stop = last || kept.isEmpty();
        if (!stop && finished.size() == width) {
          double bestLive = kept.stream().mapToDouble(b -> b.score(alpha)).max().orElse(Double.NEGATIVE_INFINITY);
          stop = finished.get(width - 1).score(alpha) >= bestLive;
        }
        if (stop) {
          if (finished.isEmpty() || last) {
            for (Beam b : kept) {
              finished.add(b);
            }
            finished.sort(byScore);
          }
          live.set(i, List.of());
          continue;
        }
        var renumbered = new ArrayList<Beam>(kept.size());
        for (Beam b : kept) {
          rows.add(b.row());
          next.add(b.tokens()[b.tokens().length - 1]);
          renumbered.add(new Beam(b.tokens(), b.logp(), rows.size() - 1, false));
        }
        live.set(i, renumbered);
      }
      if (rows.isEmpty()) {
        break;
      }
      scorer.select(rows.stream().mapToInt(Integer::intValue).toArray());
      scorer.append(next.stream().mapToInt(Integer::intValue).toArray());
    }
    var out = new ArrayList<Generated>(n);
    for (int i = 0; i < n; i++) {
      Beam best = done.get(i).get(0);
      out.add(new Generated(best.tokens(), best.logp(), best.finished()));
    }
    return out;
  }

  /** Samples from the nucleus of {@code logits / temperature}. */
  private int nucleus(double[] logits, SplittableRandom random) {
    double t = decoding.temperature();
    double[] scaled = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      scaled[i] = logits[i] / t;
    }
    double[] lp = logSoftmax(scaled);
    Integer[] order = new Integer[lp.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> lp[a] != lp[b] ? Double.compare(lp[b], lp[a]) : Integer.compare(a, b));
    double mass = 0;
    int size = 0;
    while (size < order.length && (size == 0 || mass < decoding.topP())) {
      mass += Math.exp(lp[order[size]]);
      size++;
    }
    double u = random.nextDouble() * mass;
    double cumulative = 0;
    for (int i = 0; i < size; i++) {
      cumulative += Math.exp(lp[order[i]]);
      if (u < cumulative) {
        return order[i];
      }
    }
    return order[size - 1];
  }

  /** Log-softmax of one row, shifted by its maximum. */
  static double[] logSoftmax(double[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (double v : logits) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (double v : logits) {
      sum += Math.exp(v - max);
    }
    double lse = max + Math.log(sum);
    double[] out = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      out[i] = logits[i] - lse;
    }
    return out;
  }

  /** The index of the largest value (ties: the smallest index). */
  static int argmax(double[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) {
      if (v[i] > v[best]) {
        best = i;
      }
    }
    return best;
  }

  /** The indices of the {@code k} largest values, largest first (ties: the smaller index first). */
  static int[] top(double[] v, int k) {
    k = Math.min(k, v.length);
    int[] best = new int[k];
    int size = 0;
    for (int i = 0; i < v.length; i++) {
      if (size == k && !(v[i] > v[best[k - 1]])) {
        continue;
      }
      int pos = size == k ? k - 1 : size++;
      while (pos > 0 && v[i] > v[best[pos - 1]]) {
        best[pos] = best[pos - 1];
        pos--;
      }
      best[pos] = i;
    }
    return best;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
