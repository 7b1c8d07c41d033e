package dev.clipspark.training.data;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A place in the sample stream of {@link TrainingData}: sample {@code sampleInEpoch} (counted in global
 * samples, over all ranks) of epoch {@code epoch}. {@link TrainingData#position()} is saved with a checkpoint
 * and given back through {@code optStart} to resume; it serialises to JSON as
 * {@code {"epoch": 3, "sample_in_epoch": 8192}}.
 *
 * @param epoch the epoch, from 0
 * @param sampleInEpoch samples of the epoch's order already consumed, from 0
 */
public record DataPosition(
    @JsonProperty("epoch") int epoch,
    @JsonProperty("sample_in_epoch") long sampleInEpoch) {

  /** The start of the stream: epoch 0, sample 0. */
  public static final DataPosition START = new DataPosition(0, 0);

  /** Checks both coordinates are non-negative. */
  public DataPosition {
    if (epoch < 0 || sampleInEpoch < 0) {
      throw new IllegalArgumentException("Cannot make data position (epoch " + epoch + ", sample " + sampleInEpoch
          + "): both must be at least 0");
    }
  }
}
