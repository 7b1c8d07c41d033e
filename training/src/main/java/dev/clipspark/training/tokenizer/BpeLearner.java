package dev.clipspark.training.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The standard BPE learning algorithm over counted words, on one machine. Each word is a sequence of
 * symbols (its UTF-8 bytes as {@link BytesToUnicode} characters, the last one with {@code </w>} for CLIP's
 * tokenizer, without any end-of-word mark for GPT-2's) with a count. Each step merges the adjacent pair with the highest total count everywhere it occurs (left to right,
 * as the tokenizer applies it), ties going to the pair whose left symbol, then right symbol, is smallest in
 * {@link String#compareTo} order. Pair counts are updated incrementally: an index from each pair to the words
 * holding it limits each step to the affected words, and a max-heap with lazy deletion finds the best pair.
 * Learning stops after {@code maxMerges} merges or when no pair occurs at least twice.
 */
final class BpeLearner {

  private static final Logger LOG = LoggerFactory.getLogger(BpeLearner.class);
  private static final long PROGRESS_NANOS = 10_000_000_000L;

  private final List<String> symbols = new ArrayList<>();
  private final Map<String, Integer> symbolIds = new HashMap<>();
  private final int[][] words;
  private final long[] counts;
  private final Map<Long, Pair> pairs = new HashMap<>();
  private final PriorityQueue<Entry> heap;
  private final int[] visited;

  /** A pair's total count and the words that hold it (may repeat and go stale; checked when used). */
  private static final class Pair {
    final int left;
    final int right;
    long count;
    int[] where = new int[2];
    int size;

    Pair(int left, int right) {
      this.left = left;
      this.right = right;
    }

    void addWord(int w) {
      if (size > 0 && where[size - 1] == w) {
        return;
      }
      if (size == where.length) {
        where = Arrays.copyOf(where, size * 2);
      }
      where[size++] = w;
    }
  }

  private record Entry(long count, int left, int right) {}

  private BpeLearner(Map<String, Long> wordCounts, boolean endOfWord) {
    heap = new PriorityQueue<>(Comparator.comparingLong(Entry::count).reversed()
        .thenComparing((Entry e) -> symbols.get(e.left()))
        .thenComparing((Entry e) -> symbols.get(e.right())));
    for (int b = 0; b < 256; b++) {
      String c = String.valueOf(BytesToUnicode.charOf(BytesToUnicode.byteAt(b)));
      symbol(c);
      if (endOfWord) {
        symbol(c + ClipTokenizer.END_OF_WORD);
      }
    }
    var sorted = new ArrayList<>(wordCounts.entrySet());
    sorted.sort(Map.Entry.comparingByKey());
    words = new int[sorted.size()][];
    counts = new long[sorted.size()];
    visited = new int[sorted.size()];
    for (int w = 0; w < words.length; w++) {
      String word = sorted.get(w).getKey();
      long count = sorted.get(w).getValue();
      if (word.isEmpty() || count <= 0) {
        throw new IllegalArgumentException("Cannot learn merges from the word \"" + word + "\" with count " + count
            + ": words must be non-empty and counts positive");
      }
      int[] s = new int[word.length()];
      for (int i = 0; i < s.length; i++) {
        char c = word.charAt(i);
        if (BytesToUnicode.byteOf(c) < 0) {
          throw new IllegalArgumentException("Cannot learn merges from the word \"" + word + "\": character U+"
              + Integer.toHexString(c).toUpperCase() + " is not a byte symbol");
        }
        s[i] = symbol(endOfWord && i == s.length - 1 ? c + ClipTokenizer.END_OF_WORD : String.valueOf(c));
      }
      words[w] = s;
      counts[w] = count;
      for (int i = 0; i + 1 < s.length; i++) {
        Pair p = pair(s[i], s[i + 1]);
        p.count += count;
        p.addWord(w);
      }
    }
    for (Pair p : pairs.values()) {
      heap.add(new Entry(p.count, p.left, p.right));
    }
  }

  /**
   * Learns up to {@code maxMerges} merges from {@code wordCounts}: words written in {@link BytesToUnicode}
   * characters (without {@code </w>}), each with its count.
   */
  static List<BpeMerge> learn(Map<String, Long> wordCounts, int maxMerges) {
    return new BpeLearner(wordCounts, true).run(maxMerges);
  }

  /**
   * As {@link #learn}, with no end-of-word mark: GPT-2's byte-level BPE, whose words carry their leading space
   * instead.
   */
  static List<BpeMerge> learnWithoutEndOfWord(Map<String, Long> wordCounts, int maxMerges) {
    return new BpeLearner(wordCounts, false).run(maxMerges);
  }

  private int symbol(String s) {
    Integer id = symbolIds.get(s);
    if (id == null) {
      id = symbols.size();
      symbols.add(s);
      symbolIds.put(s, id);
    }
    return id;
  }

  private Pair pair(int left, int right) {
    return pairs.computeIfAbsent(PairTable.key(left, right), k -> new Pair(left, right));
  }

  private List<BpeMerge> run(int maxMerges) {
    var merges = new ArrayList<BpeMerge>();
    long start = System.nanoTime();
    long lastLog = start;
    var changed = new HashMap<Long, Pair>();
    while (merges.size() < maxMerges && !heap.isEmpty()) {
      Entry top = heap.poll();
      Pair best = pairs.get(PairTable.key(top.left(), top.right()));
      if (best == null || best.count != top.count()) {
        continue;
      }
      if (best.count < 2) {
        break;
      }
      int left = best.left;
      int right = best.right;
      int merged = symbol(symbols.get(left) + symbols.get(right));
      merges.add(new BpeMerge(symbols.get(left), symbols.get(right)));
      int step = merges.size();
      changed.clear();
      int[] where = Arrays.copyOf(best.where, best.size);
      for (int w : where) {
        if (visited[w] == step) {
          continue;
        }
        visited[w] = step;
        int[] old = words[w];
        int[] next = apply(old, left, right, merged);
        if (next == old) {
          continue;
        }
        long c = counts[w];
        for (int i = 0; i + 1 < old.length; i++) {
          Pair p = pairs.get(PairTable.key(old[i], old[i + 1]));
          p.count -= c;
          changed.put(PairTable.key(p.left, p.right), p);
        }
        for (int i = 0; i + 1 < next.length; i++) {
          Pair p = pair(next[i], next[i + 1]);
          p.count += c;
          p.addWord(w);
          changed.put(PairTable.key(p.left, p.right), p);
        }
        words[w] = next;
      }
      for (var e : changed.entrySet()) {
        Pair p = e.getValue();
        if (p.count <= 0) {
          pairs.remove(e.getKey());
        } else {
          heap.add(new Entry(p.count, p.left, p.right));
        }
      }
      long now = System.nanoTime();
      if (now - lastLog > PROGRESS_NANOS) {
        lastLog = now;
        double seconds = (now - start) / 1e9;
        LOG.info("BPE: {} of {} merges, last \"{}\" seen {} times, {} merges/s", step, maxMerges,
            merges.get(step - 1), top.count(), String.format("%.0f", step / seconds));
      }
    }
    return merges;
  }

  /** {@code word} with every (left, right) merged, left to right; the same array if it has none. */
  private static int[] apply(int[] word, int left, int right, int merged) {
    int[] out = null;
    int j = 0;
    for (int i = 0; i < word.length; ) {
      if (i + 1 < word.length && word[i] == left && word[i + 1] == right) {
        if (out == null) {
          out = new int[word.length - 1];
          System.arraycopy(word, 0, out, 0, i);
          j = i;
        }
        out[j++] = merged;
        i += 2;
      } else {
        if (out != null) {
          out[j++] = word[i];
        }
        i++;
      }
    }
    return out == null ? word : Arrays.copyOf(out, j);
  }
}
