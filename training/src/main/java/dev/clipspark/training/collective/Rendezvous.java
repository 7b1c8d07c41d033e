package dev.clipspark.training.collective;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A reusable barrier for the K threads of an in-process group that, unlike {@code CyclicBarrier}, says
 * which ranks did not arrive, and stays broken once it has timed out or a rank has closed.
 */
final class Rendezvous {

  private final int size;
  private final Duration timeout;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition tripped = lock.newCondition();
  private final boolean[] arrived;
  private int count;
  private long generation;
  private String broken;

  Rendezvous(int size, Duration timeout) {
    this.size = size;
    this.timeout = timeout;
    this.arrived = new boolean[size];
  }

  /** Waits until all ranks have arrived; throws if one does not within the timeout, or the group broke. */
  void await(int rank, String op) {
    lock.lock();
    try {
      check(rank, op);
      arrived[rank] = true;
      count++;
      if (count == size) {
        Arrays.fill(arrived, false);
        count = 0;
        generation++;
        tripped.signalAll();
        return;
      }
      long gen = generation;
      long remaining = timeout.toNanos();
      while (gen == generation) {
        check(rank, op);
        if (remaining <= 0) {
          broken = "ranks " + missing() + " did not arrive within " + timeout;
          tripped.signalAll();
          check(rank, op);
        }
        try {
          remaining = tripped.awaitNanos(remaining);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          broken = "rank " + rank + " was interrupted";
          tripped.signalAll();
          throw new CollectiveException(message(rank, op, broken), e);
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /** Marks the group broken because {@code rank} closed, waking every waiting rank. */
  void close(int rank) {
    lock.lock();
    try {
      if (broken == null) {
        broken = "rank " + rank + " closed the group";
        tripped.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  /** The timeout of one wait. */
  Duration timeout() {
    return timeout;
  }

  private void check(int rank, String op) {
    if (broken != null) {
      throw new CollectiveException(message(rank, op, broken));
    }
  }

  private String message(int rank, String op, String why) {
    return "Cannot " + op + " on rank " + rank + " of " + size + ": " + why;
  }

  private List<Integer> missing() {
    var list = new ArrayList<Integer>();
    for (int r = 0; r < size; r++) {
      if (!arrived[r]) {
        list.add(r);
      }
    }
    return list;
  }
}
