package dev.clipspark.dataset.build;

import dev.clipspark.dataset.RejectReason;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Map;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.Optional;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

/**
 * Which planned candidates a build admits, decided from the candidates fetched so far, and which ones a
 * round must fetch next.
 *
 * <p><b>The rule.</b> Candidates are taken in plan order, the seeded rank {@code (keyHash(seed, key), key)}
 * that orders every query's candidates. A candidate is <i>reached</i> when at least one of its queries
 * is still open, i.e. fewer than {@code cap} candidates before it in that query's order were admitted
 * or would count. A reached candidate is admitted when its image processed OK and no pair admitted before
 * it has the same SHA-256 (the first copy the build admits wins, later ones are {@code duplicate}); an
 * admitted candidate counts for every query it matches. A candidate that is not reached is
 * {@code over_query_cap}, whatever its image. Whether a candidate is admitted depends only on candidates
 * before it in plan order, so the answer is the same whether every candidate was fetched
 * ({@code build.plan = all}) or only those reached ({@code lazy}).
 *
 * <p><b>Computing it in Spark.</b> Given a set D of duplicates, each query's cut-off is the rank of its
 * cap-th counting candidate (processed OK and not in D; one bounded heap per query, combined map-side,
 * {@link Balancer#thresholds}), which says who is reached; the duplicates are then the OK candidates with
 * a lower-ranked reached OK copy. Starting from D0 = every OK candidate with any lower-ranked OK copy and
 * repeating, D only shrinks and settles on the unique solution (each candidate's status depends only on
 * lower ranks, so each pass fixes at least the lowest-ranked candidate it got wrong); in practice one or
 * two passes. Candidates not fetched yet count as failures: when none of them is reached, the answer is
 * final, because an unreached candidate's image cannot change anything.
 *
 * <p><b>The CLIP filter.</b> With {@code filter.clip.*}, a candidate whose similarity was computed and is below
 * the threshold is a failure like a broken image ({@code clip_score}): it takes no place and is no first copy of
 * its image (a later copy with another caption may still be admitted). A candidate not scored yet counts as if it
 * passed; {@link Decision#pendingScore()} says how many of the candidates admitted that way still need a score.
 */
final class Admission {

  private Admission() {}

  /** Not fetched yet. */
  static final byte UNFETCHED = 0;
  /** Fetched or read, and refused ({@code status} says why). */
  static final byte FAILED = 1;
  /** Processed OK ({@code sha} is set). */
  static final byte OK = 2;

  /** One planned candidate (caption valid, at least one query) and what is known of its image. */
  record Entry(String key, String source, long hash, int[] queries, String fetchKey, byte state, String status,
      String sha, float similarity) implements Serializable {

    /** Whether the CLIP filter scored this candidate ({@link #similarity()} is NaN until it did). */
    boolean scored() {
      return !Float.isNaN(similarity);
    }

    /** Whether the CLIP filter rejected this candidate. */
    boolean clipRejected() {
      return state == FAILED && RejectReason.CLIP_SCORE.key().equals(status);
    }

    Balancer.Rank rank() {
      return new Balancer.Rank(hash, key);
    }

    Balancer.Matched matched() {
      return new Balancer.Matched(key, hash, queries);
    }
  }

  /** An entry with its duplicate flag, and the flag of the previous pass. */
  record Labelled(Entry entry, boolean dup, boolean previous) implements Serializable {}

  /**
   * The decision for one state of knowledge.
   *
   * @param labelled every entry with its duplicate flag (persisted; unpersist when done)
   * @param thresholds each query's counting candidates and, when it has at least cap, its cut-off
   * @param fetched entries whose image was fetched (OK or not)
   * @param counting entries processed OK and not duplicates
   * @param admitted entries admitted
   * @param reachedUnfetched entries reached but not fetched yet: zero means the decision is final
   * @param passes passes until the duplicates settled
   * @param pendingScore admitted entries the CLIP filter has not scored yet (with the filter off: every admitted
   *     entry; the build then ignores it)
   * @param scored entries the CLIP filter scored
   * @param passedScore scored entries that passed it
   * @param countingUnscored counting entries not scored yet
   */
  record Decision(JavaRDD<Labelled> labelled, Balancer.Thresholds thresholds, long fetched, long counting,
      long admitted, long reachedUnfetched, int passes, long pendingScore, long scored, long passedScore,
      long countingUnscored) {

    /**
     * The expected share of fetched entries that end up counting: entries processed OK, not duplicates and, once
     * scored, above the CLIP threshold, per fetched entry; counting entries not scored yet are weighed by the
     * share of scored ones that passed. CLIP rejections are fetched entries that do not count, like failed
     * fetches, so a round's oversampling ({@link #take}) makes up for them.
     */
    double successRate() {
      if (fetched == 0) {
        return 1.0;
      }
      double passRate = scored == 0 ? 1.0 : (double) passedScore / scored;
      return (counting - countingUnscored + countingUnscored * passRate) / fetched;
    }
  }

  /** Decides admission for {@code entries} with {@code cap} pairs per query. */
  static Decision decide(JavaSparkContext jsc, JavaRDD<Entry> entries, int cap) {
    entries.persist(StorageLevel.MEMORY_AND_DISK_SER());
    JavaRDD<Entry> ok = entries.filter(e -> e.state() == OK);
    JavaPairRDD<String, Balancer.Rank> firstOk = ok.mapToPair(e -> new Tuple2<>(e.sha(), e.rank()))
        .reduceByKey(Admission::min);
    JavaRDD<Labelled> current = flag(ok.map(e -> new Labelled(e, false, false)), firstOk)
        .persist(StorageLevel.MEMORY_AND_DISK_SER());
    Balancer.Thresholds thresholds;
    int passes = 0;
    while (true) {
      passes++;
      thresholds = Balancer.thresholds(current.filter(l -> !l.dup()).map(l -> l.entry().matched()), cap);
      Broadcast<Balancer.Thresholds> t = jsc.broadcast(thresholds);
      JavaPairRDD<String, Balancer.Rank> firstReached = current
          .filter(l -> t.value().admitsAny(l.entry().matched()))
          .mapToPair(l -> new Tuple2<>(l.entry().sha(), l.entry().rank()))
          .reduceByKey(Admission::min);
      JavaRDD<Labelled> next = flag(current, firstReached).persist(StorageLevel.MEMORY_AND_DISK_SER());
      long changed = next.filter(l -> l.dup() != l.previous()).count();
      current.unpersist();
      current = next;
      if (changed == 0) {
        break;
      }
    }
    JavaRDD<Labelled> all = entries.filter(e -> e.state() != OK).map(e -> new Labelled(e, false, false))
        .union(current)
        .persist(StorageLevel.MEMORY_AND_DISK_SER());
    Broadcast<Balancer.Thresholds> t = jsc.broadcast(thresholds);
    long[] counts = all.map(l -> {
      boolean reached = t.value().admitsAny(l.entry().matched());
      Entry e = l.entry();
      byte state = e.state();
      boolean counting = state == OK && !l.dup();
      return new long[] {
          state != UNFETCHED ? 1 : 0,
          counting ? 1 : 0,
          counting && reached ? 1 : 0,
          state == UNFETCHED && reached ? 1 : 0,
          counting && reached && !e.scored() ? 1 : 0,
          e.scored() ? 1 : 0,
          e.scored() && state == OK ? 1 : 0,
          counting && !e.scored() ? 1 : 0};
    }).fold(new long[8], (a, b) -> {
      long[] sum = new long[8];
      for (int i = 0; i < 8; i++) {
        sum[i] = a[i] + b[i];
      }
      return sum;
    });
    current.unpersist();
    entries.unpersist();
    return new Decision(all, thresholds, counts[0], counts[1], counts[2], counts[3], passes, counts[4], counts[5],
        counts[6], counts[7]);
  }

  /**
   * The entries the CLIP filter scores next: admitted under {@code d} (reached, processed OK, not duplicates) and
   * not scored yet. Called only when {@code d} is final apart from the scores, so each of them is admitted if and
   * only if it passes.
   */
  static JavaRDD<Entry> toScore(JavaSparkContext jsc, Decision d) {
    Broadcast<Balancer.Thresholds> t = jsc.broadcast(d.thresholds());
    return d.labelled()
        .filter(l -> l.entry().state() == OK && !l.dup() && !l.entry().scored()
            && t.value().admitsAny(l.entry().matched()))
        .map(Labelled::entry);
  }

  /** Sets each entry's duplicate flag: a lower-ranked copy is in {@code first} (by SHA-256). */
  private static JavaRDD<Labelled> flag(JavaRDD<Labelled> entries, JavaPairRDD<String, Balancer.Rank> first) {
    return entries.mapToPair(l -> new Tuple2<>(l.entry().sha(), l))
        .leftOuterJoin(first)
        .values()
        .map(p -> {
          Labelled l = p._1();
          Optional<Balancer.Rank> f = p._2();
          boolean dup = f.isPresent() && l.entry().rank().compareTo(f.get()) > 0;
          return new Labelled(l.entry(), dup, l.dup());
        });
  }

  private static Balancer.Rank min(Balancer.Rank a, Balancer.Rank b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  /**
   * How many not-yet-fetched candidates a query with {@code room} places left takes in a round: room
   * times {@code oversample}, or, for {@code auto} (0), enough that with the success rate {@code s}
   * observed so far the room fills with about 98% probability: (room + 2 sqrt(room (1 - s))) / s.
   */
  static long take(long room, double oversample, double s) {
    double n = oversample > 0 ? room * oversample : (room + 2 * Math.sqrt(room * (1 - s))) / s;
    return (long) Math.min(Integer.MAX_VALUE, Math.ceil(n - 1e-9));
  }

  /**
   * The entries a round fetches: for every open query, its next {@link #take} unfetched candidates in
   * rank order; for every full query, its unfetched candidates ranked before its cut-off (they could
   * still take a place). Never empty while {@link Decision#reachedUnfetched()} is not zero.
   *
   * @param oversample {@code balance.oversample}, 0 for auto
   */
  static JavaRDD<Entry> requests(JavaSparkContext jsc, Decision d, int cap, double oversample) {
    double s = Math.max(0.02, Math.min(1.0, d.successRate()));
    Broadcast<Balancer.Thresholds> t = jsc.broadcast(d.thresholds());
    JavaRDD<Entry> unfetched = d.labelled().filter(l -> l.entry().state() == UNFETCHED).map(Labelled::entry);
    Map<Integer, Balancer.Rank> lastTaken = unfetched
        .flatMapToPair(e -> {
          var out = new ArrayList<Tuple2<Integer, Tuple2<Integer, Balancer.Rank>>>();
          for (int q : e.queries()) {
            long counting = t.value().matched().getOrDefault(q, 0L);
            if (counting < cap) {
              int n = (int) Math.max(1, take(cap - counting, oversample, s));
              out.add(new Tuple2<>(q, new Tuple2<>(n, e.rank())));
            }
          }
          return out.iterator();
        })
        .combineByKey(
            v -> new NeedLowest(v._1()).add(v._2()),
            NeedLowest::add,
            NeedLowest::merge)
        .filter(p -> p._2().full())
        .mapValues(NeedLowest::highest)
        .collectAsMap();
    Broadcast<Map<Integer, Balancer.Rank>> taken = jsc.broadcast(new java.util.HashMap<>(lastTaken));
    return unfetched.filter(e -> {
      Balancer.Rank rank = e.rank();
      for (int q : e.queries()) {
        Balancer.Rank cutOff = t.value().lastAdmitted().get(q);
        if (cutOff != null) {
          if (rank.compareTo(cutOff) <= 0) {
            return true;
          }
        } else {
          Balancer.Rank last = taken.value().get(q);
          if (last == null || rank.compareTo(last) <= 0) {
            return true;
          }
        }
      }
      return false;
    });
  }

  /** The {@code need} lowest ranks of one query's unfetched candidates. */
  static final class NeedLowest implements Serializable {
    private static final long serialVersionUID = 1L;
    private final int need;
    private final Balancer.Lowest lowest;
    private long seen;

    NeedLowest(int need) {
      this.need = need;
      this.lowest = new Balancer.Lowest(need);
    }

    NeedLowest add(Tuple2<Integer, Balancer.Rank> v) {
      return add(v._2());
    }

    NeedLowest add(Balancer.Rank r) {
      lowest.add(r);
      seen++;
      return this;
    }

    NeedLowest merge(NeedLowest other) {
      lowest.merge(other.lowest);
      seen += other.seen;
      return this;
    }

    boolean full() {
      return seen >= need;
    }

    Balancer.Rank highest() {
      return lowest.summary()._2();
    }
  }

  /**
   * What became of an entry under the final decision: {@code admitted}, or the key of its reject reason
   * ({@code clip_score}, {@code duplicate}, {@code over_query_cap}, {@code round_limit}, or why its image failed).
   */
  static String label(Labelled l, Balancer.Thresholds t) {
    Entry e = l.entry();
    if (e.clipRejected()) {
      // Scored only when it was about to be admitted: counted under its own reason, whatever came after.
      return RejectReason.CLIP_SCORE.key();
    }
    if (!t.admitsAny(e.matched())) {
      return RejectReason.OVER_QUERY_CAP.key();
    }
    return switch (e.state()) {
      case UNFETCHED -> RejectReason.ROUND_LIMIT.key();
      case FAILED -> e.status();
      default -> l.dup() ? RejectReason.DUPLICATE.key() : ADMITTED;
    };
  }

  /** The label of an admitted entry. */
  static final String ADMITTED = "admitted";
}
