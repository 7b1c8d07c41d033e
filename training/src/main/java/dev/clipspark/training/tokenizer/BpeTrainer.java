package dev.clipspark.training.tokenizer;

import static org.apache.spark.sql.functions.col;

import dev.clipspark.dataset.build.Manifest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Learns BPE merges from captions, as a Spark job, and writes them as a merges file in OpenAI's format.
 *
 * <p>The executors clean and pre-tokenise every caption exactly as {@link ClipTokenizer#encode} does
 * ({@link TextCleaner}, {@link PreTokenizer}; the special-token pieces are left out) and Spark counts the
 * words, each written as its UTF-8 bytes in {@link BytesToUnicode} symbols. The driver collects the words
 * seen at least {@code minWordCount} times, at most {@value #MAX_WORDS} of them (the most frequent; ties by
 * word), and learns merges from them with {@link BpeLearner}: the most frequent adjacent pair first, ties to
 * the lexicographically smallest pair, until {@code vocabSize - 514} merges or until no pair occurs at least
 * twice. The merges depend only on the word counts, so they do not depend on partitioning.
 *
 * <p>The file is written with the header {@value MergesFile#CLIPSPARK_HEADER} (gzip if its name ends in
 * {@code .gz}); {@link ClipTokenizer#load(String, int)} with {@link TrainResult#vocabSize()} gives back
 * exactly the learned vocabulary. When the data supports fewer merges than asked, the file holds those that
 * were learned and {@link TrainResult#complete()} is false.
 */
public final class BpeTrainer {

  /** The most distinct words the driver learns from. */
  public static final int MAX_WORDS = 2_000_000;

  private static final Logger LOG = LoggerFactory.getLogger(BpeTrainer.class);

  private BpeTrainer() {}

  /**
   * Learns merges from the {@code caption} column of the dataset at {@code datasetDir} (the Parquet shards its
   * {@code manifest.json} lists) and writes them to {@code outFile} (local path or Hadoop URI).
   *
   * @param vocabSize the vocabulary size to learn: {@code vocabSize - 514} merges
   * @param minWordCount words seen fewer times are left out (at least 1)
   * @throws IllegalArgumentException if an argument is out of range, the dataset has no manifest or no shards,
   *     or the file cannot be written
   */
  public static TrainResult train(
      SparkSession spark, String datasetDir, int vocabSize, long minWordCount, String outFile) {
    checkArguments(vocabSize, minWordCount);
    Manifest manifest = Manifest.read(datasetDir, spark.sparkContext().hadoopConfiguration());
    if (manifest.shards() == null || manifest.shards().isEmpty()) {
      throw new IllegalArgumentException("Cannot train a tokenizer on dataset " + datasetDir
          + ": its " + Manifest.FILE + " lists no shards");
    }
    var paths = new ArrayList<String>();
    for (Manifest.Shard shard : manifest.shards()) {
      paths.add(new Path(datasetDir, shard.path()).toString());
    }
    Dataset<String> captions = spark.read().parquet(paths.toArray(new String[0]))
        .select(col("caption"))
        .where(col("caption").isNotNull())
        .as(Encoders.STRING());
    return train(captions, vocabSize, minWordCount, outFile);
  }

  /**
   * Learns merges from {@code captions} (null entries are skipped) and writes them to {@code outFile}; see
   * {@link #train(SparkSession, String, int, long, String)}.
   */
  public static TrainResult train(Dataset<String> captions, int vocabSize, long minWordCount, String outFile) {
    checkArguments(vocabSize, minWordCount);
    long start = System.nanoTime();
    Dataset<Row> counts = captions
        .flatMap((FlatMapFunction<String, String>) BpeTrainer::words, Encoders.STRING())
        .groupBy(col("value"))
        .count()
        .persist(StorageLevel.MEMORY_AND_DISK());
    try {
      Row totals = counts.selectExpr("count(*)", "coalesce(sum(count), 0L)").first();
      long distinct = totals.getLong(0);
      long occurrences = totals.getLong(1);
      List<Row> kept = counts.where(col("count").geq(minWordCount))
          .orderBy(col("count").desc(), col("value").asc())
          .limit(MAX_WORDS)
          .collectAsList();
      var wordCounts = new HashMap<String, Long>(kept.size() * 2);
      for (Row r : kept) {
        wordCounts.put(r.getString(0), r.getLong(1));
      }
      long counted = System.nanoTime();
      int asked = vocabSize - ClipTokenizer.BASE_TOKENS;
      List<BpeMerge> merges = BpeLearner.learn(wordCounts, asked);
      long learned = System.nanoTime();
      MergesFile.write(outFile, MergesFile.CLIPSPARK_HEADER, merges,
          captions.sparkSession().sparkContext().hadoopConfiguration());
      var result = new TrainResult(outFile, vocabSize, ClipTokenizer.BASE_TOKENS + merges.size(), merges.size(),
          distinct, occurrences, wordCounts.size(), minWordCount);
      LOG.debug("BPE: counted {} distinct words ({} in all) in {} s, learned {} of {} merges from {} words in {} s,"
              + " wrote {}", distinct, occurrences, seconds(counted - start), merges.size(), asked, wordCounts.size(),
          seconds(learned - counted), outFile);
      if (!result.complete()) {
        LOG.warn("BPE: the captions support only {} merges (vocabulary size {}), fewer than the {} asked for; no "
                + "remaining pair of symbols occurs at least twice in words seen at least {} times", merges.size(),
            result.vocabSize(), asked, minWordCount);
      }
      return result;
    } finally {
      counts.unpersist();
    }
  }

  /**
   * The words of one caption as {@link BpeLearner} counts them: cleaned, pre-tokenised, special tokens left
   * out, each piece's UTF-8 bytes as {@link BytesToUnicode} characters.
   */
  static Iterator<String> words(String caption) {
    if (caption == null) {
      return List.<String>of().iterator();
    }
    var out = new ArrayList<String>();
    for (String piece : PreTokenizer.split(TextCleaner.clean(caption))) {
      if (!piece.equals(ClipTokenizer.START_OF_TEXT) && !piece.equals(ClipTokenizer.END_OF_TEXT)) {
        out.add(BytesToUnicode.encode(piece.getBytes(StandardCharsets.UTF_8)));
      }
    }
    return out.iterator();
  }

  /** Counts words on this machine, for callers without Spark; the same counting as the Spark job. */
  static Map<String, Long> countWords(Iterable<String> captions) {
    var counts = new HashMap<String, Long>();
    for (String caption : captions) {
      words(caption).forEachRemaining(w -> counts.merge(w, 1L, Long::sum));
    }
    return counts;
  }

  private static void checkArguments(int vocabSize, long minWordCount) {
    if (vocabSize < TokenizerOptions.VOCAB_SIZE_MIN || vocabSize > TokenizerOptions.VOCAB_SIZE_MAX) {
      throw new IllegalArgumentException("Cannot train a tokenizer with a vocabulary of " + vocabSize
          + " tokens: it must be between " + TokenizerOptions.VOCAB_SIZE_MIN + " (512 byte symbols, 2 special "
          + "tokens and at least 1 merge) and " + TokenizerOptions.VOCAB_SIZE_MAX);
    }
    if (minWordCount < 1) {
      throw new IllegalArgumentException("Cannot train a tokenizer with a minimum word count of " + minWordCount
          + ": it must be at least 1");
    }
  }

  private static String seconds(long nanos) {
    return String.format("%.1f", nanos / 1e9);
  }
}
