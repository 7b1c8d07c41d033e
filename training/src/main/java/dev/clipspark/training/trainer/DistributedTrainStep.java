package dev.clipspark.training.trainer;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.collective.FlatAllReduce;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ContrastiveLoss;
import dev.clipspark.training.model.ShardedContrastiveLoss;
import dev.clipspark.training.nn.ParameterSet;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One worker's part of a training step whose global batch is spread over the K workers of a
 * {@link Collective}: each worker holds {@code n = N / K} rows, embeds them (in micro-batches without
 * keeping activations when {@code microBatch < n}), computes the exact loss of the whole global batch with
 * {@link ShardedContrastiveLoss}, backpropagates its own rows, and sums the parameter gradients (the logit
 * scale's included) over the workers, so that every worker holds the gradient of the global loss and applies
 * the same optimizer update. BatchNorm running statistics are then copied from rank 0, as PyTorch's
 * DistributedDataParallel does, so every worker's model stays identical.
 */
public final class DistributedTrainStep {

  private final ClipModel model;
  private final Collective collective;
  private final int microBatch;
  private final int tile;
  private final List<String> names;
  private final FlatAllReduce gradientSum;

  /**
   * @param microBatch rows embedded at once on this worker; must divide the local batch
   * @param tile columns of the similarity matrix a worker holds at once in the loss
   */
  public DistributedTrainStep(ClipModel model, Collective collective, int microBatch, int tile) {
    if (microBatch < 1 || tile < 1) {
      throw new IllegalArgumentException(String.format(
          "Cannot build a distributed step with micro-batch %d and tile %d: both must be at least 1", microBatch, tile));
    }
    this.model = model;
    this.collective = collective;
    this.gradientSum = new FlatAllReduce(collective);
    this.microBatch = microBatch;
    this.tile = tile;
    // A locked image tower gets no gradient: its parameters stay out of the all-reduce.
    this.names = model.parameters().names().stream()
        .filter(n -> !(model.imageLocked() && ClipModel.isImageTower(n))).toList();
  }

  /**
   * Zeroes the gradients, then leaves in them the gradient of the global batch's loss, identical on every
   * worker.
   *
   * @param images this worker's {@code n} images; every worker passes the same {@code n}
   * @param tokens this worker's {@code n} texts
   * @return the global batch's loss and image-to-text accuracy (the same on every worker)
   */
  public TrainStep.Result run(INDArray images, INDArray tokens) {
    long n = images.size(0);
    if (tokens.size(0) != n || n % microBatch != 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot train rank %d on %d images and %d texts with micro-batches of %d: need as many texts as images,"
              + " in whole micro-batches", collective.rank(), n, tokens.size(0), microBatch));
    }
    System.gc(); // see TrainStep: returns the previous step's native memory for reuse
    ParameterSet params = model.parameters();
    params.zeroGradients();
    int parts = (int) (n / microBatch);
    INDArray imageFeatures = null;
    INDArray textFeatures = null;
    for (int i = 0; i < parts; i++) {
      INDArray fi = model.encodeImage(slice(images, i));
      INDArray ft = model.encodeText(slice(tokens, i));
      if (parts == 1) {
        imageFeatures = fi;
        textFeatures = ft;
        break;
      }
      if (imageFeatures == null) {
        imageFeatures = Nd4j.createUninitialized(fi.dataType(), n, fi.size(1));
        textFeatures = Nd4j.createUninitialized(ft.dataType(), n, ft.size(1));
      }
      slice(imageFeatures, i).assign(fi);
      slice(textFeatures, i).assign(ft);
    }
    ContrastiveLoss.Result loss =
        ShardedContrastiveLoss.compute(imageFeatures, textFeatures, model.logitScale(), collective, tile);
    INDArray scale = params.gradient(ClipModel.LOGIT_SCALE);
    scale.assign(scale.getDouble(0) + loss.gradLogitScaleLog());
    if (parts == 1) {
      // The text tower's activations are the live ones; the image tower's were kept by its own forward pass.
      if (!model.imageLocked()) {
        model.backwardImage(loss.gradImage());
      }
      model.backwardText(loss.gradText());
    } else {
      for (int i = 0; i < parts; i++) {
        if (!model.imageLocked()) {
          model.encodeImage(slice(images, i));
          model.backwardImage(slice(loss.gradImage(), i).dup('c'));
        }
        model.encodeText(slice(tokens, i));
        model.backwardText(slice(loss.gradText(), i).dup('c'));
      }
    }
    // All gradients in one all-reduce per step instead of one per tensor.
    gradientSum.sum(names.stream().map(params::gradient).toList());
    for (String buffer : params.bufferNames()) {
      collective.broadcast(params.buffer(buffer), 0);
    }
    return new TrainStep.Result(loss.loss(), loss.imageToTextAccuracy());
  }

  private INDArray slice(INDArray a, int part) {
    return a.get(NDArrayIndex.interval((long) part * microBatch, (long) (part + 1) * microBatch));
  }
}
