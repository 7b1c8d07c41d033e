package dev.clipspark.training.nn;

import dev.clipspark.training.model.TextConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * CLIP's text tower (OpenAI's {@code CLIP.encode_text}): token ids {@code [B, t]} in, features
 * {@code [B, embedDim]} out.
 * <pre>
 *   x = token_embedding[tokens] + positional_embedding[:t]                      [B, t, width]
 *   x = transformer(x)                  causal residual attention blocks
 *   out = ln_final(x[b, eot_b]) @ text_projection                               [B, embedDim]
 * </pre>
 * {@code eot_b} is {@code argmax} of row b's ids (the first maximum), as OpenAI finds the end-of-text
 * token, which has the largest id of the vocabulary. LayerNorm acts row by row, so {@code ln_final} is
 * applied to the selected rows only. Rows may be shorter than the context length ({@code t <= context_length});
 * positions past the end-of-text token (padding) cannot influence it through causal attention.
 *
 * <p>Parameters at the top level of CLIP's {@code state_dict}: {@code token_embedding.weight},
 * {@code positional_embedding}, {@code transformer.resblocks.i.*}, {@code ln_final.*},
 * {@code text_projection [width, embedDim]}. Token ids have no gradient: {@link #backward} returns
 * {@code null} after accumulating every parameter gradient (see {@link TokenEmbedding} for the scatter-add).
 */
public final class TextTransformer implements Layer {

  private final ParameterSet params;
  private final int contextLength;
  private final long width;
  private final long embedDim;
  private final TokenEmbedding tokenEmbedding;
  private final INDArray positionalEmbedding;
  private final List<ResidualAttentionBlock> blocks = new ArrayList<>();
  private final LayerNorm lnFinal;
  private final INDArray projection;
  private INDArray pooled;
  private int[] endPositions;
  private long length;

  /**
   * The tower over the top-level text parameters of {@code params}.
   *
   * @param embedDim width of the joint embedding ({@code text_projection}'s second dimension)
   * @throws IllegalArgumentException if a parameter is missing or has the wrong shape
   */
  public TextTransformer(ParameterSet params, TextConfig config, int embedDim) {
    this.params = params;
    this.contextLength = config.contextLength();
    this.width = config.width();
    this.embedDim = embedDim;
    params.value("token_embedding.weight", config.vocabSize(), width);
    this.tokenEmbedding = new TokenEmbedding(params, "token_embedding.weight");
    this.positionalEmbedding = params.value("positional_embedding", contextLength, width);
    for (int i = 0; i < config.layers(); i++) {
      blocks.add(new ResidualAttentionBlock(params, "transformer.resblocks." + i, config.heads(), true));
    }
    this.lnFinal = new LayerNorm(params, "ln_final");
    this.projection = params.value("text_projection", width, embedDim);
  }

  /**
   * Encodes a batch of token rows.
   *
   * @param tokens INT or LONG ids {@code [B, t]} with {@code 1 <= t <= context_length}
   * @throws IllegalArgumentException for another shape or type, or an id outside the vocabulary
   */
  @Override
  public INDArray forward(INDArray tokens) {
    if (tokens.rank() != 2 || tokens.size(1) < 1 || tokens.size(1) > contextLength) {
      throw new IllegalArgumentException(String.format("Cannot encode tokens of shape %s: expected [batch, t]"
          + " with 1 <= t <= context_length %d", Arrays.toString(tokens.shape()), contextLength));
    }
    long b = tokens.size(0);
    length = tokens.size(1);
    INDArray x = tokenEmbedding.forward(tokens);
    INDArray positions = positionalEmbedding.get(NDArrayIndex.interval(0, length), NDArrayIndex.all());
    Broadcasts.addiRowVector(x.reshape('c', b, length * width),
        positions.dup('c').reshape('c', new long[] {length * width}));
    for (ResidualAttentionBlock block : blocks) {
      x = block.forward(x);
    }
    endPositions = endOfText(tokens);
    int[] rows = new int[endPositions.length];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = (int) (i * length) + endPositions[i];
    }
    pooled = lnFinal.forward(Nd4j.pullRows(Linear.rows(x, width), 1, rows));
    INDArray out = Nd4j.createUninitialized(x.dataType(), b, embedDim);
    Nd4j.gemm(pooled, projection, out, false, false, 1.0, 0.0);
    return out;
  }

  /** Accumulates every parameter gradient; returns {@code null} (token ids have no gradient). */
  @Override
  public INDArray backward(INDArray gradOutput) {
    if (pooled == null) {
      throw new IllegalStateException("Cannot run backward through the text tower: no forward pass");
    }
    long b = endPositions.length;
    if (gradOutput.rank() != 2 || gradOutput.size(0) != b || gradOutput.size(1) != embedDim) {
      throw new IllegalArgumentException(String.format("Cannot run backward through the text tower: gradient of"
          + " shape %s, expected [%d, %d]", Arrays.toString(gradOutput.shape()), b, embedDim));
    }
    INDArray dy = gradOutput.dup('c');
    Nd4j.gemm(pooled, dy, params.gradient("text_projection"), true, false, 1.0, 1.0);
    INDArray dPooled = Nd4j.createUninitialized(dy.dataType(), b, width);
    Nd4j.gemm(dy, projection, dPooled, false, true, 1.0, 0.0);
    INDArray dEnd = lnFinal.backward(dPooled);
    INDArray dx = Nd4j.zeros(dy.dataType(), b, length, width);
    for (int i = 0; i < b; i++) {
      dx.get(NDArrayIndex.point(i), NDArrayIndex.point(endPositions[i]), NDArrayIndex.all()).assign(dEnd.getRow(i));
    }
    for (int i = blocks.size() - 1; i >= 0; i--) {
      dx = blocks.get(i).backward(dx);
    }
    INDArray dRows = Linear.rows(dx, width);
    params.gradient("positional_embedding").get(NDArrayIndex.interval(0, length), NDArrayIndex.all())
        .addi(dRows.reshape('c', b, length * width).sum(0).reshape('c', length, width));
    tokenEmbedding.backward(dRows);
    pooled = null;
    endPositions = null;
    return null;
  }

  /** Per row, the position of its first largest id: OpenAI's {@code text.argmax(dim=-1)}. */
  static int[] endOfText(INDArray tokens) {
    long[][] rows = tokens.toLongMatrix();
    int[] positions = new int[rows.length];
    for (int i = 0; i < rows.length; i++) {
      int best = 0;
      for (int j = 1; j < rows[i].length; j++) {
        if (rows[i][j] > rows[i][best]) {
          best = j;
        }
      }
      positions[i] = best;
    }
    return positions;
  }
}
