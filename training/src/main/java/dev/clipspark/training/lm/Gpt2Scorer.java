package dev.clipspark.training.lm;

import dev.clipspark.training.nn.Gpt2Transformer;
import java.util.Arrays;
import java.util.Locale;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A {@link TokenScorer} over a frozen {@link Gpt2Model}, starting from input embeddings (soft prompts, or the
 * embedding of {@code <|endoftext|>} for text alone). Two ways to score, with the same results up to the order of
 * floating-point sums:
 * <ul>
 *   <li><b>cached</b> (the default): {@link Gpt2Transformer#forwardCached} with a key/value cache sized to the
 *       longest sequence, so each new token costs one position's work;</li>
 *   <li><b>full</b>: every step re-runs the whole sequence through {@link Gpt2Transformer#forwardEmbeddings}
 *       (quadratic in the length; kept as the reference the cache is tested and measured against).</li>
 * </ul>
 */
public final class Gpt2Scorer implements TokenScorer {

  private final Gpt2Transformer transformer;
  private final boolean cached;
  private final int maxLength;
  private Gpt2Transformer.Cache cache;
  /** The whole sequences, for the uncached path: {@code [batch, length, width]}. */
  private INDArray sequence;
  private double[][] logits;
  private int batch;
  private int length;

  private Gpt2Scorer(Gpt2Model lm, INDArray prefix, int maxLength, boolean cached) {
    this.transformer = lm.transformer();
    this.cached = cached;
    if (prefix.rank() != 3 || prefix.size(2) != transformer.width() || prefix.size(0) < 1 || prefix.size(1) < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot start sequences from a prefix of shape"
          + " %s: expected [batch >= 1, positions >= 1, %d]", Arrays.toString(prefix.shape()), transformer.width()));
    }
    int ctx = (int) transformer.contextLength();
    if (prefix.size(1) > ctx) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot start sequences from a prefix of %d"
          + " positions: %s holds at most n_ctx %d", prefix.size(1), lm.config().name(), ctx));
    }
    this.maxLength = Math.max((int) prefix.size(1), Math.min(maxLength, ctx));
    this.batch = (int) prefix.size(0);
    this.length = (int) prefix.size(1);
    INDArray out;
    if (cached) {
      cache = transformer.newCache(this.maxLength);
      out = transformer.forwardCached(prefix, cache);
    } else {
      sequence = prefix.dup('c');
      out = transformer.forwardEmbeddings(sequence);
    }
    logits = last(out);
  }

  /**
   * Sequences starting with {@code prefix}, growing to at most {@code maxLength} positions (capped by n_ctx),
   * scored with a key/value cache.
   *
   * @param prefix {@code [B, p, n_embd]} input embeddings in the model's data type
   */
  public static Gpt2Scorer start(Gpt2Model lm, INDArray prefix, int maxLength) {
    return new Gpt2Scorer(lm, prefix, maxLength, true);
  }

  /** As {@link #start}, re-running the whole sequence for every token (no cache). */
  public static Gpt2Scorer startUncached(Gpt2Model lm, INDArray prefix, int maxLength) {
    return new Gpt2Scorer(lm, prefix, maxLength, false);
  }

  @Override
  public int vocabSize() {
    return (int) transformer.vocabSize();
  }

  @Override
  public int batch() {
    return batch;
  }

  @Override
  public int length() {
    return length;
  }

  @Override
  public int maxLength() {
    return maxLength;
  }

  @Override
  public double[][] logits() {
    return logits;
  }

  @Override
  public void append(int[] tokens) {
    if (tokens.length != batch) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot append %d tokens to %d sequences",
          tokens.length, batch));
    }
    if (length >= maxLength) {
      throw new IllegalStateException(String.format(Locale.ROOT, "Cannot append a token to sequences of %d"
          + " positions: at most %d", length, maxLength));
    }
    INDArray next = transformer.embed(tokens).reshape('c', batch, 1, transformer.width());
    if (cached) {
      logits = last(transformer.forwardCached(next, cache));
    } else {
      sequence = Nd4j.concat(1, sequence, next);
      logits = last(transformer.forwardEmbeddings(sequence));
    }
    length++;
  }

  @Override
  public void select(int[] rows) {
    double[][] kept = new double[rows.length][];
    for (int i = 0; i < rows.length; i++) {
      if (rows[i] < 0 || rows[i] >= batch) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot keep row %d of %d sequences", rows[i],
            batch));
      }
      kept[i] = logits[rows[i]];
    }
    if (cached) {
      cache.select(rows);
    } else {
      long per = (long) length * transformer.width();
      sequence = Nd4j.pullRows(sequence.reshape('c', batch, per), 1, rows)
          .reshape('c', rows.length, length, transformer.width());
    }
    logits = kept;
    batch = rows.length;
  }

  /** The logits of each row's last position. */
  private static double[][] last(INDArray logits) {
    long t = logits.size(1);
    INDArray rows = logits.get(NDArrayIndex.all(), NDArrayIndex.point(t - 1), NDArrayIndex.all());
    return rows.reshape(logits.size(0), logits.size(2)).castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
        .toDoubleMatrix();
  }
}
