package dev.clipspark.training.data;

import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One training batch (or one rank's slice of a global batch) from {@link TrainingData}.
 *
 * @param images float {@code [B, 3, S, S]}, NCHW, RGB in {@code [0, 1]} normalised per channel with CLIP's
 *     mean and standard deviation ({@link ImagePreprocessor#MEAN}, {@link ImagePreprocessor#STD})
 * @param tokens int32 {@code [B, contextLength]}: each caption tokenized with truncation
 * @param keys the samples' keys, in batch order
 * @param captions the samples' captions, in batch order
 */
public record Batch(INDArray images, INDArray tokens, List<String> keys, List<String> captions) {

  /** Checks the parts agree on the batch size and copies the lists. */
  public Batch {
    keys = List.copyOf(keys);
    captions = List.copyOf(captions);
    long b = images.size(0);
    if (tokens.size(0) != b || keys.size() != b || captions.size() != b) {
      throw new IllegalArgumentException("Cannot make a batch of " + b + " images with " + tokens.size(0)
          + " token rows, " + keys.size() + " keys and " + captions.size() + " captions: the sizes must agree");
    }
  }

  /** The number of samples. */
  public int size() {
    return keys.size();
  }
}
