package dev.clipspark.training.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Multi-head self-attention as PyTorch's {@code nn.MultiheadAttention} computes it in CLIP, batch-first:
 * input and output {@code [batch, seq, width]}.
 *
 * <p>Parameters ({@code prefix.}): {@code in_proj_weight} {@code [3 width, width]} and
 * {@code in_proj_bias} {@code [3 width]} holding the query, key and value projections stacked in that
 * order; {@code out_proj.weight} {@code [width, width]} and {@code out_proj.bias}. With
 * {@code d = width / heads}, each head computes {@code softmax(q k^T / sqrt(d) + mask) v}; the causal
 * mask (text tower) hides later positions, the non-causal variant (image tower) sees all.
 * Heads are batched into rank-3 matrix products over {@code [batch * heads, seq, d]}.
 *
 * <p>{@link #gpt2} builds the same computation over Hugging Face's GPT-2 names: {@code prefix.c_attn.*}
 * (a {@code Conv1D}, weight {@code [width, 3 width]}, output columns query, key, value in that order) and
 * {@code prefix.c_proj.*} (weight {@code [width, width]}, also {@code [in, out]}); always causal.
 */
public final class MultiHeadAttention implements Layer {

  private final Linear inProj;
  private final Linear outProj;
  private final int heads;
  private final boolean causal;
  private final long width;
  private INDArray q;
  private INDArray k;
  private INDArray v;
  private INDArray probabilities;
  private long[] inputShape;

  /**
   * Attention over {@code prefix.in_proj_weight}, {@code prefix.in_proj_bias}, {@code prefix.out_proj.*}.
   *
   * @param heads  number of heads; must divide the width
   * @param causal whether position t may attend only to positions up to t
   */
  public MultiHeadAttention(ParameterSet params, String prefix, int heads, boolean causal) {
    this(new Linear(params, prefix + ".in_proj_weight", prefix + ".in_proj_bias"),
        Linear.of(params, prefix + ".out_proj"), prefix, heads, causal);
  }

  /**
   * GPT-2's causal attention over {@code prefix.c_attn.weight [width, 3 width]}, {@code prefix.c_attn.bias},
   * {@code prefix.c_proj.weight [width, width]}, {@code prefix.c_proj.bias} (Hugging Face's names and layout).
   *
   * @param heads number of heads; must divide the width
   */
  public static MultiHeadAttention gpt2(ParameterSet params, String prefix, int heads) {
    return new MultiHeadAttention(Linear.conv1D(params, prefix + ".c_attn"), Linear.conv1D(params, prefix + ".c_proj"),
        prefix, heads, true);
  }

  private MultiHeadAttention(Linear inProj, Linear outProj, String prefix, int heads, boolean causal) {
    this.inProj = inProj;
    this.outProj = outProj;
    this.width = outProj.inFeatures();
    if (inProj.outFeatures() != 3 * width || inProj.inFeatures() != width || outProj.outFeatures() != width) {
      throw new IllegalArgumentException(String.format(
          "Cannot build attention %s: the input projection must map width %d to 3 x %d and the output"
              + " projection %d to %d (in_proj_weight [3 width, width], c_attn.weight [width, 3 width])", prefix,
          width, width, width, width));
    }
    if (heads < 1 || width % heads != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot build attention %s with %d heads: must divide the width %d", prefix, heads, width));
    }
    this.heads = heads;
    this.causal = causal;
  }

  @Override
  public INDArray forward(INDArray input) {
    if (input.rank() != 3 || input.size(2) != width) {
      throw new IllegalArgumentException(String.format("Cannot apply attention to input of shape %s: expected"
          + " [batch, seq, %d]", Arrays.toString(input.shape()), width));
    }
    inputShape = input.shape();
    long b = input.size(0);
    long t = input.size(1);
    long d = width / heads;
    // [b, t, 3, h, d] -> [3, b, h, t, d]: q, k, v each a contiguous [b * h, t, d] block.
    INDArray qkv = inProj.forward(input).reshape('c', b, t, 3, heads, d).permute(2, 0, 3, 1, 4).dup('c');
    q = qkv.get(NDArrayIndex.point(0)).reshape('c', b * heads, t, d).muli(1.0 / Math.sqrt(d));
    k = qkv.get(NDArrayIndex.point(1)).reshape('c', b * heads, t, d);
    v = qkv.get(NDArrayIndex.point(2)).reshape('c', b * heads, t, d);
    INDArray scores = Nd4j.matmul(q, k, null, false, true, false).reshape('c', b * heads, t * t);
    if (causal) {
      Broadcasts.addiRowVector(scores, causalMask(input, t));
    }
    // Row-wise softmax over the keys, shifted by the row maximum.
    INDArray rows = scores.reshape('c', b * heads * t, t);
    Broadcasts.subiColumnVector(rows, rows.max(1).reshape(rows.size(0), 1));
    Transforms.exp(rows, false);
    Broadcasts.diviColumnVector(rows, rows.sum(1).reshape(rows.size(0), 1));
    probabilities = rows.reshape('c', b * heads, t, t);
    INDArray heads3 = Nd4j.matmul(probabilities, v);
    // [b, h, t, d] -> [b, t, h, d] -> [b, t, width]
    INDArray merged = heads3.reshape('c', b, heads, t, d).permute(0, 2, 1, 3).dup('c').reshape('c', b, t, width);
    return outProj.forward(merged);
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    if (probabilities == null) {
      throw new IllegalStateException("Cannot run backward through attention: no forward pass");
    }
    long b = inputShape[0];
    long t = inputShape[1];
    long d = width / heads;
    INDArray dMerged = outProj.backward(gradOutput);
    INDArray dHeads = dMerged.reshape('c', b, t, heads, d).permute(0, 2, 1, 3).dup('c').reshape('c', b * heads, t, d);
    INDArray dProbabilities = Nd4j.matmul(dHeads, v, null, false, true, false);
    // softmax backward: dS = P * (dP - rowsum(P * dP)); masked entries have P = 0.
    INDArray p2 = probabilities.reshape('c', b * heads * t, t);
    INDArray dp2 = dProbabilities.reshape('c', b * heads * t, t);
    INDArray rowDot = p2.mul(dp2).sum(1).reshape(p2.size(0), 1);
    INDArray dScores = Broadcasts.subiColumnVector(dp2, rowDot).muli(p2).reshape('c', b * heads, t, t);
    // dq, dk and dv are written straight into their contiguous blocks of dqkv.
    INDArray dqkv = Nd4j.createUninitialized(gradOutput.dataType(), 3, b * heads, t, d);
    // q was scaled by 1/sqrt(d) before the product, so dq carries the same factor.
    Nd4j.matmul(dScores, k, dqkv.get(NDArrayIndex.point(0)), false, false, false).muli(1.0 / Math.sqrt(d));
    Nd4j.matmul(dScores, q, dqkv.get(NDArrayIndex.point(1)), true, false, false);
    Nd4j.matmul(probabilities, dHeads, dqkv.get(NDArrayIndex.point(2)), true, false, false);
    // [3, b, h, t, d] -> [b, t, 3, h, d] = [b, t, 3 width]
    INDArray dIn = dqkv.reshape('c', 3, b, heads, t, d).permute(1, 3, 0, 2, 4).dup('c').reshape('c', b, t, 3 * width);
    q = null;
    k = null;
    v = null;
    probabilities = null;
    return inProj.backward(dIn);
  }

  /**
   * Keys and values of the positions one attention layer has seen so far, for generation one token at a time
   * ({@link #forwardCached}): {@code [batch * heads, capacity, d]} each, the first {@link #length()} positions
   * filled.
   */
  public static final class KeyValues {
    private INDArray keys;
    private INDArray values;
    private final long heads;
    private final long capacity;
    private long length;

    KeyValues(long heads, long capacity) {
      this.heads = heads;
      this.capacity = capacity;
    }

    /** Positions held. */
    public long length() {
      return length;
    }

    private void append(INDArray k, INDArray v, long rows, long t, long d) {
      if (length + t > capacity) {
        throw new IllegalArgumentException(String.format("Cannot cache %d more positions: %d of at most %d are"
            + " already held", t, length, capacity));
      }
      if (keys == null) {
        keys = Nd4j.zeros(k.dataType(), rows, capacity, d);
        values = Nd4j.zeros(v.dataType(), rows, capacity, d);
      } else if (keys.size(0) != rows) {
        throw new IllegalArgumentException(String.format("Cannot extend cached sequences of batch %d with a batch of"
            + " %d", keys.size(0) / heads, rows / heads));
      }
      keys.get(NDArrayIndex.all(), NDArrayIndex.interval(length, length + t), NDArrayIndex.all()).assign(k);
      values.get(NDArrayIndex.all(), NDArrayIndex.interval(length, length + t), NDArrayIndex.all()).assign(v);
      length += t;
    }

    /** Keeps the batch rows {@code rows} in that order (a row may repeat): {@code [b * heads, ...]} regrouped. */
    void select(int[] rows) {
      if (keys == null) {
        return;
      }
      keys = selectRows(keys, rows);
      values = selectRows(values, rows);
    }

    private INDArray selectRows(INDArray a, int[] rows) {
      long per = a.length() / (a.size(0) / heads);
      INDArray flat = a.reshape('c', a.size(0) / heads, per);
      return Nd4j.pullRows(flat, 1, rows).reshape('c', rows.length * heads, capacity, a.size(2));
    }
  }

  /** An empty cache of at most {@code capacity} positions for {@link #forwardCached}. */
  public KeyValues newCache(long capacity) {
    return new KeyValues(heads, capacity);
  }

  /**
   * Inference only: attention of the new positions {@code input [batch, t, width]} over every position the cache
   * holds plus these, causally (new position i sees the cached ones and new ones up to i); their keys and values
   * are appended to {@code cache}. The same numbers as {@link #forward} on the whole sequence, for the new rows.
   * It overwrites the state a {@link #backward} pass would need: do not interleave it with training passes.
   */
  public INDArray forwardCached(INDArray input, KeyValues cache) {
    if (input.rank() != 3 || input.size(2) != width) {
      throw new IllegalArgumentException(String.format("Cannot apply attention to input of shape %s: expected"
          + " [batch, seq, %d]", Arrays.toString(input.shape()), width));
    }
    long b = input.size(0);
    long t = input.size(1);
    long d = width / heads;
    INDArray qkv = inProj.forward(input).reshape('c', b, t, 3, heads, d).permute(2, 0, 3, 1, 4).dup('c');
    INDArray qNew = qkv.get(NDArrayIndex.point(0)).reshape('c', b * heads, t, d).muli(1.0 / Math.sqrt(d));
    long start = cache.length;
    cache.append(qkv.get(NDArrayIndex.point(1)).reshape('c', b * heads, t, d),
        qkv.get(NDArrayIndex.point(2)).reshape('c', b * heads, t, d), b * heads, t, d);
    long total = cache.length;
    INDArray keys = cache.keys.get(NDArrayIndex.all(), NDArrayIndex.interval(0, total), NDArrayIndex.all()).dup('c');
    INDArray values = cache.values.get(NDArrayIndex.all(), NDArrayIndex.interval(0, total), NDArrayIndex.all())
        .dup('c');
    INDArray scores = Nd4j.matmul(qNew, keys, null, false, true, false).reshape('c', b * heads, t * total);
    if (causal && t > 1) {
      INDArray mask = Nd4j.zeros(input.dataType(), t, total);
      for (long i = 0; i < t; i++) {
        for (long j = start + i + 1; j < total; j++) {
          mask.putScalar(i, j, Double.NEGATIVE_INFINITY);
        }
      }
      Broadcasts.addiRowVector(scores, mask.reshape('c', new long[] {t * total}));
    }
    INDArray rows = scores.reshape('c', b * heads * t, total);
    Broadcasts.subiColumnVector(rows, rows.max(1).reshape(rows.size(0), 1));
    Transforms.exp(rows, false);
    Broadcasts.diviColumnVector(rows, rows.sum(1).reshape(rows.size(0), 1));
    INDArray heads3 = Nd4j.matmul(rows.reshape('c', b * heads, t, total), values);
    INDArray merged = heads3.reshape('c', b, heads, t, d).permute(0, 2, 1, 3).dup('c').reshape('c', b, t, width);
    return outProj.forward(merged);
  }

  /** The flattened {@code [t * t]} additive mask: 0 on and below the diagonal, minus infinity above. */
  private static INDArray causalMask(INDArray like, long t) {
    INDArray mask = Nd4j.zeros(like.dataType(), t, t);
    for (long i = 0; i < t; i++) {
      for (long j = i + 1; j < t; j++) {
        mask.putScalar(i, j, Double.NEGATIVE_INFINITY);
      }
    }
    return mask.reshape('c', new long[] {t * t});
  }
}
