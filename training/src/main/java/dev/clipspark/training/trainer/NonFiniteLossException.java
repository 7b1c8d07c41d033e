package dev.clipspark.training.trainer;

/** A training step's loss or gradient norm was NaN or infinite and the run was configured to stop. */
public final class NonFiniteLossException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** With a message naming the step, the value and what to do. */
  public NonFiniteLossException(String message) {
    super(message);
  }
}
