package dev.clipspark.training.lm;

import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.nn.Gpt2Transformer;
import dev.clipspark.training.nn.ParameterSet;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A GPT-2 language model: its architecture, its parameters and the {@link Gpt2Transformer} over them. It only
 * composes; the layers are in {@code dev.clipspark.training.nn}, the loss is {@link NextTokenLoss}.
 */
public final class Gpt2Model {

  private final LmConfig config;
  private final ParameterSet params;
  private final Gpt2Transformer transformer;

  private Gpt2Model(LmConfig config, ParameterSet params) {
    this.config = config;
    this.params = params;
    for (ParameterSpec spec : Gpt2Parameters.specs(config)) {
      params.value(spec.name(), spec.shape());
    }
    if (params.names().size() != Gpt2Parameters.specs(config).size()) {
      throw new IllegalArgumentException(String.format("Cannot build %s from %d parameters: it has %d",
          config.name(), params.names().size(), Gpt2Parameters.specs(config).size()));
    }
    this.transformer = new Gpt2Transformer(params, config.nLayer(), config.nHead(), config.layerNormEpsilon());
  }

  /**
   * The model over existing parameters.
   *
   * @throws IllegalArgumentException naming a missing parameter or one of the wrong shape
   */
  public static Gpt2Model create(LmConfig config, ParameterSet params) {
    return new Gpt2Model(config, params);
  }

  /** A freshly initialised model ({@link Gpt2Parameters#initialize}). */
  public static Gpt2Model initialize(LmConfig config, long seed, DataType dataType) {
    return new Gpt2Model(config, Gpt2Parameters.initialize(config, seed, dataType));
  }

  /** The architecture. */
  public LmConfig config() {
    return config;
  }

  /** The parameters (live). */
  public ParameterSet parameters() {
    return params;
  }

  /** The transformer, for callers that feed input embeddings. */
  public Gpt2Transformer transformer() {
    return transformer;
  }

  /** Next-token logits {@code [B, t, vocab]} of token rows {@code [B, t]}. */
  public INDArray logits(INDArray tokens) {
    return transformer.forward(tokens);
  }

  /**
   * One training pass over token rows padded to a common length: the next-token loss over each row's real
   * positions, with every parameter gradient <em>added</em> into {@link #parameters()}'s accumulators.
   *
   * @param tokens  {@code [B][t]} ids, rows padded to the same {@code t}
   * @param lengths each row's real length, at least 2 somewhere in the batch
   */
  public NextTokenLoss.Result forwardBackward(int[][] tokens, int[] lengths) {
    if (tokens.length == 0 || lengths.length != tokens.length) {
      throw new IllegalArgumentException(String.format("Cannot train on %d token rows with %d lengths",
          tokens.length, lengths.length));
    }
    INDArray ids = Nd4j.createFromArray(tokens);
    INDArray logits = transformer.forward(ids);
    NextTokenLoss.Result loss = NextTokenLoss.compute(logits, NextTokenLoss.shiftedTargets(tokens, lengths));
    transformer.backward(loss.gradient());
    return loss;
  }

  @Override
  public String toString() {
    return String.format(java.util.Locale.ROOT, "%s (%,d parameters)", config.name(), params.elementCount());
  }
}
