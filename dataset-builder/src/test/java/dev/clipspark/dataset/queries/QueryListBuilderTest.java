package dev.clipspark.dataset.queries;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QueryListBuilderTest {

  private static SparkSession spark;

  @TempDir Path tmp;

  @BeforeAll
  static void startSpark() {
    spark = SparkSession.builder()
        .master("local[2]")
        .appName("QueryListBuilderTest")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate();
  }

  @AfterAll
  static void stopSpark() {
    spark.stop();
  }

  /** One output row. */
  record Q(String query, String kind, double score, long rank) {}

  @Test
  void unigramsMeetTheCountThresholdExactlyAndFollowWordsOnUnicode() throws IOException {
    var a = write("a.txt",
        "Alpha alpha ALPHA",
        "beta beta",
        "café Café CAFÉ",
        "ёжик Ёжик ЁЖИК",
        "猫猫猫");
    var b = write("b.txt",
        "don't don\u2019t DON'T",
        "x x x x",
        "gamma-ray gamma_ray gamma",
        "2024 2024 2024");
    var options = QueryOptionsTest.parse("queries { min-count = 3, bigram.enabled = false }");

    var summary = QueryListBuilder.build(spark, QueryInputs.corpus(a, b), options, out("u1"));

    // beta and ray occur twice (min-count - 1): out; everything at 3 is in. Ranks: count desc, then query.
    assertRows(read(out("u1")),
        new Q("x", "unigram", 4, 0),
        new Q("2024", "unigram", 3, 1),
        new Q("alpha", "unigram", 3, 2),
        new Q("café", "unigram", 3, 3),
        new Q("don't", "unigram", 3, 4),
        new Q("gamma", "unigram", 3, 5),
        new Q("ёжик", "unigram", 3, 6),
        new Q("猫", "unigram", 3, 7));
    assertThat(summary.corpusWords()).isEqualTo(3 + 2 + 3 + 3 + 3 + 3 + 4 + 5 + 3);
    assertThat(summary.found()).containsExactly(
        Map.entry("unigram", 8L), Map.entry("bigram", 0L), Map.entry("title", 0L), Map.entry("wordnet", 0L));

    // min-length counts code points: "猫" and "x" are one long. The new list replaces the old one.
    var second = QueryListBuilder.build(spark, QueryInputs.corpus(a, b),
        QueryOptionsTest.parse("queries { min-count = 3, min-length = 2, bigram.enabled = false }"), out("u1"));
    assertThat(QueryList.read(spark, out("u1"))).containsExactly("2024", "alpha", "café", "don't", "gamma", "ёжик");
    assertOutputFiles(out("u1"), second);
  }

  @Test
  void bigramsNeedCountAndPointwiseMutualInformation() throws IOException {
    var lines = new ArrayList<String>();
    lines.addAll(Collections.nCopies(20, "new york"));
    lines.addAll(Collections.nCopies(60, "the of"));
    for (int i = 0; i < 240; i++) {
      lines.add("the " + filler(i)); // "the" and "of" are frequent everywhere, so "the of" is chance
      lines.add(filler(240 + i) + " of");
    }
    lines.addAll(Collections.nCopies(2, "zebra quokka")); // PMI is huge but the pair is too rare
    var corpus = write("corpus.txt", lines.toArray(String[]::new));
    // By hand: T = 20*2 + 60*2 + 480*2 + 2*2 = 1124; c(new) = c(york) = c(new york) = 20;
    // c(the) = c(of) = 60 + 240 = 300, c(the of) = 60.
    long t = 1124;
    double pmiNewYork = Math.log(20.0 * t / (20.0 * 20.0));
    double pmiTheOf = Math.log(60.0 * t / (300.0 * 300.0));
    assertThat(pmiNewYork).isCloseTo(4.0289, within(1e-4));
    assertThat(pmiTheOf).isCloseTo(-0.2886, within(1e-4));

    var all = QueryListBuilder.build(spark, QueryInputs.corpus(corpus),
        QueryOptionsTest.parse("queries { min-count = 100000, bigram { min-count = 10, min-pmi = -100 } }"),
        out("all"));
    // Every pair seen 10 times: no "zebra quokka" (2), no "of the" (pairs never cross lines).
    assertRows(read(out("all")), new Q("new york", "bigram", pmiNewYork, 0), new Q("the of", "bigram", pmiTheOf, 1));
    assertThat(all.corpusWords()).isEqualTo(t);

    QueryListBuilder.build(spark, QueryInputs.corpus(corpus),
        QueryOptionsTest.parse("queries { min-count = 100000, bigram { min-count = 10, min-pmi = 4.0 } }"),
        out("high"));
    assertRows(read(out("high")), new Q("new york", "bigram", pmiNewYork, 0));

  }

  @Test
  void titlesAndWordNetAreAddedBehindTheCorpusWords() throws IOException {
    var corpus = write("corpus.txt", "Alpha alpha alpha", "dog dog dog", "hot hot hot");
    var titles = write("titles.tsv",
        "New_York_City\t50000",
        "NEW YORK CITY\t70000",
        "Café Society\t20000",
        "Small page\t9999",
        "Exactly\t10000",
        "Alpha\t50000",
        "Hot_dog\t12000",
        "no tab here",
        "Bad views\tmany",
        "",
        "Negative\t-5");
    var wordnet = WordNetFixture.write(tmp.resolve("wordnet")).toString();
    var options = QueryOptionsTest.parse(
        "queries { min-count = 3, bigram.enabled = false, wordnet.pos = [noun, verb, adj] }");

    var summary = QueryListBuilder.build(spark,
        QueryInputs.corpus(corpus).withTitles(titles).withWordNet(wordnet), options, out("tw"));

    assertRows(read(out("tw")),
        new Q("alpha", "unigram", 3, 0), // also a title: the unigram wins
        new Q("dog", "unigram", 3, 1), // also in WordNet
        new Q("hot", "unigram", 3, 2),
        new Q("new york city", "title", 70000, 3), // two spellings: the most views
        new Q("café society", "title", 20000, 4),
        new Q("hot dog", "title", 12000, 5), // also in WordNet: the title wins
        new Q("exactly", "title", 10000, 6), // exactly min-views; "small page" (9999) is out
        new Q("hotdog", "wordnet", 2, 7),
        new Q("abounding", "wordnet", 1, 8),
        new Q("canis familiaris", "wordnet", 1, 9),
        new Q("chase", "wordnet", 1, 10),
        new Q("domestic dog", "wordnet", 1, 11),
        new Q("elect", "wordnet", 1, 12),
        new Q("galore", "wordnet", 1, 13),
        new Q("parkinson's disease", "wordnet", 1, 14),
        new Q("parkinsonism", "wordnet", 1, 15),
        new Q("red hot", "wordnet", 1, 16));
    assertThat(summary.found()).containsExactly(
        Map.entry("unigram", 3L), Map.entry("bigram", 0L), Map.entry("title", 5L), Map.entry("wordnet", 12L));
    assertThat(summary.beforeCap()).containsExactly(
        Map.entry("unigram", 3L), Map.entry("bigram", 0L), Map.entry("title", 4L), Map.entry("wordnet", 10L));
    assertThat(summary.afterCap()).isEqualTo(summary.beforeCap());
    assertThat(summary.total()).isEqualTo(17);
    assertThat(summary.droppedByCap()).isZero();
    assertThat(summary.titleLines()).isEqualTo(10);
    assertThat(summary.malformedTitleLines()).isEqualTo(3);
    assertThat(summary.wordnetSynsets()).isEqualTo(4 + 1 + 2);
  }

  /** The cap test's expected list (max = 9): kinds in order, score descending, query in Java order. */
  private static final Q[] CAPPED = {
      new Q("apple", "unigram", 5, 0),
      new Q("banana", "unigram", 5, 1),
      // U+20000 sorts before U+FF41 in Java (UTF-16: D840 < FF41), after it by code point or UTF-8.
      new Q("\uD840\uDC00", "unigram", 4, 2),
      new Q("\uFF41", "unigram", 4, 3),
      new Q("new", "unigram", 3, 4),
      new Q("york", "unigram", 3, 5),
      new Q("cherry", "unigram", 2, 6), // "date" (1) is under min-count
      new Q("new york", "bigram", Math.log(3.0 * 27 / (3.0 * 3.0)), 7),
      new Q("zulu", "title", 20000, 8), // "big apple" (15000) and all of WordNet are over the cap
  };

  private static final String[] CAP_CORPUS = Stream.of(
      Collections.nCopies(3, "new york"),
      Collections.nCopies(5, "apple"),
      Collections.nCopies(5, "BANANA"),
      Collections.nCopies(4, "\uD840\uDC00"),
      Collections.nCopies(4, "\uFF21"),
      Collections.nCopies(2, "cherry"),
      List.of("date")).flatMap(List::stream).toArray(String[]::new);

  private static final String CAP_OPTIONS = "queries { min-count = 2, max = 9, bigram { min-count = 2, min-pmi = 1.0 },"
      + " wordnet.pos = [noun] }";

  @Test
  void theCapKeepsKindsInPriorityOrderWhateverThePartitioning() throws IOException {
    var titles = write("titles.tsv", "Zulu\t20000", "Apple\t90000", "Big Apple\t15000");
    var wordnet = WordNetFixture.write(tmp.resolve("wordnet")).toString();
    var runs = new ArrayList<List<Q>>();
    // (corpus files, shuffle partitions)
    for (int[] variant : new int[][] {{1, 1}, {3, 7}}) {
      int files = variant[0];
      var corpus = new ArrayList<String>();
      for (int f = 0; f < files; f++) {
        var part = new ArrayList<String>();
        for (int i = f; i < CAP_CORPUS.length; i += files) {
          part.add(CAP_CORPUS[i]);
        }
        corpus.add(write(files + "/corpus-" + f + ".txt", part.toArray(String[]::new)));
      }
      String before = spark.conf().get("spark.sql.shuffle.partitions");
      spark.conf().set("spark.sql.shuffle.partitions", variant[1]);
      QuerySummary summary;
      String dir = out("cap-" + files + "-" + variant[1]);
      try {
        // The second run also writes 4 rows per file (3 files) instead of one million.
        summary = QueryListBuilder.build(spark, new QueryInputs(corpus, titles, wordnet),
            QueryOptionsTest.parse(CAP_OPTIONS), dir, files == 1 ? QueryListBuilder.ROWS_PER_FILE : 4);
      } finally {
        spark.conf().set("spark.sql.shuffle.partitions", before);
      }

      List<Q> rows = read(dir);
      assertRows(rows, CAPPED);
      runs.add(rows);
      assertThat(summary.found()).containsExactly(
          Map.entry("unigram", 7L), Map.entry("bigram", 1L), Map.entry("title", 3L), Map.entry("wordnet", 8L));
      assertThat(summary.beforeCap()).containsExactly(
          Map.entry("unigram", 7L), Map.entry("bigram", 1L), Map.entry("title", 2L), Map.entry("wordnet", 8L));
      assertThat(summary.afterCap()).containsExactly(
          Map.entry("unigram", 7L), Map.entry("bigram", 1L), Map.entry("title", 1L), Map.entry("wordnet", 0L));
      assertThat(summary.totalBeforeCap()).isEqualTo(18);
      assertThat(summary.total()).isEqualTo(9);
      assertThat(summary.droppedByCap()).isEqualTo(9);
      assertThat(summary.corpusWords()).isEqualTo(CAP_CORPUS.length + 3);
    }
    // Files in name order hold the rows in rank order.
    assertThat(rankFiles(out("cap-3-7"))).hasSize(3);
    assertThat(rankFiles(out("cap-3-7")).stream().flatMap(List::stream)).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
    assertThat(rankFiles(out("cap-1-1"))).containsExactly(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L));
    // Bit-identical, scores included.
    assertThat(runs.get(1)).isEqualTo(runs.get(0));
  }

  @Test
  void readsParquetCorporaByExtensionOrContents() throws IOException {
    var schema = DataTypes.createStructType(List.of(
        DataTypes.createStructField("id", DataTypes.IntegerType, false),
        DataTypes.createStructField("body", DataTypes.StringType, true)));
    List<Row> rows = List.of(RowFactory.create(1, "Parquet parquet words"), RowFactory.create(2, null),
        RowFactory.create(3, "words"));
    var named = tmp.resolve("corpus.parquet").toString();
    var plain = tmp.resolve("plain-dir").toString();
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(named);
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(plain);
    var text = write("more.txt", "words parquet text");

    var summary = QueryListBuilder.build(spark, QueryInputs.corpus(named, plain, text),
        QueryOptionsTest.parse("queries { min-count = 2, bigram.enabled = false, corpus.column = body }"), out("pq"));

    assertRows(read(out("pq")), new Q("parquet", "unigram", 5, 0), new Q("words", "unigram", 5, 1));
    assertThat(summary.corpusWords()).isEqualTo(2 * 4 + 3);

    assertThatThrownBy(() -> QueryListBuilder.build(spark, QueryInputs.corpus(named),
        QueryOptionsTest.parse("queries { min-count = 2 }"), out("bad")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read corpus " + named + ": it has no column text (columns: id, body); set "
            + "queries.corpus.column to the text column");
    assertThatThrownBy(() -> QueryListBuilder.build(spark, QueryInputs.corpus(plain),
        QueryOptionsTest.parse("queries { corpus.column = id }"), out("bad")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("its column id is int, not string");
    // Refused on the driver, before anything was written.
    assertThat(Files.exists(tmp.resolve("out/bad"))).isFalse();
  }

  @Test
  void missingInputsAndOutputsAreClearErrors() throws IOException {
    var missing = tmp.resolve("no-such-corpus.txt").toString();
    assertThatThrownBy(() -> QueryListBuilder.build(spark, QueryInputs.corpus(missing), QueryOptions.defaults(),
        out("x")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read corpus " + missing + ": no such file or directory");
    var corpus = write("c.txt", "a b c");
    var titles = tmp.resolve("no-titles.tsv").toString();
    assertThatThrownBy(() -> QueryListBuilder.build(spark, QueryInputs.corpus(corpus).withTitles(titles),
        QueryOptions.defaults(), out("x")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read titles " + titles + ": no such file or directory");
    var wordnet = tmp.resolve("no-wordnet").toString();
    assertThatThrownBy(() -> QueryListBuilder.build(spark, QueryInputs.corpus(corpus).withWordNet(wordnet),
        QueryOptions.defaults(), out("x")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot read WordNet from " + wordnet + ": no such directory");
    assertThatThrownBy(() -> QueryList.read(spark, tmp.toString()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot read queries from " + tmp + ": it has no queries.parquet");
    assertThatThrownBy(() -> QueryInputs.corpus())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot build queries: no corpus path given");
  }

  /** Only queries.parquet (one file, rows in rank order) and summary.json (equal to the result) are left. */
  private static void assertOutputFiles(String dir, QuerySummary summary) throws IOException {
    try (var files = Files.list(Path.of(dir))) {
      // Hidden files are the local file system's checksums.
      assertThat(files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")))
          .containsExactlyInAnyOrder("queries.parquet", "summary.json");
    }
    assertThat(QueryList.rows(spark, dir).schema().simpleString())
        .isEqualTo("struct<query:string,kind:string,score:double,rank:bigint>");
    var files = rankFiles(dir);
    assertThat(files).hasSize(1);
    assertThat(files.get(0)).isSorted().hasSize((int) summary.total()).startsWith(0L);

    var json = new ObjectMapper().readValue(Path.of(dir, "summary.json").toFile(), QuerySummary.class);
    assertThat(json).isEqualTo(summary);
  }

  /** The ranks in each Parquet file of the list in {@code dir}, files in name order, rows in file order. */
  private static List<List<Long>> rankFiles(String dir) throws IOException {
    List<Path> files;
    try (var list = Files.list(Path.of(dir, "queries.parquet"))) {
      files = list.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
    }
    var ranks = new ArrayList<List<Long>>();
    for (Path f : files) {
      ranks.add(spark.read().parquet(f.toString()).collectAsList().stream().map(r -> r.getLong(3)).toList());
    }
    return ranks;
  }

  private String out(String name) {
    return tmp.resolve("out").resolve(name).toString();
  }

  private String write(String name, String... lines) throws IOException {
    var file = tmp.resolve("in").resolve(name);
    Files.createDirectories(file.getParent());
    Files.write(file, List.of(lines), StandardCharsets.UTF_8);
    return file.toString();
  }

  /** A word of letters only, different for every i, that no other fixture word equals. */
  private static String filler(int i) {
    var s = new StringBuilder("q");
    for (int k = 0; k < 3; k++) {
      s.append((char) ('a' + i % 26));
      i /= 26;
    }
    return s.toString();
  }

  private static List<Q> read(String dir) {
    var rows = new ArrayList<Q>();
    for (Row r : QueryList.rows(spark, dir).orderBy("rank").collectAsList()) {
      rows.add(new Q(r.getString(0), r.getString(1), r.getDouble(2), r.getLong(3)));
    }
    return rows;
  }

  private static void assertRows(List<Q> actual, Q... expected) {
    assertThat(actual).extracting(Q::query).containsExactly(Stream.of(expected).map(Q::query).toArray(String[]::new));
    assertThat(actual).extracting(Q::kind).containsExactly(Stream.of(expected).map(Q::kind).toArray(String[]::new));
    assertThat(actual).extracting(Q::rank).containsExactly(Stream.of(expected).map(Q::rank).toArray(Long[]::new));
    for (int i = 0; i < expected.length; i++) {
      assertThat(actual.get(i).score()).as("score of %s", expected[i].query()).isCloseTo(expected[i].score(), within(1e-9));
    }
  }
}
