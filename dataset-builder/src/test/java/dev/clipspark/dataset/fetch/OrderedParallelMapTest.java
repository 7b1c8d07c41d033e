package dev.clipspark.dataset.fetch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class OrderedParallelMapTest {

  private static Iterator<Integer> range(int n) {
    return IntStream.range(0, n).iterator();
  }

  private static <R> List<R> drain(Iterator<R> it) {
    var out = new ArrayList<R>();
    it.forEachRemaining(out::add);
    return out;
  }

  @Test
  void yieldsResultsInInputOrderWhateverOrderTheyFinishIn() {
    // Later elements finish first: a map that yielded in completion order would come out reversed.
    var results = OrderedParallelMap.map(range(40), 8, i -> {
      sleep((40 - i) % 8);
      return "v" + i;
    });

    assertThat(drain(results)).containsExactlyElementsOf(IntStream.range(0, 40).mapToObj(i -> "v" + i).toList());
    assertThat(results.isClosed()).isTrue();
  }

  @Test
  void runsAtMostThreadsCallsAtOnceAndUsesThem() {
    var running = new AtomicInteger();
    var maxRunning = new AtomicInteger();
    var results = OrderedParallelMap.map(range(60), 4, i -> {
      int now = running.incrementAndGet();
      maxRunning.accumulateAndGet(now, Math::max);
      sleep(5);
      running.decrementAndGet();
      return i * 2;
    });

    assertThat(drain(results)).hasSize(60).startsWith(0, 2, 4).endsWith(118);
    assertThat(maxRunning.get()).isLessThanOrEqualTo(4).isGreaterThan(1);
  }

  @Test
  void readsAtMostTwiceThreadsAheadOfTheConsumer() throws Exception {
    var pulled = new AtomicInteger();
    Iterator<Integer> input = new Iterator<>() {
      int next = 0;

      @Override
      public boolean hasNext() {
        return next < 1000;
      }

      @Override
      public Integer next() {
        pulled.incrementAndGet();
        return next++;
      }
    };
    try (var results = OrderedParallelMap.map(input, 3, i -> i)) {
      assertThat(results.next()).isZero();
      Thread.sleep(50); // give the workers time to finish everything they were handed
      assertThat(pulled.get()).isLessThanOrEqualTo(2 * 3 + 1);
      assertThat(results.next()).isEqualTo(1);
      assertThat(pulled.get()).isLessThanOrEqualTo(2 * 3 + 2);
    }
  }

  @Test
  void rethrowsTheFunctionsExceptionOnTheConsumerInOrder() {
    var results = OrderedParallelMap.map(range(20), 4, i -> {
      if (i == 5) {
        throw new IllegalArgumentException("bad element " + i);
      }
      return i;
    });

    var seen = new ArrayList<Integer>();
    assertThatThrownBy(() -> results.forEachRemaining(seen::add))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("bad element 5");
    assertThat(seen).containsExactly(0, 1, 2, 3, 4);
    assertThat(results.isClosed()).isTrue();
    assertThat(results.hasNext()).isFalse();
  }

  @Test
  void wrapsACheckedExceptionWithAMessage() {
    var results = OrderedParallelMap.map(range(3), 2, i -> {
      throw new AssertionError("boom");
    });

    assertThatThrownBy(results::next).isInstanceOf(AssertionError.class).hasMessage("boom");
  }

  @Test
  void closeReleasesTheThreadsAndInterruptsRunningCalls() throws Exception {
    var started = new CountDownLatch(2);
    var interrupted = new CountDownLatch(2);
    var results = OrderedParallelMap.map(range(100), 2, i -> {
      started.countDown();
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        interrupted.countDown();
      }
      return i;
    });
    assertThat(results.hasNext()).isTrue();
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();

    results.close();

    assertThat(interrupted.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(results.hasNext()).isFalse();
    assertThatThrownBy(results::next).isInstanceOf(NoSuchElementException.class);
  }

  @Test
  void anEmptyInputNeedsNoThreads() {
    var results = OrderedParallelMap.map(range(0), 4, i -> i);

    assertThat(results.hasNext()).isFalse();
    assertThat(results.isClosed()).isTrue();
  }

  @Test
  void refusesFewerThanOneThread() {
    assertThatThrownBy(() -> OrderedParallelMap.map(range(1), 0, i -> i))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot map with 0 threads: must be at least 1");
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
