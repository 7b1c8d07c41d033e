package dev.clipspark.training.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * GPT-2 (Hugging Face's {@code GPT2LMHeadModel}) without dropout: token ids {@code [B, t]} in, next-token logits
 * {@code [B, t, vocab]} out.
 * <pre>
 *   x = wte[tokens] + wpe[:t]                                  [B, t, n_embd]
 *   x = block_N(...block_0(x))     x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))   (causal; GELU-tanh)
 *   logits = ln_f(x) wte^T                                     [B, t, vocab]   (head tied to the embedding)
 * </pre>
 * The output head is the token embedding itself, so {@code wte.weight}'s gradient collects both uses: the head's
 * {@code dlogits^T ln_f(x)} and the lookup's scatter-add (see {@link TokenEmbedding}). Parameters are named and
 * laid out as in Hugging Face's {@code GPT2Model} (see {@code dev.clipspark.training.lm.Gpt2Parameters}):
 * {@code wte.weight}, {@code wpe.weight}, {@code h.i.*} (see {@link ResidualAttentionBlock#gpt2}), {@code ln_f.*}.
 *
 * <p>{@link #forwardEmbeddings} and {@link #backwardEmbeddings} run the same model on input embeddings instead of
 * ids (Hugging Face's {@code inputs_embeds}): the positions are still added, and the gradient with respect to
 * those embeddings is returned, for soft prompts that a trained map puts in front of a caption's tokens.
 */
public final class Gpt2Transformer implements Layer {

  private final ParameterSet params;
  private final TokenEmbedding tokenEmbedding;
  private final INDArray wte;
  private final INDArray wpe;
  private final List<ResidualAttentionBlock> blocks = new ArrayList<>();
  private final LayerNorm lnF;
  private final long width;
  private INDArray hidden;
  private long batch;
  private long length;
  private boolean fromTokens;

  /**
   * The model over {@code params} ({@code wte.weight [vocab, width]}, {@code wpe.weight [n_ctx, width]}, ...).
   *
   * @param layers blocks {@code h.0} to {@code h.(layers-1)}
   * @param heads  attention heads of each block
   * @param eps    epsilon of every LayerNorm
   * @throws IllegalArgumentException if a parameter is missing or has the wrong shape
   */
  public Gpt2Transformer(ParameterSet params, int layers, int heads, double eps) {
    this.params = params;
    this.tokenEmbedding = new TokenEmbedding(params, "wte.weight");
    this.wte = params.value("wte.weight");
    this.width = wte.size(1);
    this.wpe = params.value("wpe.weight");
    if (wpe.rank() != 2 || wpe.size(1) != width) {
      throw new IllegalArgumentException(String.format("Cannot use wpe.weight of shape %s: expected [n_ctx, %d]",
          Arrays.toString(wpe.shape()), width));
    }
    for (int i = 0; i < layers; i++) {
      blocks.add(ResidualAttentionBlock.gpt2(params, "h." + i, heads, eps));
    }
    this.lnF = new LayerNorm(params, "ln_f", eps);
  }

  /** Rows of the token embedding (and columns of the logits). */
  public long vocabSize() {
    return wte.size(0);
  }

  /** The longest sequence: rows of {@code wpe.weight}. */
  public long contextLength() {
    return wpe.size(0);
  }

  /** Token width. */
  public long width() {
    return width;
  }

  /**
   * Next-token logits of a batch of token rows.
   *
   * @param tokens INT or LONG ids {@code [B, t]} with {@code 1 <= t <= n_ctx}
   * @return {@code [B, t, vocab]}: row {@code (b, i)} scores the token that follows position {@code i}
   * @throws IllegalArgumentException for another shape or type, or an id outside the vocabulary
   */
  @Override
  public INDArray forward(INDArray tokens) {
    if (tokens.rank() != 2) {
      throw new IllegalArgumentException(String.format("Cannot run the language model on tokens of shape %s:"
          + " expected [batch, t]", Arrays.toString(tokens.shape())));
    }
    checkLength(tokens.size(1));
    INDArray x = tokenEmbedding.forward(tokens);
    fromTokens = true;
    return run(x);
  }

  /**
   * Next-token logits of a batch of input embeddings (they are not modified).
   *
   * @param embeddings {@code [B, t, width]} with {@code 1 <= t <= n_ctx}, in the parameters' data type
   * @return {@code [B, t, vocab]}
   */
  public INDArray forwardEmbeddings(INDArray embeddings) {
    if (embeddings.rank() != 3 || embeddings.size(2) != width) {
      throw new IllegalArgumentException(String.format("Cannot run the language model on embeddings of shape %s:"
          + " expected [batch, t, %d]", Arrays.toString(embeddings.shape()), width));
    }
    checkLength(embeddings.size(1));
    fromTokens = false;
    return run(embeddings.dup('c'));
  }

  /** Accumulates every parameter gradient of a {@link #forward} pass; returns {@code null} (ids have no gradient). */
  @Override
  public INDArray backward(INDArray gradOutput) {
    if (hidden != null && !fromTokens) {
      throw new IllegalStateException("Cannot run backward to token ids after forwardEmbeddings:"
          + " use backwardEmbeddings");
    }
    tokenEmbedding.backward(backwardToInput(gradOutput));
    return null;
  }

  /**
   * Accumulates every parameter gradient of a {@link #forwardEmbeddings} pass and returns the gradient with
   * respect to its input embeddings, {@code [B, t, width]}.
   */
  public INDArray backwardEmbeddings(INDArray gradOutput) {
    if (hidden != null && fromTokens) {
      throw new IllegalStateException("Cannot return gradients of embeddings after a forward pass from token ids:"
          + " use backward");
    }
    return backwardToInput(gradOutput);
  }

  /**
   * The key/value cache of a batch of sequences that grow a few positions at a time ({@link #forwardCached}): each
   * block's keys and values of every position seen so far, so that a new token costs one position's work instead
   * of the whole prefix's.
   */
  public static final class Cache {
    private final List<MultiHeadAttention.KeyValues> layers;
    private final long capacity;
    private long batch = -1;

    private Cache(List<MultiHeadAttention.KeyValues> layers, long capacity) {
      this.layers = layers;
      this.capacity = capacity;
    }

    /** Positions held (the same in every row). */
    public long length() {
      return layers.isEmpty() ? 0 : layers.get(0).length();
    }

    /** Positions it can hold. */
    public long capacity() {
      return capacity;
    }

    /** Rows, or -1 before the first pass. */
    public long batch() {
      return batch;
    }

    /**
     * Keeps the rows {@code rows} of the batch, in that order (rows may repeat: beam search continues one
     * sequence in several beams).
     */
    public void select(int[] rows) {
      for (int r : rows) {
        if (r < 0 || r >= batch) {
          throw new IllegalArgumentException(String.format("Cannot keep row %d of a cached batch of %d", r, batch));
        }
      }
      for (MultiHeadAttention.KeyValues kv : layers) {
        kv.select(rows);
      }
      batch = rows.length;
    }
  }

  /**
   * An empty cache for sequences of at most {@code capacity} positions.
   *
   * @throws IllegalArgumentException if {@code capacity} is not between 1 and n_ctx
   */
  public Cache newCache(long capacity) {
    checkLength(capacity);
    var layers = new ArrayList<MultiHeadAttention.KeyValues>(blocks.size());
    for (ResidualAttentionBlock block : blocks) {
      layers.add(block.attention().newCache(capacity));
    }
    return new Cache(layers, capacity);
  }

  /**
   * Inference only: next-token logits of new positions, given as input embeddings {@code [B, t, width]} that
   * follow the positions {@code cache} already holds (their positions are {@code cache.length()} onwards); the
   * new keys and values are appended to the cache. Running a sequence in pieces gives the logits of one
   * {@link #forwardEmbeddings} pass over the whole sequence (up to the order of floating-point sums). It
   * overwrites the state a backward pass would need: do not interleave it with training passes.
   *
   * @return {@code [B, t, vocab]}
   * @throws IllegalArgumentException if the sequence would outgrow the cache, or the batch changed
   */
  public INDArray forwardCached(INDArray embeddings, Cache cache) {
    if (embeddings.rank() != 3 || embeddings.size(2) != width) {
      throw new IllegalArgumentException(String.format("Cannot run the language model on embeddings of shape %s:"
          + " expected [batch, t, %d]", Arrays.toString(embeddings.shape()), width));
    }
    long b = embeddings.size(0);
    long t = embeddings.size(1);
    long start = cache.length();
    if (t < 1 || start + t > cache.capacity()) {
      throw new IllegalArgumentException(String.format("Cannot run the language model on %d more positions after"
          + " %d: at most %d fit (n_ctx %d)", t, start, cache.capacity(), contextLength()));
    }
    if (cache.batch >= 0 && cache.batch != b) {
      throw new IllegalArgumentException(String.format("Cannot continue %d cached sequences with a batch of %d",
          cache.batch, b));
    }
    cache.batch = b;
    INDArray x = embeddings.dup('c');
    INDArray positions = wpe.get(NDArrayIndex.interval(start, start + t), NDArrayIndex.all());
    Broadcasts.addiRowVector(x.reshape('c', b, t * width), positions.dup('c').reshape('c', new long[] {t * width}));
    for (int i = 0; i < blocks.size(); i++) {
      x = blocks.get(i).forwardCached(x, cache.layers.get(i));
    }
    INDArray h = Linear.rows(lnF.forward(x), width);
    INDArray logits = Nd4j.createUninitialized(x.dataType(), b * t, vocabSize());
    Nd4j.gemm(h, wte, logits, false, true, 1.0, 0.0);
    return logits.reshape('c', b, t, vocabSize());
  }

  /**
   * The input embeddings of token ids, {@code [n, width]}: rows of {@code wte.weight} (positions are added by the
   * forward passes).
   *
   * @throws IllegalArgumentException for an id outside the vocabulary
   */
  public INDArray embed(int... tokens) {
    for (int id : tokens) {
      if (id < 0 || id >= vocabSize()) {
        throw new IllegalArgumentException(String.format("Cannot embed token id %d: the vocabulary has %d tokens",
            id, vocabSize()));
      }
    }
    return Nd4j.pullRows(wte, 1, tokens);
  }

  private void checkLength(long t) {
    if (t < 1 || t > contextLength()) {
      throw new IllegalArgumentException(String.format("Cannot run the language model on %d positions: must be"
          + " between 1 and n_ctx %d", t, contextLength()));
    }
  }

  /** {@code x} is this pass's own array: positions are added in place. */
  private INDArray run(INDArray x) {
    batch = x.size(0);
    length = x.size(1);
    INDArray positions = wpe.get(NDArrayIndex.interval(0, length), NDArrayIndex.all());
    Broadcasts.addiRowVector(x.reshape('c', batch, length * width),
        positions.dup('c').reshape('c', new long[] {length * width}));
    for (ResidualAttentionBlock block : blocks) {
      x = block.forward(x);
    }
    hidden = Linear.rows(lnF.forward(x), width);
    INDArray logits = Nd4j.createUninitialized(x.dataType(), batch * length, vocabSize());
    Nd4j.gemm(hidden, wte, logits, false, true, 1.0, 0.0);
    return logits.reshape('c', batch, length, vocabSize());
  }

  private INDArray backwardToInput(INDArray gradOutput) {
    if (hidden == null) {
      throw new IllegalStateException("Cannot run backward through the language model: no forward pass");
    }
    if (gradOutput.rank() != 3 || gradOutput.size(0) != batch || gradOutput.size(1) != length
        || gradOutput.size(2) != vocabSize()) {
      throw new IllegalArgumentException(String.format("Cannot run backward through the language model: gradient"
          + " of shape %s, expected [%d, %d, %d]", Arrays.toString(gradOutput.shape()), batch, length, vocabSize()));
    }
    INDArray dLogits = Linear.rows(gradOutput, vocabSize());
    // The head's share of wte's gradient: dlogits^T hidden, [vocab, width].
    Nd4j.gemm(dLogits, hidden, params.gradient("wte.weight"), true, false, 1.0, 1.0);
    INDArray dHidden = Nd4j.createUninitialized(dLogits.dataType(), batch * length, width);
    Nd4j.gemm(dLogits, wte, dHidden, false, false, 1.0, 0.0);
    INDArray dx = lnF.backward(dHidden.reshape('c', batch, length, width));
    for (int i = blocks.size() - 1; i >= 0; i--) {
      dx = blocks.get(i).backward(dx);
    }
    params.gradient("wpe.weight").get(NDArrayIndex.interval(0, length), NDArrayIndex.all())
        .addi(Linear.rows(dx, width).reshape('c', batch, length * width).sum(0).reshape('c', length, width));
    hidden = null;
    return dx;
  }
}
