package dev.clipspark.dataset.match;

import dev.clipspark.dataset.Words;
import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.io.Serial;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;

/**
 * Finds which queries of a fixed list occur in a caption.
 *
 * <p>A caption matches a query when the query's words ({@link Words#tokenize}) occur as a contiguous
 * run in the caption's words: whole words, case-insensitive, multi-word queries included. {@code "new
 * york"} matches "I love New York!" but not "new yorker"; {@code "cat"} does not match "concatenate".
 *
 * <p>Ids: a query's id is its position in the list given to {@link #build}. Each query is normalised with
 * {@link Words#normalize}; queries that normalise to "" are ignored and a query equal (after
 * normalisation) to an earlier one collapses to the earlier one's id, so ids lie in {@code [0,
 * queries.size())} with gaps where those were.
 *
 * <p>Matching scans the caption once, tokenising it exactly as {@link Words#tokenize} does without
 * allocating a String per word, looks each word up in an open-addressing table of the query vocabulary and
 * walks a trie over word ids for multi-word queries: roughly a microsecond per alt-text caption against
 * 500,000 queries on one core ({@link MatcherBenchmark} measures it).
 *
 * <p>Instances are immutable and thread-safe: Spark tasks running in one executor can share one broadcast
 * matcher (each thread gets its own reusable scratch buffers). The serialised form is compact: the
 * vocabulary as UTF-8 and the queries as variable-length word indexes, two byte arrays in all; the lookup
 * tables are rebuilt on the executor when the object is read (with Java serialisation) or on first use
 * (with serialisers that skip {@code readObject}, such as Kryo's field serialiser).
 */
public final class QueryMatcher implements Serializable {

  @Serial
  private static final long serialVersionUID = 1L;

  /** Length of the list the matcher was built from; ids lie below it. */
  private final int inputSize;
  /** Number of distinct, non-empty queries. */
  private final int queryCount;
  /** The distinct query words, UTF-8, separated by one space. */
  private final byte[] vocabulary;
  /**
   * Per query in id order, as unsigned LEB128 numbers: id minus the previous query's id minus 1, the
   * number of words, then each word's index in {@link #vocabulary}.
   */
  private final byte[] queries;

  private transient volatile WordAutomaton automaton;

  private QueryMatcher(int inputSize, int queryCount, byte[] vocabulary, byte[] queries) {
    this.inputSize = inputSize;
    this.queryCount = queryCount;
    this.vocabulary = vocabulary;
    this.queries = queries;
    this.automaton = WordAutomaton.decode(inputSize, vocabulary, queryCount, queries);
  }

  /**
   * Builds a matcher for {@code queries}; the id of a query is its position in the list.
   *
   * @param queries the queries, in id order; none may be null
   * @return the matcher
   * @throws IllegalArgumentException when the list or one of its queries is null
   */
  public static QueryMatcher build(List<String> queries) {
    if (queries == null) {
      throw new IllegalArgumentException("Cannot build a query matcher: the query list is null");
    }
    var seen = new HashSet<String>();
    var vocabularyIndex = new HashMap<String, Integer>();
    var vocabularyText = new StringBuilder();
    var encoded = new VarIntWriter();
    int previousId = -1;
    int count = 0;
    int id = 0;
    for (String query : queries) {
      if (query == null) {
        throw new IllegalArgumentException("Cannot build a query matcher: query " + id + " is null");
      }
      List<String> words = Words.tokenize(query);
      if (!words.isEmpty() && seen.add(String.join(" ", words))) {
        encoded.write(id - previousId - 1);
        encoded.write(words.size());
        for (String word : words) {
          Integer index = vocabularyIndex.get(word);
          if (index == null) {
            index = vocabularyIndex.size();
            vocabularyIndex.put(word, index);
            if (index > 0) {
              vocabularyText.append(' ');
            }
            vocabularyText.append(word);
          }
          encoded.write(index);
        }
        previousId = id;
        count++;
      }
      id++;
    }
    return new QueryMatcher(id, count,
        vocabularyText.toString().getBytes(StandardCharsets.UTF_8), encoded.toByteArray());
  }

  /**
   * Returns the ids of the queries that occur in {@code caption}, sorted ascending, each once.
   *
   * @param caption the caption text; null is treated as empty
   * @return the matched ids, a new array (empty when nothing matches)
   */
  public int[] matchIds(CharSequence caption) {
    if (caption == null || caption.length() == 0) {
      return new int[0];
    }
    WordAutomaton a = automaton();
    WordAutomaton.Scratch scratch = a.scratch();
    int count = a.match(caption, scratch);
    return Arrays.copyOf(scratch.hits, count);
  }

  /**
   * Returns the normalised queries that occur in {@code caption}, in id order.
   *
   * @param caption the caption text; null is treated as empty
   * @return the matched queries (empty when nothing matches)
   */
  public List<String> match(CharSequence caption) {
    if (caption == null || caption.length() == 0) {
      return List.of();
    }
    WordAutomaton a = automaton();
    WordAutomaton.Scratch scratch = a.scratch();
    int count = a.match(caption, scratch);
    var texts = new ArrayList<String>(count);
    for (int k = 0; k < count; k++) {
      texts.add(a.queryText(a.queryIndexOf(scratch.hits[k])));
    }
    return texts;
  }

  /**
   * Returns the normalised text of the query with id {@code id} ({@link Words#normalize} of the input).
   *
   * @throws IllegalArgumentException when no query has that id: it is outside the input list, or the
   *     query at that position was empty or repeated an earlier one
   */
  public String query(int id) {
    WordAutomaton a = automaton();
    int q = a.queryIndexOf(id);
    if (q < 0) {
      if (id < 0 || id >= inputSize) {
        throw new IllegalArgumentException(String.format(
            "Cannot look up query %d: ids lie in [0, %d), the positions of the input list", id, inputSize));
      }
      throw new IllegalArgumentException(String.format(
          "Cannot look up query %d: that input was empty or repeated an earlier query after normalisation",
          id));
    }
    return a.queryText(q);
  }

  /** Returns the number of distinct, non-empty queries this matcher finds. */
  public int size() {
    return queryCount;
  }

  @Override
  public String toString() {
    return "QueryMatcher[" + queryCount + " queries of " + inputSize + " inputs]";
  }

  private WordAutomaton automaton() {
    WordAutomaton a = automaton;
    if (a == null) {
      synchronized (this) {
        a = automaton;
        if (a == null) {
          a = rebuild();
          automaton = a;
        }
      }
    }
    return a;
  }

  private WordAutomaton rebuild() {
    if (vocabulary == null || queries == null) {
      throw new IllegalStateException("Cannot use QueryMatcher: its serialised form lacks the "
          + (vocabulary == null ? "vocabulary" : "query data"));
    }
    return WordAutomaton.decode(inputSize, vocabulary, queryCount, queries);
  }

  @Serial
  private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
    in.defaultReadObject();
    try {
      automaton = rebuild();
    } catch (IllegalArgumentException | IllegalStateException e) {
      var invalid = new InvalidObjectException("Cannot read QueryMatcher: " + e.getMessage());
      invalid.initCause(e);
      throw invalid;
    }
  }

  /** Writes unsigned LEB128 ints. */
  private static final class VarIntWriter {
    private byte[] bytes = new byte[1024];
    private int size;

    void write(int value) {
      if (size + 5 > bytes.length) {
        bytes = Arrays.copyOf(bytes, bytes.length * 2);
      }
      while ((value & ~0x7F) != 0) {
        bytes[size++] = (byte) (value & 0x7F | 0x80);
        value >>>= 7;
      }
      bytes[size++] = (byte) value;
    }

    byte[] toByteArray() {
      return Arrays.copyOf(bytes, size);
    }
  }
}
