package dev.clipspark.dataset.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.groups.Tuple.tuple;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TableSourceTest {

  private static SparkSession spark;
  private static Path tables;
  private static final int BINARY_ROWS = 400;

  @TempDir
  static Path dir;

  @BeforeAll
  static void start() throws IOException {
    spark = TestSpark.start("TableSourceTest");
    tables = Files.createDirectories(dir.resolve("my tables"));

    var rnd = new SplittableRandom(1);
    var binary = new ArrayList<Row>();
    for (int i = 0; i < BINARY_ROWS; i++) {
      byte[] img = new byte[600];
      rnd.nextBytes(img);
      binary.add(RowFactory.create(img, "caption " + i));
    }
    var binarySchema = new StructType()
        .add("image", DataTypes.BinaryType)
        .add("caption", DataTypes.StringType);
    spark.createDataFrame(binary, binarySchema).coalesce(1).write()
        .option("parquet.block.size", 16 * 1024)
        .option("parquet.page.size.row.check.min", 10)
        .option("parquet.page.size.row.check.max", 10)
        .parquet(tables.resolve("binary").toString());

    var urlSchema = new StructType()
        .add("id", DataTypes.LongType)
        .add("url", DataTypes.StringType)
        .add("caption", DataTypes.StringType)
        .add("score", DataTypes.DoubleType);
    List<Row> urls = List.of(
        RowFactory.create(10L, "https://example.com/a.jpg", "an apple", 0.5),
        RowFactory.create(11L, "  HTTP://example.com/b.png ", "a banana", 0.5),
        RowFactory.create(12L, "images/cat.jpg", "a cat", 0.5),
        RowFactory.create(13L, "/abs/dog.png", "a dog", 0.5),
        RowFactory.create(14L, "s3a://bucket/e.jpg", "an eel", 0.5),
        RowFactory.create(15L, "", "no image", 0.5),
        RowFactory.create(16L, null, "null image", 0.5),
        RowFactory.create(null, "https://example.com/c.jpg", null, 0.5));
    spark.createDataFrame(urls, urlSchema).coalesce(1).write().parquet(tables.resolve("urls").toString());

    Files.write(tables.resolve("pairs.csv"), bytes(
        "\uFEFFurl,caption,extra\n",
        "https://example.com/1.jpg,\"a caption, with a comma\",x\r\n",
        "\n",
        "photos/2.jpg,\"a caption\nover two lines with \"\"quotes\"\"\",y\n",
        "https://example.com/3.jpg,", new byte[] {'b', 'a', 'd', ' ', (byte) 0xFF}, ",z\n",
        "https://example.com/4.jpg\n",
        ",no image,z\n"));
    Files.write(tables.resolve("pairs.tsv"), bytes(
        "url\tcaption\n",
        "https://example.com/t1.jpg\t\"quoted\" caption, with comma\n",
        "t2.png\tsecond\n"));
    var gz = new ByteArrayOutputStream();
    try (var out = new GZIPOutputStream(gz)) {
      out.write(bytes("https://example.com/z1.jpg\tzipped one\n", "https://example.com/z2.jpg\tzipped two\n"));
    }
    Path noHeader = Files.createDirectories(dir.resolve("noheader"));
    Files.write(noHeader.resolve("a.tab.gz"), gz.toByteArray());
    Files.write(noHeader.resolve("b.tab"), new byte[0]);
    Files.writeString(noHeader.resolve("_SUCCESS"), "");

    Path mixed = Files.createDirectories(dir.resolve("mixed"));
    Files.writeString(mixed.resolve("a.csv"), "url,caption\nx,y\n");
    Files.writeString(mixed.resolve("b.tsv"), "url\tcaption\nx\ty\n");
    Files.writeString(dir.resolve("table.json"), "{}");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void parquetWithBinaryImagesIsKeyedByFileAndRowWhateverTheSplits() throws IOException {
    var options = TestSpark.options("source.table.image-column = image");
    var source = Sources.table(tables.resolve("binary").toString(), options);
    Map<String, Candidate> whole = TestSpark.byKey(source.candidates(spark).collect());

    String file;
    try (Stream<Path> files = Files.list(tables.resolve("binary"))) {
      file = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".parquet")).findFirst().orElseThrow();
    }
    assertThat(whole).hasSize(BINARY_ROWS);
    for (int i = 0; i < BINARY_ROWS; i++) {
      Candidate c = whole.get(String.format("%s/%09d", file, i));
      assertThat(c.caption()).isEqualTo("caption " + i);
      assertThat(c.imageBytes()).hasSize(600);
      assertThat(c.reject()).isNull();
    }

    String before = spark.conf().get("spark.sql.files.maxPartitionBytes");
    spark.conf().set("spark.sql.files.maxPartitionBytes", "40000");
    try {
      var rdd = source.candidates(spark);
      long nonEmpty = rdd.glom().collect().stream().filter(p -> !p.isEmpty()).count();
      assertThat(nonEmpty).as("rows come from several splits of the file").isGreaterThan(1);
      Map<String, Candidate> split = TestSpark.byKey(rdd.collect());
      assertThat(captions(split)).isEqualTo(captions(whole));
    } finally {
      spark.conf().set("spark.sql.files.maxPartitionBytes", before);
    }
  }

  @Test
  void parquetStringsAreUrlsOrPathsResolvedBesideTheTable() {
    var source = Sources.table(tables.resolve("urls").toString(), SourceOptions.defaults());
    List<Candidate> c = source.candidates(spark).collect();
    String base = "file:" + tables.resolve("urls");
    assertThat(c).extracting(Candidate::caption, Candidate::url, Candidate::path, Candidate::reject)
        .containsExactlyInAnyOrder(
            tuple("an apple", "https://example.com/a.jpg", null, null),
            tuple("a banana", "HTTP://example.com/b.png", null, null),
            tuple("a cat", null, base + "/images/cat.jpg", null),
            tuple("a dog", null, "/abs/dog.png", null),
            tuple("an eel", null, "s3a://bucket/e.jpg", null),
            tuple("no image", null, null, RejectReason.MISSING_IMAGE),
            tuple("null image", null, null, RejectReason.MISSING_IMAGE),
            tuple(null, "https://example.com/c.jpg", null, RejectReason.MISSING_CAPTION));
    assertThat(c).allSatisfy(x -> assertThat(x.key()).matches("part-[^/]+\\.parquet/00000000[0-7]"));

    var keyed = Sources.table(tables.resolve("urls").toString(), TestSpark.options("source.table.key-column = id"));
    assertThat(TestSpark.byKey(keyed.candidates(spark).collect()).keySet())
        .contains("10", "11", "16")
        .anySatisfy(k -> assertThat(k).endsWith("/000000007"))
        .hasSize(8);
  }

  @Test
  void csvIsParsedWithQuotesAndStrictUtf8AndStableKeys() {
    var source = Sources.table(tables.resolve("pairs.csv").toString(), SourceOptions.defaults());
    List<Candidate> first = source.candidates(spark).collect();
    assertThat(first).extracting(Candidate::key, Candidate::caption, Candidate::url, Candidate::path,
            Candidate::reject)
        .containsExactly(
            tuple("pairs.csv/000000000", "a caption, with a comma", "https://example.com/1.jpg", null, null),
            tuple("pairs.csv/000000001", "a caption\nover two lines with \"quotes\"", null,
                "file:" + tables.resolve("photos/2.jpg"), null),
            tuple("pairs.csv/000000002", null, "https://example.com/3.jpg", null, RejectReason.CAPTION_NOT_UTF8),
            tuple("pairs.csv/000000003", null, "https://example.com/4.jpg", null, RejectReason.MISSING_CAPTION),
            tuple("pairs.csv/000000004", "no image", null, null, RejectReason.MISSING_IMAGE));
    assertThat(source.candidates(spark).collect()).isEqualTo(first);
  }

  @Test
  void tsvHasNoQuotingAndHeaderlessCompressedFilesUsePositionalColumns() {
    var tsv = Sources.table(tables.resolve("pairs.tsv").toString(), SourceOptions.defaults());
    assertThat(tsv.candidates(spark).collect()).extracting(Candidate::key, Candidate::caption)
        .containsExactly(
            tuple("pairs.tsv/000000000", "\"quoted\" caption, with comma"),
            tuple("pairs.tsv/000000001", "second"));

    var options = TestSpark.options("""
        source.table { header = false, image-column = _c0, caption-column = _c1 }
        """);
    var noHeader = Sources.table(dir.resolve("noheader").toString(), options);
    assertThat(noHeader.candidates(spark).collect()).extracting(Candidate::key, Candidate::caption, Candidate::url)
        .containsExactly(
            tuple("a.tab.gz/000000000", "zipped one", "https://example.com/z1.jpg"),
            tuple("a.tab.gz/000000001", "zipped two", "https://example.com/z2.jpg"));

    var asCsv = Sources.table(tables.resolve("pairs.tsv").toString(), TestSpark.options("source.table.format = csv"));
    assertThatThrownBy(() -> asCsv.candidates(spark))
        .hasMessageContaining("no image column 'url'; available columns: [url\tcaption]");
  }

  @Test
  void missingColumnsFailOnTheDriverNamingTheKeyToSet() {
    var options = TestSpark.options("source.table.image-column = img");
    String csv = tables.resolve("pairs.csv").toString();
    assertThatThrownBy(() -> Sources.table(csv, options).candidates(spark))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read source 'table:" + csv + "' (file:" + csv + "): no image column 'img'; "
            + "available columns: [url, caption, extra]; set source.table.image-column to one of them");
    String parquet = tables.resolve("urls").toString();
    assertThatThrownBy(() -> Sources.table(parquet, TestSpark.options("source.table.caption-column = text"))
            .candidates(spark))
        .hasMessage("Cannot read source 'table:" + parquet + "': no caption column 'text'; "
            + "available columns: [id, url, caption, score]; set source.table.caption-column to one of them");
    assertThatThrownBy(() -> Sources.table(parquet, TestSpark.options("source.table.image-column = score"))
            .candidates(spark))
        .hasMessage("Cannot read source 'table:" + parquet + "': column 'score' has type double; "
            + "expected string or binary (set source.table.image-column)");
  }

  @Test
  void formatProblemsFailOnTheDriver() {
    String mixed = dir.resolve("mixed").toString();
    assertThatThrownBy(() -> Sources.table(mixed, SourceOptions.defaults()).candidates(spark))
        .hasMessage("Cannot read source 'table:" + mixed + "': " + mixed
            + " mixes [csv, tsv] files; point it at one format or set source.table.format");
    String json = dir.resolve("table.json").toString();
    assertThatThrownBy(() -> Sources.table(json, SourceOptions.defaults()).candidates(spark))
        .hasMessage("Cannot read source 'table:" + json + "': cannot tell the format of file:" + json
            + " from its extension; set source.table.format to parquet, csv or tsv");
    String missing = dir.resolve("missing.parquet").toString();
    assertThatThrownBy(() -> Sources.table(missing, SourceOptions.defaults()).candidates(spark))
        .hasMessage("Cannot read source 'table:" + missing + "': " + missing + " does not exist; expected "
            + TableSource.EXPECTED);
  }

  private static Map<String, String> captions(Map<String, Candidate> byKey) {
    return byKey.values().stream().collect(Collectors.toMap(Candidate::key, Candidate::caption));
  }

  private static byte[] bytes(Object... parts) {
    var out = new ByteArrayOutputStream();
    for (Object p : parts) {
      out.writeBytes(p instanceof byte[] b ? b : ((String) p).getBytes(StandardCharsets.UTF_8));
    }
    return out.toByteArray();
  }
}
