package dev.clipspark.training.weights;

/**
 * Outside weights that cannot be read, or do not fit the model: a damaged or truncated file, a pickle that names
 * a global the reader does not allow, missing, unknown or mis-shaped tensors. The message names the file and says
 * what is wrong and what is allowed. It is bad input, so it extends {@link IllegalArgumentException}.
 */
public class WeightsException extends IllegalArgumentException {

  private static final long serialVersionUID = 1L;

  /** An error with its message. */
  public WeightsException(String message) {
    super(message);
  }

  /** An error with its message and cause. */
  public WeightsException(String message, Throwable cause) {
    super(message, cause);
  }
}
