package dev.clipspark.training.collective;

/**
 * A collective operation that could not complete: a peer failed, closed, stopped answering within the
 * timeout, or passed an array that does not match this rank's. Once a group has failed, every later
 * operation on it fails too.
 */
public class CollectiveException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** An exception with a message of the form {@code Cannot <op> on rank r of K: <why>}. */
  public CollectiveException(String message) {
    super(message);
  }

  /** An exception with a message and the I/O or interruption error behind it. */
  public CollectiveException(String message, Throwable cause) {
    super(message, cause);
  }
}
