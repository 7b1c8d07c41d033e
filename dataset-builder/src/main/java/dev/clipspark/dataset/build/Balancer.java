package dev.clipspark.dataset.build;

import java.io.Serializable;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import org.apache.spark.api.java.JavaRDD;
import scala.Tuple2;

/**
 * Per-query balancing: each query admits at most {@code cap} of the pairs that match it, and a pair is
 * kept when any of its queries admits it.
 *
 * <p>Which pairs a full query admits is decided by a seeded order: pairs are ranked by
 * {@code (Hashes.keyHash(seed, key), key)} and a query admits its {@code cap} lowest-ranked pairs. The
 * rank depends only on the seed and the pair's stable key, so the same inputs always select the same
 * pairs, whatever the partitioning. The threshold of every over-full query (its cap-th rank) is found
 * with a bounded heap per query and partition ({@code aggregateByKey}, combined map-side, so a query
 * matched by most captions does not land in one task), then shipped to executors as a small map.
 */
final class Balancer {

  private Balancer() {}

  /** One deduplicated, matched pair: its key, its rank hash and the ids of the queries it matches. */
  record Matched(String key, long hash, int[] queries) implements Serializable {}

  /** A position in the admission order. */
  record Rank(long hash, String key) implements Serializable, Comparable<Rank> {
    @Override
    public int compareTo(Rank o) {
      int c = Long.compare(hash, o.hash);
      return c != 0 ? c : key.compareTo(o.key);
    }
  }

  /** Per-query totals and, for queries at or over the cap, the rank of the last pair they admit. */
  record Thresholds(Map<Integer, Long> matched, Map<Integer, Rank> lastAdmitted, int cap) implements Serializable {

    /** Whether a query admits the pair at {@code rank}. */
    boolean admits(int query, Rank rank) {
      Rank last = lastAdmitted.get(query);
      return last == null || rank.compareTo(last) <= 0;
    }

    /** Whether any of the pair's queries admits it. */
    boolean admitsAny(Matched m) {
      var rank = new Rank(m.hash(), m.key());
      for (int q : m.queries()) {
        if (admits(q, rank)) {
          return true;
        }
      }
      return false;
    }

    /** How many pairs the query itself admits: all it matched, up to the cap. */
    long admittedBy(int query) {
      return Math.min(matched.getOrDefault(query, 0L), cap);
    }
  }

  /** The cap-th lowest rank of each query matched by at least {@code cap} pairs. */
  static Thresholds thresholds(JavaRDD<Matched> pairs, int cap) {
    var perQuery = pairs
        .flatMapToPair(m -> Arrays.stream(m.queries())
            .mapToObj(q -> new Tuple2<>(q, new Rank(m.hash(), m.key())))
            .iterator())
        .aggregateByKey(new Lowest(cap), Lowest::add, Lowest::merge)
        .mapValues(Lowest::summary)
        .collectAsMap();
    var matched = new HashMap<Integer, Long>();
    var last = new HashMap<Integer, Rank>();
    perQuery.forEach((q, summary) -> {
      matched.put(q, summary._1());
      if (summary._1() >= cap) {
        last.put(q, summary._2());
      }
    });
    return new Thresholds(matched, last, cap);
  }

  /** The {@code cap} lowest ranks seen, and how many ranks were seen in all. */
  static final class Lowest implements Serializable {
    private static final long serialVersionUID = 1L;
    private final int cap;
    private long seen;
    private final PriorityQueue<Rank> highestFirst;

    Lowest(int cap) {
      if (cap < 1) {
        throw new IllegalArgumentException("Cannot keep the " + cap + " lowest ranks: must be at least 1");
      }
      this.cap = cap;
      this.highestFirst = new PriorityQueue<>(java.util.Comparator.reverseOrder());
    }

    Lowest add(Rank r) {
      seen++;
      if (highestFirst.size() < cap) {
        highestFirst.add(r);
      } else if (r.compareTo(highestFirst.peek()) < 0) {
        highestFirst.poll();
        highestFirst.add(r);
      }
      return this;
    }

    Lowest merge(Lowest other) {
      long total = seen + other.seen;
      for (Rank r : other.highestFirst) {
        add(r);
      }
      seen = total;
      return this;
    }

    /** (ranks seen, the highest rank kept: the cap-th lowest once more than cap were seen). */
    Tuple2<Long, Rank> summary() {
      return new Tuple2<>(seen, highestFirst.peek());
    }
  }
}
