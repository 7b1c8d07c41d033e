package dev.clipspark.training.checkpoint;

/**
 * A checkpoint cannot be used: it is incomplete (no {@code checkpoint.json}), a file is missing, truncated
 * or fails its SHA-256, or it cannot be read. The message names the directory, the file and the problem.
 */
public final class CheckpointException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** An exception with the given message. */
  public CheckpointException(String message) {
    super(message);
  }

  /** An exception with the given message and cause. */
  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
