package dev.clipspark.dataset.match;

import dev.clipspark.dataset.Words;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The executor-side lookup structure of a {@link QueryMatcher}: a word-level automaton rebuilt from the
 * matcher's compact form, never serialised itself.
 *
 * <h2>Layout (primitive arrays only)</h2>
 * <ul>
 *   <li>{@code pool}: the vocabulary's characters, words separated by one space; {@code vocabEnds} gives
 *       each vocabulary word's end.</li>
 *   <li>{@code slots}: an open-addressing table of the vocabulary (linear probing, load below 1/2, indexed
 *       by the word's {@link String#hashCode()}), three longs per slot. A word of at most
 *       {@value #INLINE_MAX} chars, all in U+0001..U+00FF, is stored inline: its chars, one byte each,
 *       zero-padded, fill {@code k0} and {@code k1} ({@code k0} is then never 0), so comparing two longs
 *       compares the words exactly and the pool is not read. Any other word has {@code k0 = 0},
 *       {@code k1 = hash << 32 | length} and is compared with the pool. The third long holds the word's
 *       depth-1 trie node info (high half) and its pool start (low half). A slot's index is the word's
 *       identity and its depth-1 node's id.</li>
 *   <li>{@code edges}: the trie over words for multi-word queries, an open-addressing table of
 *       {@code (node << 32 | wordSlot) -> (childInfo << 32 | child)}, two longs per entry. Deeper nodes get
 *       ids from {@code capacity} up. An edge's position is derived from the two words' hash codes (for a
 *       depth-1 node) rather than from their slots, so it is known before any table is read.</li>
 * </ul>
 * A node's info is {@code (id + 1) << 1 | hasChildren}, where {@code id} is the id of the query ending
 * there (info 0 or 1 when none).
 *
 * <h2>Matching</h2>
 * {@link #scan} tokenises the caption exactly as {@link Words#tokenize} does: a table computed once from
 * {@link Words#isIdeograph}, {@link Words#isWordChar}, {@link Words#isApostrophe} and
 * {@link Character#toLowerCase(int)} classifies and lower-cases every BMP char; surrogates and the BMP
 * chars whose lower case lies outside the BMP (there are none in current Unicode) take a general
 * code-point path that calls those same methods. {@link #resolve} then reads, for all words at once, the
 * slot and the first edge each will need (independent loads, which the processor overlaps, instead of one
 * cache miss after another), and looks the words up; {@link #collect} walks the trie from every position.
 */
final class WordAutomaton {

  static final int SEPARATOR = 0;
  static final int WORD = 1;
  static final int APOSTROPHE = 2;
  static final int IDEOGRAPH = 3;
  static final int GENERAL = 4;

  /** Longest word stored inline in a slot, in chars. */
  static final int INLINE_MAX = 16;

  /** Per BMP char: {@code class << 16 | lowerCaseChar}. */
  private static final int[] BMP = bmpTable();

  private static final long EMPTY_EDGE = -1L;

  private final char[] pool;
  private final int[] vocabEnds;
  private final long[] slots;
  private final int capacity;
  private final int slotMask;
  private final long[] edges;
  private final int edgeMask;
  private final int[] queryIds;
  private final int[] queryWordStart;
  private final int[] queryWords;
  private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

  /** Per-thread buffers reused from caption to caption. */
  static final class Scratch {
    /** The caption's chars. */
    char[] chars = new char[0];
    /** The caption's lower-cased words, concatenated; a word can take two chars per caption char. */
    char[] text = new char[0];
    /** Per word: its end in {@link #text}. */
    int[] ends = new int[0];
    /** Per word: its {@link String#hashCode()}. */
    int[] hashes = new int[0];
    /** Per word: its vocabulary slot, or -1. */
    int[] words = new int[0];
    /** Sorted, distinct query ids found. */
    int[] hits = new int[32];
    /** Sum of the values read ahead of use, kept so that those reads cannot be optimised away. */
    long touched;

    Scratch() {
      ensureCapacity(256);
    }

    void ensureCapacity(int captionLength) {
      if (chars.length < captionLength) {
        int length = Math.max(captionLength, 2 * chars.length);
        chars = new char[length];
        text = new char[2 * length];
        ends = new int[length];
        hashes = new int[length];
        words = new int[length];
      }
    }
  }

  private WordAutomaton(char[] pool, int[] vocabEnds, int capacity, int edgeCapacity, int[] queryIds,
      int[] queryWordStart, int[] queryWords) {
    this.pool = pool;
    this.vocabEnds = vocabEnds;
    this.capacity = capacity;
    this.slotMask = capacity - 1;
    this.slots = new long[3 * capacity];
    this.edges = new long[2 * edgeCapacity];
    Arrays.fill(edges, EMPTY_EDGE);
    this.edgeMask = edgeCapacity - 1;
    this.queryIds = queryIds;
    this.queryWordStart = queryWordStart;
    this.queryWords = queryWords;
  }

  /** The character class of BMP char {@code c} in the scanner's table (for tests). */
  static int charClass(char c) {
    return BMP[c] >>> 16;
  }

  private static int[] bmpTable() {
    var table = new int[0x10000];
    for (int c = 0; c < table.length; c++) {
      int cls;
      int lower = 0;
      if (Character.isSurrogate((char) c)) {
        cls = GENERAL;
      } else if (Words.isIdeograph(c)) {
        lower = Character.toLowerCase(c);
        cls = lower <= 0xFFFF ? IDEOGRAPH : GENERAL;
      } else if (Words.isWordChar(c)) {
        lower = Character.toLowerCase(c);
        cls = lower <= 0xFFFF ? WORD : GENERAL;
      } else if (Words.isApostrophe(c)) {
        cls = APOSTROPHE;
      } else {
        cls = SEPARATOR;
      }
      table[c] = cls << 16 | (cls == GENERAL ? 0 : lower);
    }
    return table;
  }

  private static int capacityFor(int entries) {
    return Integer.highestOneBit(Math.max(2, entries) * 2 - 1) << 1;
  }

  /**
   * Rebuilds the automaton from a matcher's compact form (see {@link QueryMatcher}).
   *
   * @throws IllegalArgumentException when the compact form is inconsistent
   */
  static WordAutomaton decode(int inputSize, byte[] vocabulary, int queryCount, byte[] encodedQueries) {
    if (queryCount < 0 || queryCount > inputSize || inputSize >= 1 << 30) {
      throw new IllegalArgumentException(
          "query count " + queryCount + " is outside [0, " + inputSize + "] or the input is too large");
    }
    char[] pool = new String(vocabulary, StandardCharsets.UTF_8).toCharArray();
    int words = 0;
    for (char c : pool) {
      if (c == ' ') {
        words++;
      }
    }
    words = pool.length == 0 ? 0 : words + 1;
    int[] vocabEnds = new int[words];
    for (int i = 0, w = 0; i <= pool.length && words > 0; i++) {
      if (i == pool.length || pool[i] == ' ') {
        vocabEnds[w++] = i;
      }
    }

    var reader = new VarIntReader(encodedQueries);
    int[] queryIds = new int[queryCount];
    int[] queryWordStart = new int[queryCount + 1];
    int[] queryWords = new int[Math.max(16, queryCount)];
    int used = 0;
    int edges = 0;
    int previousId = -1;
    for (int q = 0; q < queryCount; q++) {
      int id = previousId + 1 + reader.next();
      if (id <= previousId || id >= inputSize) {
        throw new IllegalArgumentException("query " + q + " has id " + id + ", outside [0, " + inputSize + ")");
      }
      queryIds[q] = id;
      previousId = id;
      int length = reader.next();
      if (length <= 0) {
        throw new IllegalArgumentException("query " + id + " has " + length + " words");
      }
      if (used + length > queryWords.length) {
        queryWords = Arrays.copyOf(queryWords, Math.max(used + length, queryWords.length * 2));
      }
      for (int k = 0; k < length; k++) {
        int word = reader.next();
        if (word < 0 || word >= words) {
          throw new IllegalArgumentException("query " + id + " uses word " + word + " of " + words);
        }
        queryWords[used++] = word;
      }
      edges += length - 1;
      queryWordStart[q + 1] = used;
    }
    if (!reader.atEnd()) {
      throw new IllegalArgumentException("query data has " + reader.remaining() + " bytes after the last query");
    }
    var automaton = new WordAutomaton(pool, vocabEnds, capacityFor(words), capacityFor(edges), queryIds,
        queryWordStart, Arrays.copyOf(queryWords, used));
    automaton.build(words);
    return automaton;
  }

  private int vocabStart(int word) {
    return word == 0 ? 0 : vocabEnds[word - 1] + 1;
  }

  private void build(int words) {
    int[] slotOfWord = new int[words];
    int[] hashOfWord = new int[words];
    for (int w = 0; w < words; w++) {
      int start = vocabStart(w);
      int length = vocabEnds[w] - start;
      if (length == 0) {
        throw new IllegalArgumentException("vocabulary word " + w + " is empty");
      }
      int hash = 0;
      for (int i = start; i < start + length; i++) {
        hash = 31 * hash + pool[i];
      }
      hashOfWord[w] = hash;
      slotOfWord[w] = insertWord(start, length, hash);
    }
    int deepNodes = queryWords.length;
    int[] entryOfDeepNode = new int[deepNodes];
    deepNodes = 0;
    for (int q = 0; q < queryIds.length; q++) {
      int from = queryWordStart[q];
      int to = queryWordStart[q + 1];
      int node = slotOfWord[queryWords[from]];
      int nodeHash = hashOfWord[queryWords[from]];
      for (int k = from + 1; k < to; k++) {
        int word = slotOfWord[queryWords[k]];
        long key = (long) node << 32 | word;
        int entry = edgeIndex(nodeHash, hashOfWord[queryWords[k]]);
        while (edges[2 * entry] != key && edges[2 * entry] != EMPTY_EDGE) {
          entry = (entry + 1) & edgeMask;
        }
        if (edges[2 * entry] == EMPTY_EDGE) {
          int child = capacity + deepNodes;
          entryOfDeepNode[deepNodes++] = entry;
          edges[2 * entry] = key;
          edges[2 * entry + 1] = child;
          setInfo(node, entryOfDeepNode, info(node, entryOfDeepNode) | 1);
        }
        node = (int) edges[2 * entry + 1];
        nodeHash = deepNodeHash(node);
      }
      int info = info(node, entryOfDeepNode);
      if (info >>> 1 != 0) {
        throw new IllegalArgumentException("query " + queryIds[q] + " repeats query " + ((info >>> 1) - 1));
      }
      setInfo(node, entryOfDeepNode, info | (queryIds[q] + 1) << 1);
    }
  }

  private int insertWord(int start, int length, int hash) {
    long k0 = 0;
    long k1 = (long) hash << 32 | length;
    if (length <= INLINE_MAX) {
      int all = 0;
      long a = 0;
      long b = 0;
      for (int k = 0; k < length; k++) {
        char c = pool[start + k];
        all |= c == 0 ? 0x100 : c;
        if (k < 8) {
          a |= (long) c << (k << 3);
        } else {
          b |= (long) c << ((k - 8) << 3);
        }
      }
      if (all < 0x100) {
        k0 = a;
        k1 = b;
      }
    }
    int index = spread(hash) & slotMask;
    while (true) {
      int base = 3 * index;
      long s0 = slots[base];
      long s1 = slots[base + 1];
      if (s0 == 0 && s1 == 0) {
        slots[base] = k0;
        slots[base + 1] = k1;
        slots[base + 2] = start;
        return index;
      }
      if (s0 == k0 && s1 == k1 && (k0 != 0 || samePoolChars((int) slots[base + 2], pool, start, length))) {
        throw new IllegalArgumentException(
            "vocabulary word '" + new String(pool, start, length) + "' appears twice");
      }
      index = (index + 1) & slotMask;
    }
  }

  private int info(int node, int[] entryOfDeepNode) {
    if (node < capacity) {
      return (int) (slots[3 * node + 2] >>> 32);
    }
    return (int) (edges[2 * entryOfDeepNode[node - capacity] + 1] >>> 32);
  }

  private void setInfo(int node, int[] entryOfDeepNode, int info) {
    if (node < capacity) {
      slots[3 * node + 2] = (long) info << 32 | (slots[3 * node + 2] & 0xFFFFFFFFL);
    } else {
      int entry = entryOfDeepNode[node - capacity];
      edges[2 * entry + 1] = (long) info << 32 | (edges[2 * entry + 1] & 0xFFFFFFFFL);
    }
  }

  private static int spread(int hash) {
    int h = hash * 0x9E3779B9;
    return h ^ (h >>> 16);
  }

  private static int deepNodeHash(int node) {
    return node * 0x85EBCA6B;
  }

  /** The edge table entry where probing for a child of a node with hash {@code nodeHash} starts. */
  private int edgeIndex(int nodeHash, int wordHash) {
    long h = ((long) nodeHash << 32 | (wordHash & 0xFFFFFFFFL)) * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 32)) & edgeMask;
  }

  /** The number of distinct queries. */
  int queryCount() {
    return queryIds.length;
  }

  /** The index (in id order) of the query with id {@code id}, or a negative number when none has it. */
  int queryIndexOf(int id) {
    return Arrays.binarySearch(queryIds, id);
  }

  /** The normalised text of the query with index {@code q}: its words joined by single spaces. */
  String queryText(int q) {
    var text = new StringBuilder();
    for (int k = queryWordStart[q]; k < queryWordStart[q + 1]; k++) {
      int word = queryWords[k];
      if (text.length() > 0) {
        text.append(' ');
      }
      int start = vocabStart(word);
      text.append(pool, start, vocabEnds[word] - start);
    }
    return text.toString();
  }

  /** This thread's scratch buffers. */
  Scratch scratch() {
    return scratch.get();
  }

  /**
   * Finds the queries in {@code caption}: afterwards {@code s.hits[0 .. result)} holds their ids, sorted
   * and distinct.
   */
  int match(CharSequence caption, Scratch s) {
    int n = caption.length();
    s.ensureCapacity(n);
    char[] chars = s.chars;
    if (caption instanceof String string) {
      string.getChars(0, n, chars, 0);
    } else {
      for (int i = 0; i < n; i++) {
        chars[i] = caption.charAt(i);
      }
    }
    int wordCount = scan(chars, n, s);
    if (wordCount == 0) {
      return 0;
    }
    resolve(s, wordCount);
    return collect(s, wordCount);
  }

  /**
   * Tokenises {@code chars[0 .. n)} exactly as {@link Words#tokenize} does: word {@code j} is
   * {@code s.text[s.ends[j - 1] .. s.ends[j])} (from 0 for the first) with {@link String#hashCode()}
   * {@code s.hashes[j]}. Returns the number of words.
   */
  private static int scan(char[] chars, int n, Scratch s) {
    final int[] table = BMP;
    final char[] text = s.text;
    final int[] ends = s.ends;
    final int[] hashes = s.hashes;
    int end = 0;
    int start = 0;
    int hash = 0;
    int count = 0;
    int i = 0;
    while (i < n) {
      int entry = table[chars[i]];
      int cls = entry >>> 16;
      if (cls == WORD) {
        char lower = (char) entry;
        text[end++] = lower;
        hash = 31 * hash + lower;
        i++;
      } else if (cls == SEPARATOR) {
        if (end > start) {
          ends[count] = end;
          hashes[count++] = hash;
          start = end;
          hash = 0;
        }
        i++;
      } else if (cls == APOSTROPHE) {
        if (end > start) {
          if (i + 1 < n && continuesWord(chars, i + 1, n)) {
            text[end++] = '\'';
            hash = 31 * hash + '\'';
          } else {
            ends[count] = end;
            hashes[count++] = hash;
            start = end;
            hash = 0;
          }
        }
        i++;
      } else if (cls == IDEOGRAPH) {
        if (end > start) {
          ends[count] = end;
          hashes[count++] = hash;
        }
        char lower = (char) entry;
        text[end++] = lower;
        ends[count] = end;
        hashes[count++] = lower;
        start = end;
        hash = 0;
        i++;
      } else {
        int cp = Character.codePointAt(chars, i, n);
        if (Words.isIdeograph(cp)) {
          if (end > start) {
            ends[count] = end;
            hashes[count++] = hash;
            start = end;
            hash = 0;
          }
          end += Character.toChars(Character.toLowerCase(cp), text, end);
          for (int k = start; k < end; k++) {
            hash = 31 * hash + text[k];
          }
          ends[count] = end;
          hashes[count++] = hash;
          start = end;
          hash = 0;
        } else if (Words.isWordChar(cp)) {
          int from = end;
          end += Character.toChars(Character.toLowerCase(cp), text, end);
          for (int k = from; k < end; k++) {
            hash = 31 * hash + text[k];
          }
        } else if (end > start) {
          // Every apostrophe is a BMP char and takes the APOSTROPHE branch, so this code point separates.
          ends[count] = end;
          hashes[count++] = hash;
          start = end;
          hash = 0;
        }
        i += Character.charCount(cp);
      }
    }
    if (end > start) {
      ends[count] = end;
      hashes[count++] = hash;
    }
    return count;
  }

  /** The words {@link #scan} finds in {@code text}, as strings (to test the scanner against Words). */
  static List<String> scanWords(CharSequence text) {
    var s = new Scratch();
    s.ensureCapacity(text.length());
    for (int i = 0; i < text.length(); i++) {
      s.chars[i] = text.charAt(i);
    }
    int count = scan(s.chars, text.length(), s);
    var words = new ArrayList<String>(count);
    for (int j = 0, start = 0; j < count; j++) {
      words.add(new String(s.text, start, s.ends[j] - start));
      if (s.hashes[j] != words.get(j).hashCode()) {
        throw new IllegalStateException("Scanner hashed word '" + words.get(j) + "' wrongly");
      }
      start = s.ends[j];
    }
    return words;
  }

  /** Whether the code point at {@code chars[i]} keeps a preceding apostrophe inside the word. */
  private static boolean continuesWord(char[] chars, int i, int n) {
    int cls = BMP[chars[i]] >>> 16;
    if (cls == WORD) {
      return true;
    }
    if (cls != GENERAL) {
      return false;
    }
    int cp = Character.codePointAt(chars, i, n);
    return Words.isWordChar(cp) && !Words.isIdeograph(cp);
  }

  /** Sets {@code s.words[j]} to the vocabulary slot of word {@code j}, or -1 when it is not a query word. */
  private void resolve(Scratch s, int count) {
    final long[] table = slots;
    final long[] edgeTable = edges;
    final int[] words = s.words;
    final int[] hashes = s.hashes;
    final int[] ends = s.ends;
    final char[] text = s.text;
    long touched = 0;
    for (int j = 0; j < count; j++) {
      int base = 3 * (spread(hashes[j]) & slotMask);
      touched += table[base] + table[base + 2];
      if (j > 0) {
        touched += edgeTable[2 * edgeIndex(hashes[j - 1], hashes[j])];
      }
    }
    s.touched = touched;
    int start = 0;
    for (int j = 0; j < count; j++) {
      int end = ends[j];
      words[j] = lookup(hashes[j], text, start, end - start);
      start = end;
    }
  }

  /** The slot of the word {@code text[from .. from + length)} whose hash code is {@code hash}, or -1. */
  private int lookup(int hash, char[] text, int from, int length) {
    long k0 = 0;
    long k1 = (long) hash << 32 | length;
    if (length <= INLINE_MAX) {
      int all = 0;
      long a = 0;
      long b = 0;
      int k = 0;
      for (int limit = Math.min(length, 8); k < limit; k++) {
        char c = text[from + k];
        all |= c;
        a |= (long) c << (k << 3);
      }
      for (; k < length; k++) {
        char c = text[from + k];
        all |= c;
        b |= (long) c << ((k - 8) << 3);
      }
      if (all < 0x100) {
        k0 = a;
        k1 = b;
      }
    }
    final long[] table = slots;
    int index = spread(hash) & slotMask;
    while (true) {
      int base = 3 * index;
      long s0 = table[base];
      long s1 = table[base + 1];
      if (s0 == k0 && s1 == k1) {
        if (k0 != 0 || samePoolChars((int) table[base + 2], text, from, length)) {
          return index;
        }
      } else if (s0 == 0 && s1 == 0) {
        return -1;
      }
      index = (index + 1) & slotMask;
    }
  }

  private boolean samePoolChars(int start, char[] text, int from, int length) {
    final char[] p = pool;
    for (int k = 0; k < length; k++) {
      if (p[start + k] != text[from + k]) {
        return false;
      }
    }
    return true;
  }

  /** Walks the trie from every word position; returns the number of distinct hits in {@code s.hits}. */
  private int collect(Scratch s, int wordCount) {
    final int[] words = s.words;
    final int[] hashes = s.hashes;
    final long[] table = slots;
    final long[] edgeTable = edges;
    int hits = 0;
    for (int j = 0; j < wordCount; j++) {
      int slot = words[j];
      if (slot < 0) {
        continue;
      }
      int info = (int) (table[3 * slot + 2] >>> 32);
      if (info > 1) {
        hits = addHit(s, hits, (info >>> 1) - 1);
      }
      int node = slot;
      int nodeHash = hashes[j];
      for (int k = j + 1; (info & 1) != 0 && k < wordCount; k++) {
        int word = words[k];
        if (word < 0) {
          break;
        }
        long key = (long) node << 32 | word;
        int entry = edgeIndex(nodeHash, hashes[k]);
        long found;
        while ((found = edgeTable[2 * entry]) != key && found != EMPTY_EDGE) {
          entry = (entry + 1) & edgeMask;
        }
        if (found == EMPTY_EDGE) {
          break;
        }
        long child = edgeTable[2 * entry + 1];
        info = (int) (child >>> 32);
        if (info > 1) {
          hits = addHit(s, hits, (info >>> 1) - 1);
        }
        node = (int) child;
        nodeHash = deepNodeHash(node);
      }
    }
    return hits;
  }

  /** Inserts {@code id} into the sorted, distinct {@code s.hits[0 .. count)}; returns the new count. */
  private static int addHit(Scratch s, int count, int id) {
    int[] hits = s.hits;
    int p = count;
    while (p > 0 && hits[p - 1] > id) {
      p--;
    }
    if (p > 0 && hits[p - 1] == id) {
      return count;
    }
    if (count == hits.length) {
      hits = Arrays.copyOf(hits, count * 2);
      s.hits = hits;
    }
    for (int k = count; k > p; k--) {
      hits[k] = hits[k - 1];
    }
    hits[p] = id;
    return count + 1;
  }

  /** Reads unsigned LEB128 ints. */
  static final class VarIntReader {
    private final byte[] bytes;
    private int position;

    VarIntReader(byte[] bytes) {
      this.bytes = bytes;
    }

    int next() {
      int value = 0;
      for (int shift = 0; shift < 35; shift += 7) {
        if (position >= bytes.length) {
          throw new IllegalArgumentException("query data ends inside a number at byte " + position);
        }
        byte b = bytes[position++];
        value |= (b & 0x7F) << shift;
        if (b >= 0) {
          if (value < 0) {
            throw new IllegalArgumentException("query data has a number above 2^31 at byte " + position);
          }
          return value;
        }
      }
      throw new IllegalArgumentException("query data has a number longer than 5 bytes at byte " + position);
    }

    boolean atEnd() {
      return position == bytes.length;
    }

    int remaining() {
      return bytes.length - position;
    }
  }
}
