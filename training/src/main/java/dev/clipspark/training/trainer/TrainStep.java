package dev.clipspark.training.trainer;

import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ContrastiveLoss;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The gradients of one training step: the symmetric contrastive loss over the whole batch and the
 * gradient of every parameter, accumulated into the model's {@link dev.clipspark.training.nn.ParameterSet}
 * (zeroed first). The optimizer update is the caller's.
 *
 * <p>With a micro-batch smaller than the batch, the step uses gradient caching (Gao et al. 2021, open_clip's
 * {@code accum_freq}): it embeds the batch micro-batch by micro-batch keeping only the features, computes
 * the exact loss and its gradients with respect to all features, then embeds each micro-batch again and
 * backpropagates that micro-batch's slice of the feature gradients. The loss and the gradients equal those
 * of one pass over the whole batch (up to float rounding; BatchNorm statistics are per micro-batch), while
 * activation memory follows the micro-batch. Each micro-batch's forward pass runs twice (the image tower's once
 * when it is locked: {@link ClipModel#lockImage}).
 */
public final class TrainStep {

  /**
   * One step's loss.
   *
   * @param loss mean of the image-to-text and text-to-image cross-entropies
   * @param accuracy fraction of images whose most similar text in the batch is their own
   */
  public record Result(double loss, double accuracy) {}

  private final ClipModel model;
  private final int microBatch;

  /**
   * @param microBatch samples embedded at once; must divide every batch passed to {@link #run}
   */
  public TrainStep(ClipModel model, int microBatch) {
    if (microBatch < 1) {
      throw new IllegalArgumentException("Cannot use a micro-batch of " + microBatch + " samples: must be at least 1");
    }
    this.model = model;
    this.microBatch = microBatch;
  }

  /** Zeroes the gradients, then accumulates the gradients of the loss over this batch. */
  public Result run(INDArray images, INDArray tokens) {
    long n = images.size(0);
    if (tokens.size(0) != n) {
      throw new IllegalArgumentException("Cannot train on " + n + " images with " + tokens.size(0) + " texts");
    }
    if (n % microBatch != 0) {
      throw new IllegalArgumentException(
          "Cannot split a batch of " + n + " into micro-batches of " + microBatch + ": must divide it");
    }
    reclaimNativeMemory();
    model.parameters().zeroGradients();
    if (n == microBatch) {
      ClipModel.Step step = model.forwardBackward(images, tokens);
      return new Result(step.loss(), step.imageToTextAccuracy());
    }
    int parts = (int) (n / microBatch);
    INDArray imageFeatures = null;
    INDArray textFeatures = null;
    for (int i = 0; i < parts; i++) {
      INDArray fi = model.encodeImage(slice(images, i));
      INDArray ft = model.encodeText(slice(tokens, i));
      if (imageFeatures == null) {
        imageFeatures = Nd4j.createUninitialized(fi.dataType(), n, fi.size(1));
        textFeatures = Nd4j.createUninitialized(ft.dataType(), n, ft.size(1));
      }
      slice(imageFeatures, i).assign(fi);
      slice(textFeatures, i).assign(ft);
    }
    ContrastiveLoss.Result loss = ContrastiveLoss.compute(imageFeatures, textFeatures, model.logitScale());
    model.parameters().gradient("logit_scale").addi(loss.gradLogitScaleLog());
    boolean locked = model.imageLocked();
    for (int i = 0; i < parts; i++) {
      if (!locked) { // a locked tower's features from the first pass are all it contributes
        model.encodeImage(slice(images, i));
        model.backwardImage(slice(loss.gradImage(), i).dup('c'));
      }
      model.encodeText(slice(tokens, i));
      model.backwardText(slice(loss.gradText(), i).dup('c'));
    }
    return new Result(loss.loss(), loss.imageToTextAccuracy());
  }

  /**
   * ND4J's arrays hold native memory that is freed only when the garbage collector finds them unreachable;
   * the activations and temporaries of a step are such garbage once it ends, but the Java heap barely grows,
   * so a collection may not come for many steps and each step would touch fresh memory. One explicit
   * collection per step (a few tens of milliseconds on the small heap) returns that memory for the next step
   * to reuse.
   */
  private static void reclaimNativeMemory() {
    System.gc();
  }

  private INDArray slice(INDArray a, int part) {
    return a.get(NDArrayIndex.interval((long) part * microBatch, (long) (part + 1) * microBatch));
  }
}
