package dev.clipspark.dataset.queries;

import static org.apache.spark.sql.functions.array;
import static org.apache.spark.sql.functions.array_contains;
import static org.apache.spark.sql.functions.collect_list;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat_ws;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.element_at;
import static org.apache.spark.sql.functions.encode;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.log;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clipspark.dataset.Words;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The Spark job that builds the CLIP query list: "all words occurring at least 100 times in the English
 * Wikipedia, augmented with bigrams with high pointwise mutual information, the names of Wikipedia articles
 * above a certain search volume, and all WordNet synsets not already in the list", capped at
 * {@code queries.max} (500,000).
 *
 * <h2>Kinds of query</h2>
 * <ul>
 *   <li><b>unigram</b>: a word ({@link Words#tokenize(CharSequence)} of each corpus line) seen at least
 *       {@code queries.min-count} times and at least {@code queries.min-length} code points long;
 *       score: its count.</li>
 *   <li><b>bigram</b> (if {@code queries.bigram.enabled}): two consecutive words of one line, {@code "x y"},
 *       seen at least {@code queries.bigram.min-count} times with
 *       {@code PMI = ln(c(xy) * T / (c(x) * c(y))) >= queries.bigram.min-pmi}, where T is the number of
 *       words in the corpus and c counts occurrences; score: the PMI.</li>
 *   <li><b>title</b> (if a titles TSV is given): {@link Words#normalize(CharSequence)} of the title of a
 *       {@code title<TAB>views} line with at least {@code queries.title.min-views} views; score: the views
 *       (the largest, when several lines give the same query). Blank lines are ignored; lines without a tab
 *       or whose views are not a whole number of at least 0 are counted as malformed and skipped.</li>
 *   <li><b>wordnet</b> (if a WordNet directory is given and {@code queries.wordnet.enabled}): every lemma
 *       name of the synsets of {@code queries.wordnet.pos} ({@link WordNet}); score: the number of synsets
 *       it names.</li>
 * </ul>
 *
 * <h2>Priority and cap</h2>
 * The list has one row per query. A query found by several kinds keeps the first of them in the order
 * <b>unigram, bigram, title, wordnet</b> (the paper's order: the base list of frequent words, then the
 * augmentations, WordNet last, so WordNet adds only lemmas "not already in the list"). All rows are then put
 * in priority order: by kind in that same order, within a kind by score descending, then by query ascending
 * ({@link String#compareTo(String) Java String order}); the first {@code queries.max} rows are kept and
 * numbered from 0 in that order ({@code rank}). Only counts, exact sums and a total order are involved, so
 * the result is the same for any partitioning and any split of the corpus into files.
 *
 * <h2>Output</h2>
 * <ul>
 *   <li>{@code OUT/queries.parquet}: columns {@code query} string, {@code kind} string ({@link QueryKind#label()}),
 *       {@code score} double, {@code rank} long; one file per million rows, each sorted by rank, files in
 *       rank order.</li>
 *   <li>{@code OUT/summary.json}: the {@link QuerySummary}.</li>
 * </ul>
 * Both are written into a temporary directory inside {@code OUT} first and then renamed into place, replacing
 * earlier ones; a failed build leaves no partial {@code queries.parquet}. (On object stores such as
 * {@code s3a:} a directory rename is a copy, so it is not atomic there.)
 */
public final class QueryListBuilder {

  private static final Logger LOG = LoggerFactory.getLogger(QueryListBuilder.class);

  /** Rows per output Parquet file. */
  static final long ROWS_PER_FILE = 1_000_000;

  /** WordNet rows per task (about 600 KB, under Spark's recommended task size of 1 MB). */
  private static final int WORDNET_ROWS_PER_SLICE = 20_000;

  private QueryListBuilder() {}

  /**
   * Builds the query list from {@code inputs} and writes it to {@code outDir}.
   *
   * @return what was built; the same as {@code outDir/summary.json}
   * @throws IllegalArgumentException before any Spark job runs, if an input is missing, a Parquet corpus
   *     lacks the text column, or the WordNet directory is incomplete
   */
  public static QuerySummary build(SparkSession spark, QueryInputs inputs, QueryOptions options, String outDir) {
    return build(spark, inputs, options, outDir, ROWS_PER_FILE);
  }

  /** {@link #build(SparkSession, QueryInputs, QueryOptions, String)} with {@code rowsPerFile} rows per output file. */
  static QuerySummary build(SparkSession spark, QueryInputs inputs, QueryOptions options, String outDir,
      long rowsPerFile) {
    Objects.requireNonNull(spark, "spark");
    Objects.requireNonNull(inputs, "inputs");
    Objects.requireNonNull(options, "options");
    if (outDir == null || outDir.isBlank()) {
      throw new IllegalArgumentException("Cannot build queries: no output directory given");
    }
    Configuration conf = spark.sparkContext().hadoopConfiguration();

    // Everything that can be checked on the driver is checked before any task starts.
    var corpusParts = new ArrayList<Dataset<String>>();
    for (String path : inputs.corpusPaths()) {
      corpusParts.add(readCorpus(spark, conf, path, options));
    }
    if (inputs.titlesPath() != null) {
      requireExists(conf, inputs.titlesPath(), "titles");
    }
    List<WordNet.Synset> synsets = List.of();
    if (inputs.wordnetDir() != null && options.wordnetEnabled()) {
      synsets = WordNet.readSynsets(inputs.wordnetDir(), options.wordnetPos(), conf);
      LOG.info("Read {} WordNet synsets from {}", synsets.size(), inputs.wordnetDir());
    }

    Dataset<String> corpus = corpusParts.stream().reduce(Dataset::union).orElseThrow();
    var persisted = new ArrayList<Dataset<?>>();
    try {
      // One pass over the corpus: (word, null) for each word, (x, y) for each pair of consecutive words.
      Dataset<Row> counts = corpus
          .flatMap(new Terms(options.bigramEnabled()), Encoders.tuple(Encoders.STRING(), Encoders.STRING()))
          .toDF("w1", "w2")
          .groupBy("w1", "w2")
          .count()
          .persist(StorageLevel.MEMORY_AND_DISK());
      persisted.add(counts);
      Dataset<Row> wordCounts = counts.filter(col("w2").isNull()).select(col("w1").as("word"), col("count"));
      Row totalRow = wordCounts.agg(sum("count")).first();
      long corpusWords = totalRow.isNullAt(0) ? 0 : totalRow.getLong(0);
      LOG.info("Counted the corpus: {} words", corpusWords);

      var candidates = new ArrayList<Dataset<Row>>();
      candidates.add(wordCounts
          .filter(col("count").geq(options.minCount()).and(length(col("word")).geq(options.minLength())))
          .select(col("word").as("query"), lit(QueryKind.UNIGRAM.ordinal()).as("priority"),
              col("count").cast(DataTypes.DoubleType).as("score")));
      if (options.bigramEnabled()) {
        candidates.add(bigrams(counts, wordCounts, corpusWords, options));
      }
      var titles = inputs.titlesPath() == null ? Titles.NONE : titles(spark, inputs.titlesPath(), options, persisted);
      if (titles.queries() != null) {
        candidates.add(titles.queries());
      }
      if (!synsets.isEmpty()) {
        candidates.add(wordnet(spark, synsets));
      }

      // One row per query with its highest-priority kind (a kind has at most one row per query), and the
      // kinds that found it.
      Dataset<Row> unique = candidates.stream().reduce(Dataset::unionByName).orElseThrow()
          .groupBy("query")
          .agg(min(struct(col("priority"), col("score"))).as("best"), collect_list(col("priority")).as("kinds"))
          .select(col("query"), col("best.priority").as("priority"), col("best.score").as("score"), col("kinds"))
          .persist(StorageLevel.MEMORY_AND_DISK());
      persisted.add(unique);
      Map<String, Long> found = zeroPerKind();
      Map<String, Long> beforeCap = zeroPerKind();
      countByKind(unique, found, beforeCap);
      long totalBeforeCap = beforeCap.values().stream().mapToLong(Long::longValue).sum();
      // The rows are in kind order, so the cap keeps whole kinds up to the one it cuts.
      Map<String, Long> afterCap = zeroPerKind();
      long left = options.max();
      for (var e : beforeCap.entrySet()) {
        long kept = Math.min(e.getValue(), left);
        afterCap.put(e.getKey(), kept);
        left -= kept;
      }
      long total = options.max() - left;
      LOG.info("Queries per kind: found {}, one per query {}, kept {}", found, beforeCap, afterCap);

      Dataset<Row> ranked = ranked(unique.drop("kinds"), options.max(),
          (int) Math.max(1, (total + rowsPerFile - 1) / rowsPerFile));

      var out = new Path(outDir);
      var tmp = new Path(out, "_queries-tmp-" + UUID.randomUUID());
      FileSystem fs = fileSystem(out, conf);
      try {
        ranked.write().parquet(new Path(tmp, QueryList.QUERIES_FILE).toString());
        var summary = new QuerySummary(found, beforeCap, afterCap, totalBeforeCap, total, totalBeforeCap - total,
            corpusWords, titles.lines(), titles.malformed(), synsets.size(), inputs, options);
        commit(fs, tmp, out, summary);
        LOG.debug("Wrote {} queries to {} ({} dropped by the cap of {})", total, outDir, totalBeforeCap - total,
            options.max());
        return summary;
      } finally {
        try {
          fs.delete(tmp, true);
        } catch (IOException | RuntimeException e) {
          LOG.warn("Cannot delete the temporary directory {}: {}", tmp, e.toString());
        }
      }
    } finally {
      for (Dataset<?> d : persisted) {
        d.unpersist(false);
      }
    }
  }

  /** The title queries (null without titles), the non-blank lines read and the malformed ones. */
  private record Titles(Dataset<Row> queries, long lines, long malformed) {
    static final Titles NONE = new Titles(null, 0, 0);
  }

  /** Title queries over min-views as (query, priority, score), and the line counts (one Spark job). */
  private static Titles titles(SparkSession spark, String path, QueryOptions options, List<Dataset<?>> persisted) {
    Dataset<Row> parsed = spark.read().textFile(path)
        .flatMap(new TitleLine(), Encoders.tuple(Encoders.STRING(), Encoders.LONG()))
        .toDF("query", "views")
        .persist(StorageLevel.MEMORY_AND_DISK());
    persisted.add(parsed);
    Row t = parsed.agg(count(lit(1)), sum(when(col("query").isNull(), 1L).otherwise(0L))).first();
    long lines = t.getLong(0);
    long malformed = t.isNullAt(1) ? 0 : t.getLong(1);
    if (malformed > 0) {
      LOG.warn("Skipped {} malformed lines of {} in {} (expected title<TAB>views)", malformed, lines, path);
    }
    Dataset<Row> queries = parsed
        .filter(col("query").isNotNull().and(col("query").notEqual("")).and(col("views").geq(options.titleMinViews())))
        .groupBy("query")
        .agg(max("views").as("views"))
        .select(col("query"), lit(QueryKind.TITLE.ordinal()).as("priority"),
            col("views").cast(DataTypes.DoubleType).as("score"));
    return new Titles(queries, lines, malformed);
  }

  /**
   * WordNet lemma names as (query, priority, score). The table (about 150,000 rows, 5 MB) is built on the
   * driver and parallelised in slices of {@value #WORDNET_ROWS_PER_SLICE} rows, so that no task is large.
   */
  private static Dataset<Row> wordnet(SparkSession spark, List<WordNet.Synset> synsets) {
    var rows = new ArrayList<Row>();
    WordNet.lemmaScores(synsets).forEach((lemma, n) -> rows.add(RowFactory.create(lemma, n.doubleValue())));
    var schema = DataTypes.createStructType(List.of(
        DataTypes.createStructField("query", DataTypes.StringType, false),
        DataTypes.createStructField("score", DataTypes.DoubleType, false)));
    int slices = Math.max(1, (rows.size() + WORDNET_ROWS_PER_SLICE - 1) / WORDNET_ROWS_PER_SLICE);
    var rdd = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, slices);
    return spark.createDataFrame(rdd, schema)
        .select(col("query"), lit(QueryKind.WORDNET.ordinal()).as("priority"), col("score"));
  }

  /**
   * The first {@code max} rows of (query, priority, score) in priority order, as (query, kind, score, rank)
   * in {@code files} range partitions, each sorted by rank.
   */
  private static Dataset<Row> ranked(Dataset<Row> unique, int max, int files) {
    // The UTF-16 code units of a query, compared as unsigned bytes, order it as String.compareTo does
    // (Spark's own string order is by code point).
    Column[] order = {col("priority").asc(), col("score").desc(), col("order_key").asc()};
    Column kindLabels = array(Arrays.stream(QueryKind.values()).map(k -> lit(k.label())).toArray(Column[]::new));
    Dataset<Row> ranked = unique
        .withColumn("order_key", encode(col("query"), "UTF-16BE"))
        .orderBy(order)
        .limit(max) // a top-k per partition, then one partition of at most max rows
        // Numbering needs one partition (Spark warns about it); it holds at most max (10,000,000) rows.
        .withColumn("rank", row_number().over(Window.orderBy(order)).minus(1).cast(DataTypes.LongType))
        .select(col("query"), element_at(kindLabels, col("priority").plus(1)).as("kind"), col("score"),
            col("rank"));
    return files == 1
        ? ranked.coalesce(1).sortWithinPartitions("rank")
        : ranked.repartitionByRange(files, col("rank")).sortWithinPartitions("rank");
  }

  /** Bigrams with count and PMI over the thresholds, as (query, priority, score). */
  private static Dataset<Row> bigrams(Dataset<Row> counts, Dataset<Row> wordCounts, long corpusWords,
      QueryOptions options) {
    Dataset<Row> x = wordCounts.select(col("word").as("x"), col("count").as("cx"));
    Dataset<Row> y = wordCounts.select(col("word").as("y"), col("count").as("cy"));
    Column pmi = log(col("count").cast(DataTypes.DoubleType).multiply(lit((double) corpusWords))
        .divide(col("cx").cast(DataTypes.DoubleType).multiply(col("cy").cast(DataTypes.DoubleType))));
    return counts
        .filter(col("w2").isNotNull().and(col("count").geq(options.bigramMinCount())))
        .join(x, col("w1").equalTo(col("x")))
        .join(y, col("w2").equalTo(col("y")))
        .withColumn("pmi", pmi)
        .filter(col("pmi").geq(options.bigramMinPmi()))
        .select(concat_ws(" ", col("w1"), col("w2")).as("query"), lit(QueryKind.BIGRAM.ordinal()).as("priority"),
            col("pmi").as("score"));
  }

  /**
   * Fills, per kind, {@code found} (queries the kind found) and {@code kept} (queries whose best kind it
   * is) from the one-row-per-query table, in one Spark job.
   */
  private static void countByKind(Dataset<Row> unique, Map<String, Long> found, Map<String, Long> kept) {
    var sums = new ArrayList<Column>();
    for (QueryKind k : QueryKind.values()) {
      sums.add(sum(when(array_contains(col("kinds"), k.ordinal()), 1L).otherwise(0L)));
      sums.add(sum(when(col("priority").equalTo(k.ordinal()), 1L).otherwise(0L)));
    }
    Row r = unique.agg(sums.get(0), sums.subList(1, sums.size()).toArray(Column[]::new)).first();
    for (QueryKind k : QueryKind.values()) {
      int i = 2 * k.ordinal();
      found.put(k.label(), r.isNullAt(i) ? 0 : r.getLong(i));
      kept.put(k.label(), r.isNullAt(i + 1) ? 0 : r.getLong(i + 1));
    }
  }

  private static Map<String, Long> zeroPerKind() {
    var byKind = new LinkedHashMap<String, Long>();
    for (QueryKind k : QueryKind.values()) {
      byKind.put(k.label(), 0L);
    }
    return byKind;
  }

  private static FileSystem fileSystem(Path dir, Configuration conf) {
    try {
      FileSystem fs = dir.getFileSystem(conf);
      fs.mkdirs(dir);
      return fs;
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot create " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes the summary next to the list in {@code tmp}, then replaces {@code out}'s list and summary with
   * them: the old summary goes first, then the old list, so a crash in between leaves no list at all rather
   * than a mismatched or half-written one.
   */
  private static void commit(FileSystem fs, Path tmp, Path out, QuerySummary summary) {
    try {
      var tmpSummary = new Path(tmp, QueryList.SUMMARY_FILE);
      try (var os = fs.create(tmpSummary, true)) {
        os.write(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(summary));
      }
      var queries = new Path(out, QueryList.QUERIES_FILE);
      var summaryFile = new Path(out, QueryList.SUMMARY_FILE);
      fs.delete(summaryFile, false);
      fs.delete(queries, true);
      rename(fs, new Path(tmp, QueryList.QUERIES_FILE), queries);
      rename(fs, tmpSummary, summaryFile);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write queries to " + out + ": " + e.getMessage(), e);
    }
  }

  private static void rename(FileSystem fs, Path from, Path to) throws IOException {
    if (!fs.rename(from, to)) {
      throw new IOException("cannot rename " + from + " to " + to);
    }
  }

  /** A corpus path as a dataset of lines; checks on the driver that it exists and has the text column. */
  private static Dataset<String> readCorpus(SparkSession spark, Configuration conf, String path, QueryOptions o) {
    var p = new Path(path);
    boolean parquet;
    try {
      FileSystem fs = p.getFileSystem(conf);
      FileStatus[] matches = fs.globStatus(p);
      if (matches == null || matches.length == 0) {
        throw new IllegalArgumentException("Cannot read corpus " + path + ": no such file or directory");
      }
      parquet = switch (o.corpusFormat()) {
        case TEXT -> false;
        case PARQUET -> true;
        case AUTO -> looksLikeParquet(fs, path, matches);
      };
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read corpus " + path + ": " + e.getMessage(), e);
    }
    if (!parquet) {
      return spark.read().textFile(path);
    }
    Dataset<Row> table = spark.read().parquet(path);
    String column = o.corpusColumn();
    var columns = Arrays.asList(table.columns());
    if (!columns.contains(column)) {
      throw new IllegalArgumentException("Cannot read corpus " + path + ": it has no column " + column
          + " (columns: " + String.join(", ", columns) + "); set " + QueryOptions.CORPUS_COLUMN
          + " to the text column");
    }
    var type = table.schema().apply(column).dataType();
    if (!(type instanceof StringType)) {
      throw new IllegalArgumentException("Cannot read corpus " + path + ": its column " + column + " is "
          + type.simpleString() + ", not string; set " + QueryOptions.CORPUS_COLUMN + " to the text column");
    }
    return table.select(col("`" + column.replace("`", "``") + "`")).as(Encoders.STRING());
  }

  /** {@code auto}: a {@code .parquet} name, or every match a .parquet file or a directory holding some. */
  private static boolean looksLikeParquet(FileSystem fs, String path, FileStatus[] matches) throws IOException {
    if (isParquetName(path)) {
      return true;
    }
    for (FileStatus m : matches) {
      if (m.isDirectory()) {
        boolean any = false;
        for (FileStatus child : fs.listStatus(m.getPath())) {
          any |= child.isFile() && isParquetName(child.getPath().getName());
        }
        if (!any) {
          return false;
        }
      } else if (!isParquetName(m.getPath().getName())) {
        return false;
      }
    }
    return true;
  }

  private static boolean isParquetName(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    while (n.endsWith("/")) {
      n = n.substring(0, n.length() - 1);
    }
    return n.endsWith(".parquet");
  }

  private static void requireExists(Configuration conf, String path, String what) {
    var p = new Path(path);
    try {
      FileStatus[] matches = p.getFileSystem(conf).globStatus(p);
      if (matches == null || matches.length == 0) {
        throw new IllegalArgumentException("Cannot read " + what + " " + path + ": no such file or directory");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + what + " " + path + ": " + e.getMessage(), e);
    }
  }

  /** A corpus line's words, as (word, null), and, if bigrams are on, its consecutive pairs, as (x, y). */
  private static final class Terms implements FlatMapFunction<String, Tuple2<String, String>> {
    private static final long serialVersionUID = 1L;
    private final boolean pairs;

    Terms(boolean pairs) {
      this.pairs = pairs;
    }

    @Override
    public Iterator<Tuple2<String, String>> call(String line) {
      if (line == null) {
        return java.util.Collections.emptyIterator();
      }
      List<String> words = Words.tokenize(line);
      var out = new ArrayList<Tuple2<String, String>>(pairs ? 2 * words.size() : words.size());
      for (int i = 0; i < words.size(); i++) {
        out.add(new Tuple2<>(words.get(i), null));
        if (pairs && i > 0) {
          out.add(new Tuple2<>(words.get(i - 1), words.get(i)));
        }
      }
      return out.iterator();
    }
  }

  /**
   * A titles TSV line as (query, views): nothing for a blank line, (null, -1) for a malformed one (no tab,
   * or views that are not a whole number of at least 0).
   */
  private static final class TitleLine implements FlatMapFunction<String, Tuple2<String, Long>> {
    private static final long serialVersionUID = 1L;

    @Override
    public Iterator<Tuple2<String, Long>> call(String line) {
      if (line.isBlank()) {
        return java.util.Collections.emptyIterator();
      }
      int tab = line.indexOf('\t');
      long views = -1;
      if (tab >= 0) {
        try {
          views = Long.parseLong(line.substring(tab + 1).trim());
        } catch (NumberFormatException e) {
          views = -1;
        }
      }
      if (views < 0) {
        return List.of(new Tuple2<String, Long>(null, -1L)).iterator();
      }
      return List.of(new Tuple2<>(Words.normalize(line.substring(0, tab)), views)).iterator();
    }
  }
}
