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
 *
 * <p>{@link #gpt2} builds GPT-2's block, the same pre-norm computation with {@link GeluTanh} in the MLP and
 * Hugging Face's names and {@code Conv1D} layouts: {@code ln_1.*}, {@code attn.c_attn.*}, {@code attn.c_proj.*}
 * (see {@link MultiHeadAttention#gpt2}), {@code ln_2.*}, {@code mlp.c_fc.weight [width, 4 width]},
 * {@code mlp.c_proj.weight [4 width, width]} and their biases; causal.
 */
public final class ResidualAttentionBlock implements Layer {

  private final LayerNorm ln1;
  private final MultiHeadAttention attn;
  private final LayerNorm ln2;
  private final Linear fc;
  private final Layer gelu;
  private final Linear proj;

  /**
   * The block {@code prefix.*}.
   *
   * @param heads  attention heads
   * @param causal causal attention (text tower) or not (image tower)
   */
  public ResidualAttentionBlock(ParameterSet params, String prefix, int heads, boolean causal) {
    this(new LayerNorm(params, prefix + ".ln_1"), new MultiHeadAttention(params, prefix + ".attn", heads, causal),
        new LayerNorm(params, prefix + ".ln_2"), Linear.of(params, prefix + ".mlp.c_fc"), new QuickGelu(),
        Linear.of(params, prefix + ".mlp.c_proj"));
  }

  /**
   * GPT-2's block {@code prefix.*} (Hugging Face's names, {@code Conv1D} weights {@code [in, out]}).
   *
   * @param heads attention heads
   * @param eps   the LayerNorms' epsilon ({@code layer_norm_epsilon}, 1e-5 in GPT-2)
   */
  public static ResidualAttentionBlock gpt2(ParameterSet params, String prefix, int heads, double eps) {
    return new ResidualAttentionBlock(new LayerNorm(params, prefix + ".ln_1", eps),
        MultiHeadAttention.gpt2(params, prefix + ".attn", heads), new LayerNorm(params, prefix + ".ln_2", eps),
        Linear.conv1D(params, prefix + ".mlp.c_fc"), new GeluTanh(), Linear.conv1D(params, prefix + ".mlp.c_proj"));
  }

  private ResidualAttentionBlock(LayerNorm ln1, MultiHeadAttention attn, LayerNorm ln2, Linear fc, Layer gelu,
      Linear proj) {
    this.ln1 = ln1;
    this.attn = attn;
    this.ln2 = ln2;
    this.fc = fc;
    this.gelu = gelu;
    this.proj = proj;
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

  /** The attention layer (for its key/value cache). */
  public MultiHeadAttention attention() {
    return attn;
  }

  /**
   * Inference only: the block on new positions {@code x}, attending over the positions {@code cache} holds too
   * (see {@link MultiHeadAttention#forwardCached}).
   */
  public INDArray forwardCached(INDArray x, MultiHeadAttention.KeyValues cache) {
    INDArray h = attn.forwardCached(ln1.forward(x), cache).addi(x);
    return h.addi(mlp(ln2.forward(h)));
  }

  private INDArray mlp(INDArray x) {
    return proj.forward(gelu.forward(fc.forward(x)));
  }
}
