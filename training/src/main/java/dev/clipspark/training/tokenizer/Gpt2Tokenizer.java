package dev.clipspark.training.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * GPT-2's byte-level BPE tokenizer (OpenAI's {@code encoder.py}; Hugging Face's {@code GPT2Tokenizer} without
 * added tokens): case-preserving, no text cleaning. {@link #PATTERN} splits the text into pieces (a leading space
 * stays with the word after it); each piece's UTF-8 bytes, written as {@link BytesToUnicode} symbols, are merged
 * by BPE, always applying the adjacent pair of lowest merge rank everywhere it occurs (left to right), until no
 * ranked pair is left; each resulting symbol is looked up in {@code vocab.json}. {@code <|endoftext|>} is not
 * recognised inside text (as in {@code encoder.py}): callers append {@link #endOfText()} themselves.
 *
 * <p>Files: {@code vocab.json} maps every token to its id (ids {@code 0..n-1}, each once; GPT-2's puts the 256
 * byte symbols first, then one token per merge, then {@code <|endoftext|>} = 50256), {@code merges.txt} lists
 * the merges in rank order after a {@code #version} line. Decoding joins the tokens' symbols and decodes the bytes
 * as UTF-8, replacing malformed sequences with U+FFFD.
 */
public final class Gpt2Tokenizer implements Serializable {

  private static final long serialVersionUID = 1L;

  /** The end-of-text token, GPT-2's only special token. */
  public static final String END_OF_TEXT = "<|endoftext|>";
  /** File name of the vocabulary in a tokenizer directory. */
  public static final String VOCAB_FILE = "vocab.json";
  /** File name of the merges in a tokenizer directory. */
  public static final String MERGES_FILE = "merges.txt";
  /** The header line of a merges file, as GPT-2's. */
  public static final String MERGES_HEADER = "#version: 0.2";

  /**
   * GPT-2's pre-tokenisation pattern, {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
   * \s+(?!\S)|\s+}, with Unicode's White_Space for {@code \s} as Python's {@code regex} module has it.
   */
  public static final Pattern PATTERN = Pattern.compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      Pattern.UNICODE_CHARACTER_CLASS);

  private static final int CACHE_LIMIT = 200_000;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String[] tokens;
  private final HashMap<String, Integer> ids;
  private final List<BpeMerge> merges;
  private final HashMap<String, Integer> ranks;
  private final int endOfText;
  private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

  private Gpt2Tokenizer(Map<String, Integer> vocab, List<BpeMerge> merges, String origin) {
    this.tokens = new String[vocab.size()];
    this.ids = new HashMap<>(vocab);
    for (Map.Entry<String, Integer> e : vocab.entrySet()) {
      int id = e.getValue();
      if (id < 0 || id >= tokens.length || tokens[id] != null) {
        throw new IllegalArgumentException(String.format("Cannot use the vocabulary %s: token \"%s\" has id %d, but"
            + " the ids of its %d tokens must be 0 to %d, each used once", origin, e.getKey(), id, tokens.length,
            tokens.length - 1));
      }
      tokens[id] = e.getKey();
    }
    for (int b = 0; b < 256; b++) {
      String symbol = String.valueOf(BytesToUnicode.charOf(b));
      if (!vocab.containsKey(symbol)) {
        throw new IllegalArgumentException(String.format("Cannot use the vocabulary %s: it lacks the symbol \"%s\""
            + " of byte %d (a byte-level vocabulary holds all 256)", origin, symbol, b));
      }
    }
    Integer eot = vocab.get(END_OF_TEXT);
    if (eot == null) {
      throw new IllegalArgumentException("Cannot use the vocabulary " + origin + ": it has no " + END_OF_TEXT);
    }
    this.endOfText = eot;
    this.merges = List.copyOf(merges);
    this.ranks = new HashMap<>(merges.size() * 2);
    for (int i = 0; i < merges.size(); i++) {
      BpeMerge m = merges.get(i);
      if (!vocab.containsKey(m.token())) {
        throw new IllegalArgumentException(String.format("Cannot use the merges of %s: merge %d (\"%s %s\") makes"
            + " \"%s\", which is not in the vocabulary", origin, i + 1, m.left(), m.right(), m.token()));
      }
      ranks.putIfAbsent(m.left() + " " + m.right(), i);
    }
  }

  /**
   * A tokenizer over an in-memory vocabulary and merges.
   *
   * @throws IllegalArgumentException if the ids are not {@code 0..n-1} each once, a byte symbol or
   *     {@code <|endoftext|>} is missing, or a merge makes a token the vocabulary lacks
   */
  public static Gpt2Tokenizer of(Map<String, Integer> vocab, List<BpeMerge> merges) {
    return new Gpt2Tokenizer(vocab, merges, "given");
  }

  /**
   * Reads {@code DIR/vocab.json} and {@code DIR/merges.txt} (local paths or Hadoop URIs).
   *
   * @throws IllegalArgumentException naming the file that cannot be read or is invalid
   */
  public static Gpt2Tokenizer load(String dir, Configuration conf) {
    return load(new Path(dir, VOCAB_FILE).toString(), new Path(dir, MERGES_FILE).toString(), conf);
  }

  /** Reads a vocabulary and a merges file; see {@link #load(String, Configuration)}. */
  public static Gpt2Tokenizer load(String vocabFile, String mergesFile, Configuration conf) {
    Map<String, Integer> vocab;
    Path path = new Path(vocabFile);
    try (InputStream in = path.getFileSystem(conf).open(path)) {
      vocab = JSON.readValue(in, new TypeReference<LinkedHashMap<String, Integer>>() { });
    } catch (java.io.FileNotFoundException e) {
      throw new IllegalArgumentException("Cannot read vocabulary " + vocabFile + ": it does not exist", e);
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot read vocabulary " + vocabFile + ": " + e.getMessage(), e);
    }
    return new Gpt2Tokenizer(vocab, MergesFile.readAll(mergesFile, conf), vocabFile + " with " + mergesFile);
  }

  /** Writes {@code DIR/vocab.json} and {@code DIR/merges.txt}, replacing what is there. */
  public void write(String dir, Configuration conf) {
    Path path = new Path(dir, VOCAB_FILE);
    var vocab = new LinkedHashMap<String, Integer>();
    for (int i = 0; i < tokens.length; i++) {
      vocab.put(tokens[i], i);
    }
    try (OutputStream out = path.getFileSystem(conf).create(path, true)) {
      out.write(JSON.writeValueAsString(vocab).getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot write vocabulary " + path + ": " + e.getMessage(), e);
    }
    MergesFile.write(new Path(dir, MERGES_FILE).toString(), MERGES_HEADER, merges, conf);
  }

  /** Whether {@code dir} holds both tokenizer files. */
  public static boolean exists(String dir, Configuration conf) {
    try {
      FileSystem fs = new Path(dir).getFileSystem(conf);
      return fs.isFile(new Path(dir, VOCAB_FILE)) && fs.isFile(new Path(dir, MERGES_FILE));
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot look for a tokenizer in " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Tokens of the vocabulary. */
  public int vocabSize() {
    return tokens.length;
  }

  /** The id of {@code <|endoftext|>}. */
  public int endOfText() {
    return endOfText;
  }

  /** The merges in rank order. */
  public List<BpeMerge> merges() {
    return merges;
  }

  /** The token of an id. */
  public String token(int id) {
    return tokens[id];
  }

  /** The pieces {@link #PATTERN} splits {@code text} into. */
  public static List<String> pieces(String text) {
    var out = new ArrayList<String>();
    Matcher m = PATTERN.matcher(text);
    while (m.find()) {
      out.add(m.group());
    }
    return out;
  }

  /** The ids of {@code text}, as OpenAI's {@code Encoder.encode}. */
  public int[] encode(String text) {
    int[] out = new int[Math.max(16, text.length())];
    int n = 0;
    Matcher m = PATTERN.matcher(text);
    while (m.find()) {
      String word = BytesToUnicode.encode(m.group().getBytes(StandardCharsets.UTF_8));
      int[] pieceIds = cache.get(word);
      if (pieceIds == null) {
        pieceIds = bpe(word);
        if (cache.size() >= CACHE_LIMIT) {
          cache.clear();
        }
        cache.put(word, pieceIds);
      }
      if (n + pieceIds.length > out.length) {
        out = Arrays.copyOf(out, Math.max(out.length * 2, n + pieceIds.length));
      }
      System.arraycopy(pieceIds, 0, out, n, pieceIds.length);
      n += pieceIds.length;
    }
    return Arrays.copyOf(out, n);
  }

  /** The text of {@code ids}: their tokens' bytes as UTF-8 (malformed sequences become U+FFFD). */
  public String decode(int[] ids) {
    var bytes = new java.io.ByteArrayOutputStream();
    for (int id : ids) {
      if (id < 0 || id >= tokens.length) {
        throw new IllegalArgumentException(String.format("Cannot decode token id %d: ids lie in [0, %d)", id,
            tokens.length));
      }
      String token = tokens[id];
      for (int i = 0; i < token.length(); i++) {
        int b = BytesToUnicode.byteOf(token.charAt(i));
        if (b < 0) {
          throw new IllegalArgumentException("Cannot decode token " + id + " (\"" + token + "\"): it is not made of"
              + " byte symbols");
        }
        bytes.write(b);
      }
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }

  /** One word's ids: merge the lowest-ranked adjacent pair everywhere, left to right, until none is ranked. */
  private int[] bpe(String word) {
    var symbols = new ArrayList<String>(word.length());
    for (int i = 0; i < word.length(); i++) {
      symbols.add(String.valueOf(word.charAt(i)));
    }
    while (symbols.size() > 1) {
      int best = Integer.MAX_VALUE;
      String left = null;
      String right = null;
      for (int i = 0; i + 1 < symbols.size(); i++) {
        Integer rank = ranks.get(symbols.get(i) + " " + symbols.get(i + 1));
        if (rank != null && rank < best) {
          best = rank;
          left = symbols.get(i);
          right = symbols.get(i + 1);
        }
      }
      if (left == null) {
        break;
      }
      var next = new ArrayList<String>(symbols.size());
      for (int i = 0; i < symbols.size(); ) {
        if (i + 1 < symbols.size() && symbols.get(i).equals(left) && symbols.get(i + 1).equals(right)) {
          next.add(left + right);
          i += 2;
        } else {
          next.add(symbols.get(i));
          i++;
        }
      }
      symbols = next;
    }
    int[] out = new int[symbols.size()];
    for (int i = 0; i < out.length; i++) {
      Integer id = ids.get(symbols.get(i));
      if (id == null) {
        throw new IllegalStateException("Cannot encode \"" + word + "\": its symbol \"" + symbols.get(i)
            + "\" is not in the vocabulary");
      }
      out[i] = id;
    }
    return out;
  }
}
