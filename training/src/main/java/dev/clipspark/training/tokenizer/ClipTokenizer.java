package dev.clipspark.training.tokenizer;

import dev.clipspark.dataset.config.ConfigValueException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import org.apache.hadoop.conf.Configuration;

/**
 * CLIP's tokenizer: lower-cased byte-level BPE, behaving as OpenAI's {@code simple_tokenizer.py}.
 *
 * <p>{@link #encode} cleans the text ({@link TextCleaner}), splits it into pieces ({@link PreTokenizer}),
 * writes each piece's UTF-8 bytes as {@link BytesToUnicode} symbols with {@code </w>} appended to the last
 * one, and applies the merges by rank: repeatedly, the adjacent pair with the lowest rank is merged
 * everywhere in the word, left to right, until no pair has a rank. Results are kept in a bounded word cache
 * ({@value #CACHE_LIMIT} words; it is emptied when full).
 *
 * <p>The vocabulary is built in CLIP's order: the 256 byte symbols in {@link BytesToUnicode} table order, the
 * same 256 with {@code </w>}, one token per merge ({@code left + right}) in merge order, then
 * {@value #START_OF_TEXT} and {@value #END_OF_TEXT}. So {@code vocabSize = 512 + merges + 2}; with the first
 * 48,894 merges of OpenAI's {@code bpe_simple_vocab_16e6.txt.gz} it is 49,408 and the ids are OpenAI's
 * ({@code <|startoftext|>} 49406, {@code <|endoftext|>} 49407). Where two merges make the same token, the
 * later id is the one {@link #encode} produces, as in CLIP's dictionary.
 *
 * <p>Instances are immutable and thread-safe. They serialise as their list of merges (a few hundred KB for
 * CLIP's), so they can be broadcast to Spark executors.
 */
public final class ClipTokenizer implements Serializable {

  private static final long serialVersionUID = 1L;

  /** The token that starts every tokenized text. */
  public static final String START_OF_TEXT = "<|startoftext|>";
  /** The token that ends every tokenized text. */
  public static final String END_OF_TEXT = "<|endoftext|>";
  /** The suffix that marks the last symbol of a word. */
  public static final String END_OF_WORD = "</w>";
  /** Tokens in a vocabulary that are not merges: 512 byte symbols and 2 special tokens. */
  public static final int BASE_TOKENS = 514;
  /** OpenAI CLIP's vocabulary size. */
  public static final int OPENAI_VOCAB_SIZE = 49_408;
  /** CLIP's context length. */
  public static final int DEFAULT_CONTEXT_LENGTH = 77;
  /** Words held by the word cache before it is emptied. */
  public static final int CACHE_LIMIT = 100_000;

  private final List<BpeMerge> merges;
  private final String[] vocab;
  private final Map<String, Integer> encoder;
  private final PairTable ranks;
  private final int[] mergeLeft;
  private final int[] mergeRight;
  private final int[] mergeResult;
  private final int[] byteIds;
  private final int[] byteEndIds;
  private final int sot;
  private final int eot;
  private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

  private ClipTokenizer(List<BpeMerge> merges) {
    this.merges = List.copyOf(merges);
    int m = this.merges.size();
    vocab = new String[BASE_TOKENS + m];
    encoder = new HashMap<>(vocab.length * 2);
    for (int i = 0; i < 256; i++) {
      vocab[i] = String.valueOf(BytesToUnicode.charOf(BytesToUnicode.byteAt(i)));
      vocab[256 + i] = vocab[i] + END_OF_WORD;
    }
    for (int i = 0; i < 512; i++) {
      encoder.put(vocab[i], i);
    }
    for (int r = 0; r < m; r++) {
      BpeMerge merge = this.merges.get(r);
      for (String symbol : new String[] {merge.left(), merge.right()}) {
        if (!encoder.containsKey(symbol)) {
          throw new IllegalArgumentException("Cannot build a tokenizer: merge " + (r + 1) + " (\"" + merge
              + "\") uses the symbol \"" + symbol + "\", which is neither a byte symbol nor made by an earlier merge");
        }
      }
      vocab[512 + r] = merge.token();
      encoder.put(vocab[512 + r], 512 + r);
    }
    vocab[512 + m] = START_OF_TEXT;
    vocab[513 + m] = END_OF_TEXT;
    encoder.put(START_OF_TEXT, 512 + m);
    encoder.put(END_OF_TEXT, 513 + m);
    sot = encoder.get(START_OF_TEXT);
    eot = encoder.get(END_OF_TEXT);
    ranks = new PairTable(m);
    mergeLeft = new int[m];
    mergeRight = new int[m];
    mergeResult = new int[m];
    for (int r = 0; r < m; r++) {
      BpeMerge merge = this.merges.get(r);
      mergeLeft[r] = encoder.get(merge.left());
      mergeRight[r] = encoder.get(merge.right());
      mergeResult[r] = encoder.get(merge.token());
      ranks.put(mergeLeft[r], mergeRight[r], r);
    }
    byteIds = new int[256];
    byteEndIds = new int[256];
    for (int b = 0; b < 256; b++) {
      String symbol = String.valueOf(BytesToUnicode.charOf(b));
      byteIds[b] = encoder.get(symbol);
      byteEndIds[b] = encoder.get(symbol + END_OF_WORD);
    }
  }

  /** A tokenizer with exactly these merges: a vocabulary of {@code 514 + merges.size()} tokens. */
  public static ClipTokenizer of(List<BpeMerge> merges) {
    return new ClipTokenizer(merges);
  }

  /**
   * Loads the first {@code vocabSize - 514} merges of a merges file (local path or Hadoop URI, plain or
   * gzip), read with a default Hadoop configuration.
   *
   * @throws IllegalArgumentException if the file cannot be read or has fewer merges than the vocabulary needs
   */
  public static ClipTokenizer load(String location, int vocabSize) {
    return load(location, vocabSize, new Configuration());
  }

  /**
   * Loads the first {@code vocabSize - 514} merges of a merges file (local path or Hadoop URI, plain or
   * gzip) as CLIP does: with OpenAI's file and {@code vocabSize} 49,408 the ids are OpenAI's.
   *
   * @throws IllegalArgumentException if {@code vocabSize} is below 515, or the file cannot be read, or it
   *     has fewer merges than the vocabulary needs
   */
  public static ClipTokenizer load(String location, int vocabSize, Configuration conf) {
    if (vocabSize < TokenizerOptions.VOCAB_SIZE_MIN || vocabSize > TokenizerOptions.VOCAB_SIZE_MAX) {
      throw new IllegalArgumentException("Cannot load merges file " + location + " for a vocabulary of "
          + vocabSize + " tokens: the size must be between " + TokenizerOptions.VOCAB_SIZE_MIN
          + " (512 byte symbols, 2 special tokens, 1 merge) and " + TokenizerOptions.VOCAB_SIZE_MAX);
    }
    int needed = vocabSize - BASE_TOKENS;
    List<BpeMerge> merges = MergesFile.read(location, needed, conf);
    if (merges.size() < needed) {
      throw new IllegalArgumentException(String.format(
          "Cannot load merges file %s: it has %d merges, but a vocabulary of %d tokens needs %d "
              + "(512 byte symbols + %d merges + 2 special tokens); use a vocabulary size of at most %d",
          location, merges.size(), vocabSize, needed, needed, BASE_TOKENS + merges.size()));
    }
    return new ClipTokenizer(merges);
  }

  /**
   * Loads the tokenizer for a model whose token embedding has {@code modelVocab} rows ({@code text.vocab_size}).
   * A tokenizer may be smaller than the embedding (ids from its size on are never produced and their rows are
   * never read: this is how a model trained with a small learned tokenizer, or an open_clip export of one, is
   * used), never larger (its ids would have no row).
   *
   * @param vocabSize the tokenizer's size; 0 for as many tokens as the file provides, up to {@code modelVocab}
   *     (the first {@code modelVocab - 514} merges, as CLIP reads OpenAI's file)
   * @throws IllegalArgumentException if {@code vocabSize} is larger than {@code modelVocab}, or the file cannot
   *     be read, has no merge, or fewer merges than {@code vocabSize} needs
   */
  public static ClipTokenizer forModel(String location, int modelVocab, int vocabSize, Configuration conf) {
    if (vocabSize > modelVocab) {
      throw new IllegalArgumentException(String.format(
          "Cannot use a tokenizer of %d tokens (%s) with a model whose token embedding has %d rows"
              + " (text.vocab_size): ids %d to %d would have no embedding; use at most %d tokens",
          vocabSize, location, modelVocab, modelVocab, vocabSize - 1, modelVocab));
    }
    if (vocabSize > 0) {
      return load(location, vocabSize, conf);
    }
    if (modelVocab < TokenizerOptions.VOCAB_SIZE_MIN) {
      throw new IllegalArgumentException(String.format(
          "Cannot use any tokenizer with a model whose token embedding has %d rows (text.vocab_size): a tokenizer"
              + " has at least %d tokens (512 byte symbols, 2 special tokens, 1 merge)", modelVocab,
          TokenizerOptions.VOCAB_SIZE_MIN));
    }
    List<BpeMerge> merges = MergesFile.read(location, modelVocab - BASE_TOKENS, conf);
    if (merges.isEmpty()) {
      throw new IllegalArgumentException("Cannot load merges file " + location + ": it has no merges");
    }
    return new ClipTokenizer(merges);
  }

  /**
   * Loads the tokenizer the options name: {@code tokenizer.merges} with {@code tokenizer.vocab-size}.
   *
   * @throws ConfigValueException if {@code tokenizer.merges} is empty
   */
  public static ClipTokenizer load(TokenizerOptions options, Configuration conf) {
    if (options.merges().isBlank()) {
      throw new ConfigValueException(TokenizerOptions.MERGES, "\"\"",
          "must name a merges file to load a tokenizer from (OpenAI's bpe_simple_vocab_16e6.txt.gz or one "
              + "written by BpeTrainer)");
    }
    return load(options.merges(), options.vocabSize(), conf);
  }

  /** The ids of {@code text}, without start and end tokens. */
  public int[] encode(String text) {
    String clean = TextCleaner.clean(text);
    int[] out = new int[Math.max(8, clean.length())];
    int n = 0;
    Matcher m = PreTokenizer.PATTERN.matcher(clean);
    while (m.find()) {
      int[] word = word(m.group());
      if (n + word.length > out.length) {
        out = Arrays.copyOf(out, Math.max(out.length * 2, n + word.length));
      }
      System.arraycopy(word, 0, out, n, word.length);
      n += word.length;
    }
    return Arrays.copyOf(out, n);
  }

  /**
   * The text of {@code ids}, as CLIP decodes: the tokens joined, mapped back to bytes, read as UTF-8 (invalid
   * sequences become U+FFFD), every {@code </w>} replaced by a space. For a cleaned text {@code t},
   * {@code decode(encode(t))} is {@code t} with a space after every word-final token, so
   * {@code decode(encode(t)).strip()} equals {@code t} with single spaces between the pieces that white space
   * separated.
   *
   * @throws IllegalArgumentException if an id is outside the vocabulary
   */
  public String decode(int[] ids) {
    var symbols = new StringBuilder(ids.length * 4);
    for (int id : ids) {
      if (id < 0 || id >= vocab.length) {
        throw new IllegalArgumentException("Cannot decode token id " + id + ": the vocabulary has ids 0 to "
            + (vocab.length - 1));
      }
      symbols.append(vocab[id]);
    }
    byte[] bytes = new byte[symbols.length()];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) BytesToUnicode.byteOf(symbols.charAt(i));
    }
    return new String(bytes, StandardCharsets.UTF_8).replace(END_OF_WORD, " ");
  }

  /** {@link #tokenize(List, int, boolean)} with CLIP's context length 77 and truncation. */
  public int[][] tokenize(List<String> texts) {
    return tokenize(texts, DEFAULT_CONTEXT_LENGTH, true);
  }

  /**
   * One row of {@code contextLength} ids per text: {@code [sot] + encode(text) + [eot]}, padded with 0. A
   * longer row is cut to {@code contextLength} with its last id replaced by the end token when
   * {@code truncate} is set (open_clip's behaviour), and refused otherwise.
   *
   * @throws IllegalArgumentException if {@code contextLength < 2}, or a text is too long and
   *     {@code truncate} is false
   */
  public int[][] tokenize(List<String> texts, int contextLength, boolean truncate) {
    if (contextLength < 2) {
      throw new IllegalArgumentException("Cannot tokenize with a context length of " + contextLength
          + ": it must be at least 2, for the start and end tokens");
    }
    int[][] rows = new int[texts.size()][];
    for (int t = 0; t < rows.length; t++) {
      String text = texts.get(t);
      int[] ids = encode(text);
      int[] row = new int[contextLength];
      row[0] = sot;
      if (ids.length + 2 <= contextLength) {
        System.arraycopy(ids, 0, row, 1, ids.length);
        row[ids.length + 1] = eot;
      } else if (truncate) {
        System.arraycopy(ids, 0, row, 1, contextLength - 2);
        row[contextLength - 1] = eot;
      } else {
        String shown = text.length() > 60 ? text.substring(0, 60) + "..." : text;
        throw new IllegalArgumentException("Cannot tokenize text " + t + " (\"" + shown + "\"): it has "
            + (ids.length + 2) + " tokens with the start and end tokens, more than the context length "
            + contextLength + "; tokenize with truncate=true to cut it");
      }
      rows[t] = row;
    }
    return rows;
  }

  /** The number of tokens: {@code 514 + merges().size()}. */
  public int vocabSize() {
    return vocab.length;
  }

  /** The id of {@value #START_OF_TEXT}. */
  public int sotTokenId() {
    return sot;
  }

  /** The id of {@value #END_OF_TEXT}. */
  public int eotTokenId() {
    return eot;
  }

  /** The token with id {@code id}, in {@link BytesToUnicode} symbols. */
  public String token(int id) {
    if (id < 0 || id >= vocab.length) {
      throw new IllegalArgumentException("Cannot look up token id " + id + ": the vocabulary has ids 0 to "
          + (vocab.length - 1));
    }
    return vocab[id];
  }

  /** The id {@link #encode} uses for {@code token} (the last one if two merges made it), or -1. */
  public int id(String token) {
    Integer id = encoder.get(token);
    return id == null ? -1 : id;
  }

  /** The merges, in rank order. */
  public List<BpeMerge> merges() {
    return merges;
  }

  /** Words in the word cache now. */
  int cacheSize() {
    return cache.size();
  }

  /** The ids of one piece of pre-tokenised text. */
  private int[] word(String piece) {
    int[] ids = cache.get(piece);
    if (ids != null) {
      return ids;
    }
    if (piece.equals(START_OF_TEXT)) {
      return new int[] {sot};
    }
    if (piece.equals(END_OF_TEXT)) {
      return new int[] {eot};
    }
    ids = bpe(piece.getBytes(StandardCharsets.UTF_8));
    if (cache.size() >= CACHE_LIMIT) {
      cache.clear();
    }
    cache.put(piece, ids);
    return ids;
  }

  /** CLIP's {@code bpe}: merges by lowest rank, each applied everywhere in the word, left to right. */
  private int[] bpe(byte[] bytes) {
    int len = bytes.length;
    int[] word = new int[len];
    for (int i = 0; i < len - 1; i++) {
      word[i] = byteIds[bytes[i] & 0xFF];
    }
    word[len - 1] = byteEndIds[bytes[len - 1] & 0xFF];
    while (len > 1) {
      int best = Integer.MAX_VALUE;
      for (int i = 0; i < len - 1; i++) {
        int r = ranks.get(word[i], word[i + 1]);
        if (r >= 0 && r < best) {
          best = r;
        }
      }
      if (best == Integer.MAX_VALUE) {
        break;
      }
      int left = mergeLeft[best];
      int right = mergeRight[best];
      int merged = mergeResult[best];
      int j = 0;
      for (int i = 0; i < len; ) {
        if (i < len - 1 && word[i] == left && word[i + 1] == right) {
          word[j++] = merged;
          i += 2;
        } else {
          word[j++] = word[i++];
        }
      }
      len = j;
    }
    return Arrays.copyOf(word, len);
  }

  private Object writeReplace() {
    return new SerialForm(merges.toArray(new BpeMerge[0]));
  }

  private void readObject(ObjectInputStream in) throws InvalidObjectException {
    throw new InvalidObjectException("ClipTokenizer is serialised as its merges");
  }

  /** The serialised form: the merges; the tables are rebuilt on reading. */
  private record SerialForm(BpeMerge[] merges) implements Serializable {
    private static final long serialVersionUID = 1L;

    private Object readResolve() {
      return new ClipTokenizer(List.of(merges));
    }
  }
}
