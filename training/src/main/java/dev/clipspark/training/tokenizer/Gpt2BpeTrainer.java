package dev.clipspark.training.tokenizer;

import static org.apache.spark.sql.functions.col;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;

/**
 * Learns a GPT-2-style byte-level BPE vocabulary from texts: each text is split by {@link Gpt2Tokenizer#PATTERN}
 * (case kept, no cleaning), each piece's UTF-8 bytes become a word of {@link BytesToUnicode} symbols, and
 * {@link BpeLearner} learns merges from the word counts without an end-of-word mark (most frequent adjacent pair
 * first, ties to the smallest left, then right, symbol). The vocabulary is GPT-2's layout: the 256 byte symbols in
 * {@link BytesToUnicode}'s table order (ids 0 to 255), one token per merge, then {@code <|endoftext|>}; so
 * {@code vocabSize - 257} merges are learned (fewer if no pair occurs twice).
 */
public final class Gpt2BpeTrainer {

  /** Byte symbols plus {@code <|endoftext|>}: the tokens a vocabulary has before any merge. */
  public static final int BASE_TOKENS = 257;
  /** The smallest vocabulary: the base tokens and one merge. */
  public static final int VOCAB_SIZE_MIN = BASE_TOKENS + 1;
  /** The largest vocabulary this trainer learns. */
  public static final int VOCAB_SIZE_MAX = 1_000_000;

  private Gpt2BpeTrainer() {}

  /**
   * Learns a tokenizer of {@code vocabSize} tokens (fewer if the texts support fewer merges) from word counts.
   *
   * @param wordCounts words in {@link BytesToUnicode} symbols with their counts ({@link #countWords})
   * @throws IllegalArgumentException if {@code vocabSize} is outside [{@value #VOCAB_SIZE_MIN},
   *     {@value #VOCAB_SIZE_MAX}]
   */
  public static Gpt2Tokenizer learn(Map<String, Long> wordCounts, int vocabSize) {
    checkVocabSize(vocabSize);
    List<BpeMerge> merges = BpeLearner.learnWithoutEndOfWord(wordCounts, vocabSize - BASE_TOKENS);
    var vocab = new LinkedHashMap<String, Integer>();
    for (int i = 0; i < 256; i++) {
      vocab.put(String.valueOf(BytesToUnicode.charOf(BytesToUnicode.byteAt(i))), i);
    }
    for (BpeMerge m : merges) {
      vocab.putIfAbsent(m.token(), vocab.size());
    }
    vocab.put(Gpt2Tokenizer.END_OF_TEXT, vocab.size());
    return Gpt2Tokenizer.of(vocab, merges);
  }

  /** Learns from texts on this machine; see {@link #learn}. */
  public static Gpt2Tokenizer learn(Iterable<String> texts, int vocabSize) {
    return learn(countWords(texts), vocabSize);
  }

  /**
   * Learns from a Spark dataset of texts (null entries skipped): the executors split and count the words, the
   * driver collects the {@value BpeTrainer#MAX_WORDS} most frequent (ties by word) and learns from them.
   */
  public static Gpt2Tokenizer learn(Dataset<String> texts, int vocabSize) {
    checkVocabSize(vocabSize);
    // The texts' one column is "value" for text files but "caption" for a dataset's captions: name it once.
    List<Row> kept = texts.toDF("value").as(Encoders.STRING()).where(col("value").isNotNull())
        .flatMap((FlatMapFunction<String, String>) Gpt2BpeTrainer::words, Encoders.STRING())
        .groupBy(col("value")).count()
        .orderBy(col("count").desc(), col("value").asc())
        .limit(BpeTrainer.MAX_WORDS)
        .collectAsList();
    var counts = new HashMap<String, Long>(kept.size() * 2);
    for (Row r : kept) {
      counts.put(r.getString(0), r.getLong(1));
    }
    return learn(counts, vocabSize);
  }

  /**
   * Learns from the {@code caption} column of the dataset at {@code datasetDir} (the Parquet shards its
   * {@code manifest.json} lists); see {@link #learn(Dataset, int)}.
   */
  public static Gpt2Tokenizer learn(org.apache.spark.sql.SparkSession spark, String datasetDir, int vocabSize) {
    checkVocabSize(vocabSize);
    return learn(BpeTrainer.captions(spark, datasetDir, "a tokenizer"), vocabSize);
  }

  /** The words of one text as the learner counts them. */
  static Iterator<String> words(String text) {
    var out = new ArrayList<String>();
    if (text != null) {
      for (String piece : Gpt2Tokenizer.pieces(text)) {
        out.add(BytesToUnicode.encode(piece.getBytes(StandardCharsets.UTF_8)));
      }
    }
    return out.iterator();
  }

  /** Counts the words of {@code texts} on this machine (null entries skipped). */
  public static Map<String, Long> countWords(Iterable<String> texts) {
    var counts = new HashMap<String, Long>();
    for (String text : texts) {
      words(text).forEachRemaining(w -> counts.merge(w, 1L, Long::sum));
    }
    return counts;
  }

  private static void checkVocabSize(int vocabSize) {
    if (vocabSize < VOCAB_SIZE_MIN || vocabSize > VOCAB_SIZE_MAX) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot learn a GPT-2 tokenizer of %d tokens:"
          + " must be between %d (256 byte symbols, <|endoftext|> and one merge) and %d", vocabSize, VOCAB_SIZE_MIN,
          VOCAB_SIZE_MAX));
    }
  }
}
