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
    x.reshape('c', batch, length * width).addiRowVector(positions.dup('c').reshape('c', new long[] {length * width}));
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
