package dev.clipspark.dataset.build;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The per-query admission rule, computed by hand. */
class BalancerTest {

  static Balancer.Matched pair(String key, long hash, int... queries) {
    return new Balancer.Matched(key, hash, queries);
  }

  @Test
  void lowestKeepsTheCapLowestRanksAndCountsAll() {
    var lowest = new Balancer.Lowest(2);
    for (long h : new long[] {50, 10, 40, 20, 30}) {
      lowest.add(new Balancer.Rank(h, "k" + h));
    }
    var other = new Balancer.Lowest(2);
    other.add(new Balancer.Rank(15, "k15"));
    other.add(new Balancer.Rank(5, "k5"));
    var merged = lowest.merge(other).summary();
    assertThat(merged._1()).isEqualTo(7);
    // The two lowest overall are 5 and 10: the last admitted is 10.
    assertThat(merged._2()).isEqualTo(new Balancer.Rank(10, "k10"));
  }

  @Test
  void equalHashesAreOrderedByKey() {
    assertThat(new Balancer.Rank(7, "a").compareTo(new Balancer.Rank(7, "b"))).isNegative();
    assertThat(new Balancer.Rank(-1, "z").compareTo(new Balancer.Rank(7, "a"))).isNegative();
  }

  @Test
  void aPairIsKeptWhenAnyOfItsQueriesAdmitsIt() {
    // Query 0 matched 5 pairs with cap 2 and last admits rank (20, "b"); query 1 is under its cap.
    var t = new Balancer.Thresholds(Map.of(0, 5L, 1, 1L), Map.of(0, new Balancer.Rank(20, "b")), 2);
    assertThat(t.admitsAny(pair("a", 10, 0))).isTrue();
    assertThat(t.admitsAny(pair("b", 20, 0))).isTrue();
    assertThat(t.admitsAny(pair("c", 20, 0))).isFalse();
    assertThat(t.admitsAny(pair("d", 90, 0))).isFalse();
    assertThat(t.admitsAny(pair("e", 90, 0, 1))).isTrue();
    assertThat(t.admittedBy(0)).isEqualTo(2);
    assertThat(t.admittedBy(1)).isEqualTo(1);
    assertThat(t.admittedBy(7)).isZero();
  }

  @Test
  void keyHashIsStableAndSeedDependent() {
    // Fixed values: a change to the hash would silently change which pairs every build selects.
    long a = Hashes.keyHash(42, "synthetic/000000001");
    assertThat(a).isEqualTo(-3382522535787788583L);
    assertThat(Hashes.keyHash(43, "synthetic/000000001")).isNotEqualTo(a);
    assertThat(Hashes.keyHash(42, "synthetic/000000002")).isNotEqualTo(a);
    assertThat(List.of(Hashes.sha256Hex("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII))))
        .containsExactly("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}
