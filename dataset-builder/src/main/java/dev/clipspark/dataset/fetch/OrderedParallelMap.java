package dev.clipspark.dataset.fetch;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * Applies a function to every element of an iterator on a small pool of threads and yields the results in
 * input order: how a Spark {@code mapPartitions} fetches one partition's URLs concurrently.
 *
 * <pre>{@code
 * try (var fetcher = new UrlFetcher(options);
 *     var results = OrderedParallelMap.map(urls, options.threads(), fetcher::fetch)) {
 *   while (results.hasNext()) { ... }
 * }
 * }</pre>
 *
 * <ul>
 *   <li>The input is read only on the consuming thread (Spark's iterators are not thread-safe), a little
 *       ahead of the consumer: at most {@code 2 * threads} elements are submitted and not yet consumed, so
 *       memory stays bounded whatever the partition's size.
 *   <li>At most {@code threads} calls of the function run at once, on daemon threads of this iterator's own.
 *   <li>When the function throws, the exception is rethrown by {@link #next()} for that element (in input
 *       order), the remaining work is cancelled and the threads are released.
 *   <li>The threads are released when the input is exhausted and consumed, when a call throws, or on
 *       {@link #close()}; a consumer that stops early (a Spark {@code limit}, a failed task) must close it,
 *       e.g. from a task completion listener. Closing interrupts running calls; a call blocked in something
 *       interrupts do not reach (a socket read) runs on to its own end on its daemon thread, which for
 *       {@link UrlFetcher#fetch} is bounded by its timeouts, or cut short by closing the fetcher.
 * </ul>
 *
 * <p>Not thread-safe itself: one consumer thread calls {@code hasNext}, {@code next} and {@code close} (a
 * Spark task completion listener runs on the task's thread). An interrupt of the consumer while it waits
 * closes the iterator and surfaces as an {@link IllegalStateException}.
 *
 * @param <T> the input type
 * @param <R> the result type
 */
public final class OrderedParallelMap<T, R> implements Iterator<R>, AutoCloseable {

  private static final AtomicInteger POOLS = new AtomicInteger();

  private final Iterator<T> input;
  private final Function<? super T, ? extends R> fn;
  private final int window;
  private final ThreadPoolExecutor pool;
  private final ArrayDeque<Future<R>> inFlight;
  private boolean closed;

  private OrderedParallelMap(Iterator<T> input, int threads, Function<? super T, ? extends R> fn) {
    this.input = input;
    this.fn = fn;
    this.window = 2 * threads;
    this.inFlight = new ArrayDeque<>(window);
    int pool = POOLS.incrementAndGet();
    var count = new AtomicInteger();
    this.pool = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      var t = new Thread(r, "clipspark-parallel-" + pool + "-" + count.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.pool.allowCoreThreadTimeOut(true);
  }

  /**
   * Maps {@code input} through {@code fn} with up to {@code threads} concurrent calls, in input order.
   *
   * @param threads at least 1
   * @return an iterator that is also {@link AutoCloseable}; close it if it is not consumed to the end
   */
  public static <T, R> OrderedParallelMap<T, R> map(
      Iterator<T> input, int threads, Function<? super T, ? extends R> fn) {
    Objects.requireNonNull(input, "input");
    Objects.requireNonNull(fn, "fn");
    if (threads < 1) {
      throw new IllegalArgumentException("Cannot map with " + threads + " threads: must be at least 1");
    }
    return new OrderedParallelMap<>(input, threads, fn);
  }

  @Override
  public boolean hasNext() {
    if (closed) {
      return false;
    }
    fill();
    if (inFlight.isEmpty()) {
      close();
      return false;
    }
    return true;
  }

  @Override
  public R next() {
    if (!hasNext()) {
      throw new NoSuchElementException("The mapped iterator is exhausted or closed");
    }
    Future<R> head = inFlight.poll();
    R result;
    try {
      result = head.get();
    } catch (ExecutionException e) {
      close();
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException("The mapped function failed: " + cause, cause);
    } catch (InterruptedException e) {
      close();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while waiting for a mapped result", e);
    } catch (CancellationException e) {
      close();
      throw new IllegalStateException("A mapped call was cancelled", e);
    }
    fill(); // keep the workers busy while the consumer handles this result
    return result;
  }

  /** Cancels what has not run, interrupts what runs and releases the threads. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Future<R> f : inFlight) {
      f.cancel(true);
    }
    inFlight.clear();
    pool.shutdownNow();
  }

  /** Whether the threads have been released (after the end of input, an error or {@link #close()}). */
  public boolean isClosed() {
    return closed;
  }

  private void fill() {
    try {
      while (!closed && inFlight.size() < window && input.hasNext()) {
        T element = input.next();
        Callable<R> call = () -> fn.apply(element);
        inFlight.add(pool.submit(call));
      }
    } catch (RuntimeException | Error e) {
      close(); // the input itself failed
      throw e;
    }
  }
}
