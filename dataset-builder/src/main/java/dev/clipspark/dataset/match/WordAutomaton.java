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
 * <h2>Word keys</h2>
 * A word of at most {@value #INLINE_MAX} chars, all in U+0001..U+00FF (Latin-1; a word never contains
 * U+0000, which separates words), is <em>inline</em>: its chars, one byte each, shifted in from the right,
 * give two longs {@code low} (the last eight chars) and {@code high} (the ones before), which identify the
 * word exactly ({@code low} is never 0, {@code high} is 0 exactly when the word has at most 8 chars). Any
 * other word is a <em>pool</em> word: {@code low = hash << 32 | 0x100} (never an inline key), and it is
 * compared char by char with the pool. The word's hash mixes {@code low} and {@code high} (inline) or is
 * its spread {@link String#hashCode()} (pool).
 *
 * <h2>Layout (primitive arrays only)</h2>
 * <ul>
 *   <li>{@code pool}: the vocabulary's chars, words separated by one space; {@code vocabEnds} gives each
 *       word's end.</li>
 *   <li>{@code slots}: an open-addressing table of the vocabulary (linear probing, load about 5/8), two
 *       longs per slot, so that a slot never straddles two cache lines: {@code low}, and
 *       {@code info << 32 | tag}, where {@code tag} is 0 for an inline word of at most 8 chars ({@code high
 *       = 0}), {@code k + 1} for a longer inline word whose {@code high} is {@code longHighs[k]}, and
 *       {@code -(poolStart + 1)} for a pool word. A slot's index is the word's identity and the id of its
 *       depth-1 trie node.</li>
 *   <li>{@code edges}: the trie over words for multi-word queries, an open-addressing table of
 *       {@code (node << 32 | wordSlot) -> (childInfo << 32 | child)}, two longs per entry. Deeper nodes get
 *       ids from {@code capacity} up. The probe for a child of a depth-1 node starts at a position derived
 *       from the two words' hashes, so it is known before any table is read; {@code pairBits}, a one-hash
 *       Bloom filter of about 8 bits per edge over the same two hashes, rules out most word pairs that
 *       start no multi-word query without touching the edge table.</li>
 * </ul>
 * A node's info is {@code (id + 1) << 1 | hasChildren}, where {@code id} is the id of the query ending
 * there (info 0 or 1 when none).
 *
 * <h2>Matching</h2>
 * {@link #scan} tokenises the caption exactly as {@link Words#tokenize} does, without branches on the
 * common letters and separators: a table computed once from {@link Words#isIdeograph},
 * {@link Words#isWordChar}, {@link Words#isApostrophe} and {@link Character#toLowerCase(int)} classifies
 * and lower-cases every BMP char; apostrophes, ideographs, surrogates and the BMP chars whose lower case
 * lies outside the BMP (none in current Unicode) take a general path that calls those same methods.
 * {@link #resolve} then reads, for all words at once, the slot and the first trie edge each will need
 * (independent loads, which the processor overlaps instead of waiting for one cache miss after another)
 * and looks the words up; {@link #collect} walks the trie from every position. Tables are sized at about
 * 5/8 load (not to a power of two) to keep the memory, and so the cache and TLB misses, small.
 */
final class WordAutomaton {

  static final int SEPARATOR = 0;
  static final int WORD = 1;
  static final int APOSTROPHE = 2;
  static final int IDEOGRAPH = 3;
  static final int GENERAL = 4;

  /** Longest inline word, in chars. */
  static final int INLINE_MAX = 16;

  /** Per BMP char: {@code class << 16 | lowerCaseChar} (the char is 0 for non-word classes). */
  private static final int[] BMP = bmpTable();

  private static final long EMPTY_EDGE = -1L;

  private final char[] pool;
  private final int[] vocabEnds;
  private final long[] slots;
  private final long[] pairBits;
  private final int pairShift;
  private final int capacity;
  private final long[] edges;
  private final int edgeCapacity;
  private long[] longHighs;
  private final int[] queryIds;
  private final int[] queryWordStart;
  private final int[] queryWords;
  private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

  /** Per-thread buffers reused from caption to caption, and the scanner's state on its general path. */
  static final class Scratch {
    /** The caption's chars. */
    char[] chars = new char[0];
    /** The caption's lower-cased words, concatenated; a word can take two chars per caption char. */
    char[] text = new char[0];
    /** Per word: its end in {@link #text}. */
    int[] ends = new int[0];
    /** Per word: its {@code low} key (the scanner shifts every char in; only the last 8 remain). */
    long[] lows = new long[0];
    /** Per word: its {@code high} key (set by {@link #resolve}). */
    long[] highs = new long[0];
    /** Per word: whether it is a pool word (set by {@link #resolve}). */
    boolean[] poolWords = new boolean[0];
    /** Per word: its hash. */
    int[] hashes = new int[0];
    /** Per word: its vocabulary slot, or -1. */
    int[] words = new int[0];
    /** Per word: the info of its depth-1 trie node. */
    int[] infos = new int[0];
    /** Per word: where the edge probe to the next word starts, or -1 when no query starts with the pair. */
    int[] edgeAt = new int[0];

    /** Query ids found: in finding order, then sorted and distinct. */
    int[] hits = new int[64];
    /** Room for sorting {@link #hits}. */
    int[] sorted = new int[64];
    /** Sum of the values read ahead of use, kept so that those reads cannot be optimised away. */
    long touched;

    // The scanner's state while it is on its general path.
    int end;
    int start;
    int count;
    long low;
    /** The bitwise or of all word chars of the caption: below 0x100 when the caption is Latin-1. */
    int wide;

    Scratch() {
      this(256);
    }

    Scratch(int captionLength) {
      ensureCapacity(captionLength);
    }

    void ensureCapacity(int captionLength) {
      if (chars.length < captionLength) {
        int length = Math.max(captionLength, 2 * chars.length);
        chars = new char[length];
        text = new char[2 * length + 1];
        ends = new int[length + 1];
        lows = new long[length + 1];
        highs = new long[length + 1];
        poolWords = new boolean[length + 1];
        hashes = new int[length + 1];
        words = new int[length + 1];
        infos = new int[length + 1];
        edgeAt = new int[length + 1];
      }
    }

    /** Appends {@code c} to the current word. */
    void append(char c) {
      text[end++] = c;
      low = low << 8 | c;
      wide |= c;
    }

    /** Ends the current word, if any. */
    void flush() {
      if (end > start) {
        ends[count] = end;
        lows[count] = low;
        count++;
        start = end;
        low = 0;
      }
    }
  }

  private WordAutomaton(char[] pool, int[] vocabEnds, int capacity, int edgeCapacity, int[] queryIds,
      int[] queryWordStart, int[] queryWords) {
    this.pool = pool;
    this.vocabEnds = vocabEnds;
    this.capacity = capacity;
    this.slots = new long[2 * capacity];
    int pairBitCount = Math.max(64, Integer.highestOneBit(Math.max(1, 5 * edgeCapacity - 1)) << 1);
    this.pairBits = new long[pairBitCount >>> 6];
    this.pairShift = 64 - Integer.numberOfTrailingZeros(pairBitCount);
    this.edges = new long[2 * edgeCapacity];
    Arrays.fill(edges, EMPTY_EDGE);
    this.edgeCapacity = edgeCapacity;
    this.queryIds = queryIds;
    this.queryWordStart = queryWordStart;
    this.queryWords = queryWords;
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

  /** Table size for {@code entries} entries at a load of about 5/8. */
  private static int capacityFor(int entries) {
    return (int) Math.max(2, entries * 8L / 5 + 1);
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

  /** The hash of an inline word with keys {@code low} and {@code high}. */
  private static int inlineHash(long low, long high) {
    return (int) (((high * 0x9E3779B97F4A7C15L) ^ low) * 0xC2B2AE3D27D4EB4FL >>> 32);
  }

  /** The hash of a pool word with {@link String#hashCode()} {@code stringHash}. */
  private static int poolHash(int stringHash) {
    int h = stringHash * 0x9E3779B9;
    return h ^ (h >>> 16);
  }

  private static int stringHash(char[] chars, int from, int length) {
    int hash = 0;
    for (int k = from; k < from + length; k++) {
      hash = 31 * hash + chars[k];
    }
    return hash;
  }

  private void build(int words) {
    longHighs = new long[16];
    int longWords = 0;
    int[] slotOfWord = new int[words];
    int[] hashOfWord = new int[words];
    for (int w = 0; w < words; w++) {
      int start = vocabStart(w);
      int length = vocabEnds[w] - start;
      if (length == 0) {
        throw new IllegalArgumentException("vocabulary word " + w + " is empty");
      }
      long low = 0;
      long high = 0;
      int wide = 0;
      for (int k = start; k < start + length; k++) {
        char c = pool[k];
        high = high << 8 | low >>> 56;
        low = low << 8 | c;
        wide |= c == 0 ? 0x100 : c;
      }
      boolean inline = length <= INLINE_MAX && wide < 0x100;
      int hash = inline ? inlineHash(low, high) : poolHash(stringHash(pool, start, length));
      if (!inline) {
        low = (long) hash << 32 | 0x100;
        high = 0;
      }
      hashOfWord[w] = hash;
      int tag = 0;
      if (!inline) {
        tag = -(start + 1);
      } else if (high != 0) {
        if (longWords == longHighs.length) {
          longHighs = Arrays.copyOf(longHighs, 2 * longWords);
        }
        longHighs[longWords++] = high;
        tag = longWords;
      }
      slotOfWord[w] = insertWord(hash, low, high, tag, start, length);
    }
    int[] entryOfDeepNode = new int[queryWords.length];
    int deepNodes = 0;
    for (int q = 0; q < queryIds.length; q++) {
      int from = queryWordStart[q];
      int to = queryWordStart[q + 1];
      int node = slotOfWord[queryWords[from]];
      int nodeHash = hashOfWord[queryWords[from]];
      for (int k = from + 1; k < to; k++) {
        int word = slotOfWord[queryWords[k]];
        long key = (long) node << 32 | word;
        long pair = pairHash(nodeHash, hashOfWord[queryWords[k]]);
        if (k == from + 1) {
          int bit = pairBit(pair);
          pairBits[bit >>> 6] |= 1L << bit;
        }
        int entry = edgeIndex(pair);
        while (edges[2 * entry] != key && edges[2 * entry] != EMPTY_EDGE) {
          entry = entry + 1 == edgeCapacity ? 0 : entry + 1;
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
    longHighs = Arrays.copyOf(longHighs, longWords);
  }

  private int insertWord(int hash, long low, long high, int tag, int start, int length) {
    int index = home(hash);
    while (true) {
      long key = slots[2 * index];
      if (key == 0) {
        slots[2 * index] = low;
        slots[2 * index + 1] = tag & 0xFFFFFFFFL;
        return index;
      }
      if (key == low && matches((int) slots[2 * index + 1], high, tag < 0, pool, start, length)) {
        throw new IllegalArgumentException(
            "vocabulary word '" + new String(pool, start, length) + "' appears twice");
      }
      index = index + 1 == capacity ? 0 : index + 1;
    }
  }

  /** The slot where probing for a word with hash {@code hash} starts. */
  private int home(int hash) {
    return (int) ((hash & 0xFFFFFFFFL) * capacity >>> 32);
  }

  private int info(int node, int[] entryOfDeepNode) {
    if (node < capacity) {
      return (int) (slots[2 * node + 1] >>> 32);
    }
    return (int) (edges[2 * entryOfDeepNode[node - capacity] + 1] >>> 32);
  }

  private void setInfo(int node, int[] entryOfDeepNode, int info) {
    if (node < capacity) {
      slots[2 * node + 1] = (long) info << 32 | (slots[2 * node + 1] & 0xFFFFFFFFL);
    } else {
      int entry = entryOfDeepNode[node - capacity];
      edges[2 * entry + 1] = (long) info << 32 | (edges[2 * entry + 1] & 0xFFFFFFFFL);
    }
  }

  private static int deepNodeHash(int node) {
    return node * 0x85EBCA6B;
  }

  /** Mixes the hash of a node and of a word into the hash of the edge between them. */
  private static long pairHash(int nodeHash, int wordHash) {
    return ((long) nodeHash << 32 | (wordHash & 0xFFFFFFFFL)) * 0x9E3779B97F4A7C15L;
  }

  /** The edge table entry where probing for the edge with hash {@code pair} starts. */
  private int edgeIndex(long pair) {
    return (int) ((pair >>> 32) * edgeCapacity >>> 32);
  }

  /** The bit of {@code pairBits} for the edge with hash {@code pair}. */
  private int pairBit(long pair) {
    return (int) (pair * 0xC2B2AE3D27D4EB4FL >>> pairShift);
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
    return sortDistinct(s, collect(s, wordCount));
  }

  /**
   * Tokenises {@code chars[0 .. n)} exactly as {@link Words#tokenize} does: word {@code j} is
   * {@code s.text[s.ends[j - 1] .. s.ends[j])} (from 0 for the first), with its chars shifted into
   * {@code s.lows[j]} one byte each; {@code s.wide} becomes the or of all word chars. Returns the number of
   * words.
   *
   * <p>On letters, digits and marks ({@code WORD}) and separators the loop has no data-dependent branch:
   * it always stores the current word's state at index {@code count} and advances {@code count} by one
   * exactly when a separator ends a non-empty word.
   */
  private static int scan(char[] chars, int n, Scratch s) {
    final int[] table = BMP;
    final char[] text = s.text;
    final int[] ends = s.ends;
    final long[] lows = s.lows;
    int end = 0;
    int start = 0;
    int count = 0;
    long low = 0;
    int wide = 0;
    int i = 0;
    while (i < n) {
      int entry = table[chars[i]];
      int cls = entry >>> 16;
      if (cls <= WORD) {
        int lower = entry & 0xFFFF;
        int mask = -cls;
        ends[count] = end;
        lows[count] = low;
        count += ~mask & ((start - end) >>> 31);
        text[end] = (char) lower;
        end += cls;
        start = (start & mask) | (end & ~mask);
        low = (low << 8 | lower) & mask;
        wide |= lower;
        i++;
      } else {
        s.end = end;
        s.start = start;
        s.count = count;
        s.low = low;
        s.wide = wide;
        i = scanGeneral(chars, n, i, cls, entry, s);
        end = s.end;
        start = s.start;
        count = s.count;
        low = s.low;
        wide = s.wide;
      }
    }
    s.end = end;
    s.start = start;
    s.count = count;
    s.low = low;
    s.wide = wide;
    s.flush();
    return s.count;
  }

  /** Handles the char at {@code i} of class {@code cls} other than WORD or SEPARATOR; returns the next index. */
  private static int scanGeneral(char[] chars, int n, int i, int cls, int entry, Scratch s) {
    if (cls == APOSTROPHE) {
      if (s.end > s.start) {
        if (i + 1 < n && continuesWord(chars, i + 1, n)) {
          s.append('\'');
        } else {
          s.flush();
        }
      }
      return i + 1;
    }
    if (cls == IDEOGRAPH) {
      s.flush();
      s.append((char) entry);
      s.flush();
      return i + 1;
    }
    int cp = Character.codePointAt(chars, i, n);
    if (Words.isIdeograph(cp)) {
      s.flush();
      appendCodePoint(s, Character.toLowerCase(cp));
      s.flush();
    } else if (Words.isWordChar(cp)) {
      appendCodePoint(s, Character.toLowerCase(cp));
    } else {
      // Every apostrophe is a BMP char and has class APOSTROPHE, so this code point separates.
      s.flush();
    }
    return i + Character.charCount(cp);
  }

  private static void appendCodePoint(Scratch s, int cp) {
    if (Character.isBmpCodePoint(cp)) {
      s.append((char) cp);
    } else {
      s.append(Character.highSurrogate(cp));
      s.append(Character.lowSurrogate(cp));
    }
  }

  /** The words {@link #scan} finds in {@code text}, as strings (to test the scanner against Words). */
  static List<String> scanWords(CharSequence text) {
    var s = new Scratch(text.length());
    for (int i = 0; i < text.length(); i++) {
      s.chars[i] = text.charAt(i);
    }
    int count = scan(s.chars, text.length(), s);
    var words = new ArrayList<String>(count);
    for (int j = 0, start = 0; j < count; j++) {
      String word = new String(s.text, start, s.ends[j] - start);
      long low = 0;
      for (char c : word.toCharArray()) {
        low = low << 8 | c;
      }
      if (low != s.lows[j]) {
        throw new IllegalStateException("Scanner keyed word '" + word + "' wrongly");
      }
      words.add(word);
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

  /**
   * Sets {@code s.words[j]} to the vocabulary slot of word {@code j} (or -1 when it is not a query word),
   * {@code s.infos[j]} to the info of its depth-1 node and {@code s.edgeAt[j]} to where the probe for the
   * edge to word {@code j + 1} starts (-1 when no query starts with the pair).
   */
  private void resolve(Scratch s, int count) {
    final long[] table = slots;
    final long[] edgeTable = edges;
    final long[] pairFilter = pairBits;
    final int[] words = s.words;
    final int[] infos = s.infos;
    final int[] edgeAt = s.edgeAt;
    final int[] hashes = s.hashes;
    final int[] ends = s.ends;
    final long[] lows = s.lows;
    final long[] highs = s.highs;
    final boolean[] poolWords = s.poolWords;
    final char[] text = s.text;
    final boolean latin1 = s.wide < 0x100;
    long touched = 0;
    int previousHash = 0;
    for (int j = 0, start = 0; j < count; j++) {
      int end = ends[j];
      int length = end - start;
      boolean poolWord = length > INLINE_MAX;
      if (!poolWord && !latin1) {
        int wide = 0;
        for (int k = start; k < end; k++) {
          wide |= text[k];
        }
        poolWord = wide >= 0x100;
      }
      long high = 0;
      int hash;
      if (poolWord) {
        hash = poolHash(stringHash(text, start, length));
        lows[j] = (long) hash << 32 | 0x100;
      } else {
        for (int k = start; k < end - 8; k++) {
          high = high << 8 | text[k];
        }
        hash = inlineHash(lows[j], high);
      }
      highs[j] = high;
      poolWords[j] = poolWord;
      hashes[j] = hash;
      touched += table[2 * home(hash)];
      edgeAt[j] = -1;
      if (j > 0) {
        long pair = pairHash(previousHash, hash);
        int bit = pairBit(pair);
        if ((pairFilter[bit >>> 6] & 1L << bit) != 0) {
          int entry = edgeIndex(pair);
          edgeAt[j - 1] = entry;
          touched += edgeTable[2 * entry];
        }
      }
      previousHash = hash;
      start = end;
    }
    s.touched = touched;
    for (int j = 0, start = 0; j < count; j++) {
      int end = ends[j];
      int slot = lookup(hashes[j], lows[j], highs[j], poolWords[j], text, start, end - start);
      words[j] = slot;
      infos[j] = slot < 0 ? 0 : (int) (table[2 * slot + 1] >>> 32);
      start = end;
    }
  }

  /** The slot of the word with the given keys, whose chars are {@code text[from .. from + length)}, or -1. */
  private int lookup(int hash, long low, long high, boolean poolWord, char[] text, int from, int length) {
    final long[] table = slots;
    int index = home(hash);
    while (true) {
      long key = table[2 * index];
      if (key == low) {
        if (matches((int) table[2 * index + 1], high, poolWord, text, from, length)) {
          return index;
        }
      } else if (key == 0) {
        return -1;
      }
      index = index + 1 == capacity ? 0 : index + 1;
    }
  }

  /**
   * Whether the slot with {@code tag}, whose {@code low} key equals the word's, holds the word with
   * {@code high} key (inline) or chars {@code text[from .. from + length)} (pool).
   */
  private boolean matches(int tag, long high, boolean poolWord, char[] text, int from, int length) {
    if (poolWord) {
      if (tag >= 0) {
        return false;
      }
      int start = -tag - 1;
      int end = start + length;
      return end <= pool.length && (end == pool.length || pool[end] == ' ')
          && samePoolChars(start, text, from, length);
    }
    return high == 0 ? tag == 0 : tag > 0 && longHighs[tag - 1] == high;
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
    final int[] infos = s.infos;
    final int[] edgeAt = s.edgeAt;
    final int[] hashes = s.hashes;
    final long[] edgeTable = edges;
    int hits = 0;
    for (int j = 0; j < wordCount; j++) {
      int slot = words[j];
      if (slot < 0) {
        continue;
      }
      int info = infos[j];
      if (info > 1) {
        hits = addHit(s, hits, (info >>> 1) - 1);
      }
      if ((info & 1) == 0 || edgeAt[j] < 0) {
        continue;
      }
      int node = slot;
      int entry = edgeAt[j];
      for (int k = j + 1; k < wordCount; k++) {
        int word = words[k];
        if (word < 0) {
          break;
        }
        long key = (long) node << 32 | word;
        long found;
        while ((found = edgeTable[2 * entry]) != key && found != EMPTY_EDGE) {
          entry = entry + 1 == edgeCapacity ? 0 : entry + 1;
        }
        if (found == EMPTY_EDGE) {
          break;
        }
        long child = edgeTable[2 * entry + 1];
        info = (int) (child >>> 32);
        if (info > 1) {
          hits = addHit(s, hits, (info >>> 1) - 1);
        }
        if ((info & 1) == 0 || k + 1 == wordCount) {
          break;
        }
        node = (int) child;
        entry = edgeIndex(pairHash(deepNodeHash(node), hashes[k + 1]));
      }
    }
    return hits;
  }

  /** Appends {@code id} to {@code s.hits[0 .. count)}; returns the new count. */
  private static int addHit(Scratch s, int count, int id) {
    if (count == s.hits.length) {
      s.hits = Arrays.copyOf(s.hits, 2 * count);
    }
    s.hits[count] = id;
    return count + 1;
  }

  /**
   * Sorts {@code s.hits[0 .. count)} and drops repeats; returns the new count. Up to 64 hits are placed
   * by their rank (how many hits sort before each), counted without branches: ids are below 2^30, so the
   * sign bit of a difference is a comparison.
   */
  private static int sortDistinct(Scratch s, int count) {
    if (count <= 1) {
      return count;
    }
    int[] hits = s.hits;
    if (count > 64) {
      Arrays.sort(hits, 0, count);
    } else {
      int[] sorted = s.sorted;
      for (int i = 0; i < count; i++) {
        int id = hits[i];
        int rank = 0;
        for (int j = 0; j < i; j++) {
          rank += (hits[j] - id - 1) >>> 31;
        }
        for (int j = i + 1; j < count; j++) {
          rank += (hits[j] - id) >>> 31;
        }
        sorted[rank] = id;
      }
      s.sorted = hits;
      s.hits = sorted;
      hits = sorted;
    }
    int distinct = 1;
    for (int i = 1; i < count; i++) {
      int id = hits[i];
      hits[distinct] = id;
      distinct += hits[distinct - 1] == id ? 0 : 1;
    }
    return distinct;
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
