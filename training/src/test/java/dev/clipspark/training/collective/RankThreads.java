package dev.clipspark.training.collective;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** Runs one task per rank on its own thread and collects the results (or the first failure) in rank order. */
final class RankThreads {

  private RankThreads() {}

  /** A rank's task. */
  interface Task<T> {
    T run(int rank) throws Exception;
  }

  /** Runs {@code task} for ranks 0 to k-1 concurrently; rethrows a rank's exception as its cause. */
  static <T> List<T> run(int k, Task<T> task) throws Exception {
    List<Outcome<T>> outcomes = outcomes(k, task);
    var results = new ArrayList<T>();
    for (var o : outcomes) {
      if (o.error() != null) {
        throw new AssertionError("rank " + o.rank() + " failed", o.error());
      }
      results.add(o.value());
    }
    return results;
  }

  /** The result or error of one rank. */
  record Outcome<T>(int rank, T value, Throwable error) {}

  /** Runs {@code task} for ranks 0 to k-1 concurrently and returns every rank's outcome. */
  static <T> List<Outcome<T>> outcomes(int k, Task<T> task) throws InterruptedException {
    var pool = Executors.newFixedThreadPool(k);
    try {
      var futures = new ArrayList<Future<T>>();
      for (int r = 0; r < k; r++) {
        int rank = r;
        futures.add(pool.submit(() -> task.run(rank)));
      }
      var outcomes = new ArrayList<Outcome<T>>();
      for (int r = 0; r < k; r++) {
        try {
          outcomes.add(new Outcome<>(r, futures.get(r).get(), null));
        } catch (ExecutionException e) {
          outcomes.add(new Outcome<>(r, null, e.getCause()));
        }
      }
      return outcomes;
    } finally {
      pool.shutdownNow();
    }
  }
}
