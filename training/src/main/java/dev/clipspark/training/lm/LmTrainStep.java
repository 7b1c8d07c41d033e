package dev.clipspark.training.lm;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.FlatAllReduce;
import dev.clipspark.training.nn.ParameterSet;
import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One worker's part of a language-model training step over a global batch spread across the workers of a
 * {@link Collective} (or one process): the gradient of the next-token loss averaged over every scored position of
 * the global batch,
 * <pre>
 *   L = 1/M * sum over the global batch's scored positions of -log p(next token)        M = sum_r M_r
 * </pre>
 * Worker r computes {@link NextTokenLoss} over its rows in micro-batches (each padded to its longest row), scales
 * each micro-batch's gradient by {@code M_mb / M} (turning its mean into its share of the global mean) and
 * accumulates; then one all-reduce of all gradients through a flat buffer leaves the global gradient on every
 * worker, which applies the same optimizer update. {@code M} is known to every worker without communication
 * (it is the global batch's row lengths, {@link LmCorpus#scored}). Rows do not interact, so this equals the
 * gradient one process computes on the whole batch, up to the order of floating-point sums.
 */
public final class LmTrainStep {

  /**
   * One step's outcome, the same on every worker.
   *
   * @param loss     the global batch's mean next-token loss in nats
   * @param accuracy fraction of its scored positions whose most likely token was the next one
   * @param scored   its scored positions {@code M}
   */
  public record Result(double loss, double accuracy, long scored) {}

  private final Gpt2Model model;
  private final Collective collective;
  private final int microBatch;
  private final FlatAllReduce gradientSum;

  /**
   * @param collective the workers, or null for one process
   * @param microBatch rows run through the model at once on this worker
   */
  public LmTrainStep(Gpt2Model model, Collective collective, int microBatch) {
    if (microBatch < 1) {
      throw new IllegalArgumentException("Cannot build a language-model step with micro-batches of " + microBatch
          + " rows: must be at least 1");
    }
    this.model = model;
    this.collective = collective;
    this.gradientSum = collective == null ? null : new FlatAllReduce(collective);
    this.microBatch = microBatch;
  }

  /**
   * Zeroes the gradients, then leaves in them the gradient of the global batch's loss, identical on every worker.
   *
   * @param rows         this worker's rows of the global batch (each at most the model's context)
   * @param globalScored {@code M}: scored positions of the whole global batch
   */
  public Result run(List<int[]> rows, long globalScored) {
    if (globalScored < 1) {
      throw new IllegalArgumentException("Cannot train on a batch with " + globalScored + " scored positions");
    }
    System.gc(); // as TrainStep: returns the previous step's native memory for reuse
    ParameterSet params = model.parameters();
    params.zeroGradients();
    double lossSum = 0;
    long correct = 0;
    for (int from = 0; from < rows.size(); from += microBatch) {
      List<int[]> part = rows.subList(from, Math.min(rows.size(), from + microBatch));
      if (LmCorpus.scored(part) == 0) {
        continue;
      }
      int t = part.stream().mapToInt(r -> r.length).max().orElseThrow();
      if (t > model.config().nCtx()) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train %s on a row of %d tokens: its"
            + " context n_ctx is %d", model.config().name(), t, model.config().nCtx()));
      }
      int[][] tokens = new int[part.size()][t];
      int[] lengths = new int[part.size()];
      for (int i = 0; i < part.size(); i++) {
        int[] r = part.get(i);
        System.arraycopy(r, 0, tokens[i], 0, r.length);
        lengths[i] = r.length;
      }
      INDArray logits = model.logits(Nd4j.createFromArray(tokens));
      NextTokenLoss.Result loss = NextTokenLoss.compute(logits, NextTokenLoss.shiftedTargets(tokens, lengths));
      model.transformer().backward(loss.gradient().muli((double) loss.scored() / globalScored));
      lossSum += loss.loss() * loss.scored();
      correct += loss.correct();
    }
    if (collective != null && collective.size() > 1) {
      gradientSum.sum(params.names().stream().map(params::gradient).toList());
      INDArray totals = Nd4j.createFromArray(lossSum, (double) correct);
      collective.allReduceSum(totals);
      lossSum = totals.getDouble(0);
      correct = Math.round(totals.getDouble(1));
    }
    return new Result(lossSum / globalScored, (double) correct / globalScored, globalScored);
  }
}
