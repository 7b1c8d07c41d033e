package dev.clipspark.training.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * CLIP's pre-norm transformer block, batch-first ({@code [batch, seq, width]} in and out):
 * <pre>
 *   x = x + attn(ln_1(x))
 *   x = x + mlp(ln_2(x))        mlp = c_proj(QuickGELU(c_fc(.)))
 * </pre>
 * Parameters under {@code prefix.}: {@code ln_1.*}, {@code attn.*} (see {@link MultiHeadAttention}),
 * {@code ln_2.*}, {@code mlp.c_fc.*} ({@code [4 width, width]}) and {@code mlp.c_proj.*}
 * ({@code [width, 4 width]}), OpenAI's names.
 */
public final class ResidualAttentionBlock implements Layer {

  private final LayerNorm ln1;
  private final MultiHeadAttention attn;
  private final LayerNorm ln2;
  private final Linear fc;
  private final QuickGelu gelu = new QuickGelu();
  private final Linear proj;

  /**
   * The block {@code prefix.*}.
   *
   * @param heads  attention heads
   * @param causal causal attention (text tower) or not (image tower)
   */
  public ResidualAttentionBlock(ParameterSet params, String prefix, int heads, boolean causal) {
    this.ln1 = new LayerNorm(params, prefix + ".ln_1");
    this.attn = new MultiHeadAttention(params, prefix + ".attn", heads, causal);
    this.ln2 = new LayerNorm(params, prefix + ".ln_2");
    this.fc = Linear.of(params, prefix + ".mlp.c_fc");
    this.proj = Linear.of(params, prefix + ".mlp.c_proj");
  }

  @Override
  public INDArray forward(INDArray x) {
    // The sublayers return fresh arrays, so the residual sums are taken in place on them.
    INDArray h = attn.forward(ln1.forward(x)).addi(x);
    return h.addi(mlp(ln2.forward(h)));
  }

  @Override
  public INDArray backward(INDArray gradOutput) {
    INDArray dh = ln2.backward(fc.backward(gelu.backward(proj.backward(gradOutput)))).addi(gradOutput);
    return dh.addi(ln1.backward(attn.backward(dh)));
  }

  private INDArray mlp(INDArray x) {
    return proj.forward(gelu.forward(fc.forward(x)));
  }
}
