package dev.clipspark.training.lm;

import dev.clipspark.training.nn.Gpt2Transformer;
import java.util.Arrays;
import java.util.Locale;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * LiMBeR's training objective: the frozen language model reads the k soft prompts {@link SoftPromptMap} makes from
 * an image encoding, then the caption's token embeddings, and is scored on predicting the caption:
 * <pre>
 *   input  = [ P(h)_1 .. P(h)_k , wte[c_0] .. wte[c_(n-1)] ]          [B, k + t, e]
 *   loss   = NextTokenLoss over the positions k-1 .. k+n-2, predicting c_0 .. c_(n-1)
 * </pre>
 * (a caption row normally ends with {@code <|endoftext|>}, so the model also learns where to stop). Backward
 * returns dLoss/dh and accumulates P's gradients; the language model's parameter gradients are accumulated in its
 * own set too, but the language model is frozen: nothing updates it.
 */
public final class SoftPromptCaptioner {

  private final Gpt2Model lm;
  private final SoftPromptMap map;

  /**
   * @throws IllegalArgumentException if P's prompt width is not the language model's embedding width
   */
  public SoftPromptCaptioner(Gpt2Model lm, SoftPromptMap map) {
    if (map.width() != lm.config().nEmbd()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot feed soft prompts of width %d to %s:"
          + " its embedding width n_embd is %d", map.width(), lm.config().name(), lm.config().nEmbd()));
    }
    this.lm = lm;
    this.map = map;
  }

  /**
   * Logits {@code [B, k + t, vocab]} for image encodings and caption rows.
   *
   * @param features {@code [B, d]}
   * @param captions {@code [B][t]} ids, padded rows of one length
   */
  public INDArray logits(INDArray features, int[][] captions) {
    Gpt2Transformer transformer = lm.transformer();
    int batch = captions.length;
    if (features.size(0) != batch || batch == 0) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot caption %d image encodings with %d"
          + " caption rows", features.size(0), batch));
    }
    INDArray prompts = map.forward(features);
    int k = map.prompts();
    int t = captions[0].length;
    INDArray wte = lm.parameters().value("wte.weight");
    INDArray input = Nd4j.createUninitialized(prompts.dataType(), batch, k + t, map.width());
    input.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k), NDArrayIndex.all()).assign(prompts);
    int[] flat = new int[batch * t];
    for (int b = 0; b < batch; b++) {
      if (captions[b].length != t) {
        throw new IllegalArgumentException("Cannot caption rows of different lengths: pad them to one length");
      }
      System.arraycopy(captions[b], 0, flat, b * t, t);
    }
    INDArray tokens = Nd4j.pullRows(wte, 1, flat).reshape('c', batch, t, map.width());
    input.get(NDArrayIndex.all(), NDArrayIndex.interval(k, k + t), NDArrayIndex.all()).assign(tokens);
    return transformer.forwardEmbeddings(input);
  }

  /** dLoss/dlogits to dLoss/dfeatures; accumulates P's gradients (and the frozen model's, which nothing applies). */
  public INDArray backward(INDArray gradLogits) {
    INDArray dInput = lm.transformer().backwardEmbeddings(gradLogits);
    INDArray dPrompts = dInput.get(NDArrayIndex.all(), NDArrayIndex.interval(0, map.prompts()), NDArrayIndex.all());
    return map.backward(dPrompts);
  }

  /**
   * Targets for {@link #logits}: position {@code k - 1 + i} predicts {@code captions[b][i]} for {@code i <
   * lengths[b]}; every other position is ignored.
   */
  public static int[][] targets(int prompts, int[][] captions, int[] lengths) {
    int[][] out = new int[captions.length][];
    for (int b = 0; b < captions.length; b++) {
      out[b] = new int[prompts + captions[b].length];
      Arrays.fill(out[b], NextTokenLoss.IGNORE);
      for (int i = 0; i < Math.min(lengths[b], captions[b].length); i++) {
        out[b][prompts - 1 + i] = captions[b][i];
      }
    }
    return out;
  }

  /**
   * One training pass: the loss of predicting each caption after its image's soft prompts; P's gradients (and the
   * frozen model's) are added into their accumulators.
   */
  public NextTokenLoss.Result forwardBackward(INDArray features, int[][] captions, int[] lengths) {
    NextTokenLoss.Result loss = NextTokenLoss.compute(logits(features, captions),
        targets(map.prompts(), captions, lengths));
    backward(loss.gradient());
    return loss;
  }
}
