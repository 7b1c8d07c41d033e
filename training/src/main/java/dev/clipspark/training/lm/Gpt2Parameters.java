package dev.clipspark.training.lm;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.model.ParameterSpec.Init;
import dev.clipspark.training.model.ParameterSpec.Role;
import dev.clipspark.training.nn.ParameterSet;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Every parameter tensor of a GPT-2 model, with the names and shapes of Hugging Face's {@code GPT2Model}
 * {@code state_dict} (in its {@code named_parameters()} order), its weight-decay group and its initialiser; and
 * a deterministic allocation of them.
 *
 * <pre>
 *   wte.weight                 [vocab_size, n_embd]   token embedding, also the output head (tied)
 *   wpe.weight                 [n_ctx, n_embd]        learned positions
 *   h.N.ln_1.weight / .bias    [n_embd]
 *   h.N.attn.c_attn.weight     [n_embd, 3 n_embd]     Conv1D layout [in, out]: y = x W + b
 *   h.N.attn.c_attn.bias       [3 n_embd]
 *   h.N.attn.c_proj.weight     [n_embd, n_embd]       [in, out]
 *   h.N.attn.c_proj.bias       [n_embd]
 *   h.N.ln_2.weight / .bias    [n_embd]
 *   h.N.mlp.c_fc.weight        [n_embd, 4 n_embd]     [in, out]
 *   h.N.mlp.c_fc.bias          [4 n_embd]
 *   h.N.mlp.c_proj.weight      [4 n_embd, n_embd]     [in, out]
 *   h.N.mlp.c_proj.bias        [n_embd]
 *   ln_f.weight / .bias        [n_embd]
 * </pre>
 * The {@code Conv1D} weights are stored as Hugging Face stores them, {@code [in, out]} (the transpose of a
 * PyTorch {@code nn.Linear} weight), so an importer copies GPT-2's tensors one to one (dropping the
 * {@code transformer.} prefix of {@code GPT2LMHeadModel} and its {@code lm_head.weight}, which is {@code wte}).
 *
 * <p>Initialisation is Hugging Face's {@code GPT2PreTrainedModel._init_weights}: embeddings and weights
 * N(0, 0.02), the residual projections {@code attn.c_proj} and {@code mlp.c_proj} N(0, 0.02 / sqrt(2 n_layer)),
 * biases 0, LayerNorm gains 1 and biases 0. Only the four matrices of each block are weight-decayed.
 */
public final class Gpt2Parameters {

  /** Standard deviation of the weights and embeddings at initialisation. */
  public static final double INIT_STD = 0.02;
  /** MLP hidden width over token width. */
  public static final int MLP_RATIO = 4;

  private Gpt2Parameters() {}

  /** Every parameter of the model, in Hugging Face's {@code named_parameters()} order. */
  public static List<ParameterSpec> specs(LmConfig config) {
    var out = new ArrayList<ParameterSpec>();
    long w = config.nEmbd();
    Init weight = Init.normal(INIT_STD);
    Init residual = Init.normal(INIT_STD / Math.sqrt(2.0 * config.nLayer()));
    Init zero = Init.constant(0);
    out.add(new ParameterSpec("wte.weight", new long[] {config.vocabSize(), w}, Role.EMBEDDING, weight));
    out.add(new ParameterSpec("wpe.weight", new long[] {config.nCtx(), w}, Role.EMBEDDING, weight));
    for (int i = 0; i < config.nLayer(); i++) {
      String p = "h." + i + ".";
      layerNorm(out, p + "ln_1", w);
      out.add(new ParameterSpec(p + "attn.c_attn.weight", new long[] {w, 3 * w}, Role.WEIGHT, weight));
      out.add(new ParameterSpec(p + "attn.c_attn.bias", new long[] {3 * w}, Role.BIAS, zero));
      out.add(new ParameterSpec(p + "attn.c_proj.weight", new long[] {w, w}, Role.WEIGHT, residual));
      out.add(new ParameterSpec(p + "attn.c_proj.bias", new long[] {w}, Role.BIAS, zero));
      layerNorm(out, p + "ln_2", w);
      out.add(new ParameterSpec(p + "mlp.c_fc.weight", new long[] {w, MLP_RATIO * w}, Role.WEIGHT, weight));
      out.add(new ParameterSpec(p + "mlp.c_fc.bias", new long[] {MLP_RATIO * w}, Role.BIAS, zero));
      out.add(new ParameterSpec(p + "mlp.c_proj.weight", new long[] {MLP_RATIO * w, w}, Role.WEIGHT, residual));
      out.add(new ParameterSpec(p + "mlp.c_proj.bias", new long[] {w}, Role.BIAS, zero));
    }
    layerNorm(out, "ln_f", w);
    return Collections.unmodifiableList(out);
  }

  /** Total parameter elements (the tied head counted once): 124,439,808 for GPT-2 small. */
  public static long count(LmConfig config) {
    return specs(config).stream().mapToLong(ParameterSpec::size).sum();
  }

  /**
   * A fresh model's parameters; deterministic: each tensor depends only on the seed, its name and its spec
   * ({@link ClipParameters#allocate}).
   */
  public static ParameterSet initialize(LmConfig config, long seed, DataType dataType) {
    var set = new ParameterSet();
    for (ParameterSpec spec : specs(config)) {
      set.add(spec.name(), ClipParameters.allocate(spec, seed, dataType));
    }
    return set;
  }

  private static void layerNorm(List<ParameterSpec> out, String p, long w) {
    out.add(new ParameterSpec(p + ".weight", new long[] {w}, Role.GAIN, Init.constant(1)));
    out.add(new ParameterSpec(p + ".bias", new long[] {w}, Role.BIAS, Init.constant(0)));
  }
}
