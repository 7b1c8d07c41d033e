package dev.clipspark.dataset.source;

import static org.apache.spark.sql.functions.col;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.source.SourceOptions.TableFormat;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code table:PATH}: Parquet, CSV or TSV files with an image column and a caption column.
 *
 * <p>The image column holds binary image bytes, an http(s) URL, or a path / file-system URI; a relative
 * path is resolved against the directory of the table file that names it (so a CSV can sit beside its
 * images). A null or blank image is {@code MISSING_IMAGE}, a null caption {@code MISSING_CAPTION}; a
 * binary caption column, and every CSV/TSV caption, is decoded strictly ({@code CAPTION_NOT_UTF8}).
 *
 * <p>Keys: the value of {@code source.table.key-column} when it is set (its uniqueness is the table's
 * business; a null or empty value falls back to the file key), else
 * {@code <file's relative name>/<row number in that file, %09d>}. The row number must not depend on how
 * Spark splits the input:
 * <ul>
 *   <li>Parquet is read by Spark (which also chooses the partitions, by
 *       {@code spark.sql.files.maxPartitionBytes}) and numbered with the hidden
 *       {@code _metadata.row_index} (Spark 3.5), the row's position in its file, whatever the splits;
 *       the file comes from {@code _metadata.file_path}.</li>
 *   <li>CSV and TSV have no such column (Spark's CSV splits a file by byte ranges and its partitions
 *       pack splits by size, so no counter over its partitions is per file). They are therefore read
 *       here, one Spark task per file, record by record with {@link DelimitedReader}: the row number
 *       is the record's index among the file's non-empty data records. A file can then not be split,
 *       which is the price of stable keys; repartition downstream if files are few and large.
 *       Compressed files ({@code .gz}, {@code .bz2}, ...) are decompressed with Hadoop's codecs.</li>
 * </ul>
 * Columns are checked on the driver (for CSV/TSV against the first file's header) before any task
 * runs; a CSV/TSV file whose own header lacks a column fails its task with the same message.
 */
final class TableSource implements CandidateSource {

  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(TableSource.class);
  private static final List<String> COMPRESSION = List.of("gz", "bz2", "deflate", "zst", "lz4", "snappy", "xz");
  private static final Pattern SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]*:.*");
  static final String EXPECTED =
      "a .parquet, .csv, .tsv or .tab file, a directory of them or a glob (or set source.table.format)";

  private final String spec;
  private final String path;
  private final SourceOptions options;

  /** A table file's relative name (the key prefix) and its directory (the base of relative paths). */
  record FileRef(String relative, String dir) implements Serializable {}

  TableSource(String spec, String path, SourceOptions options) {
    this.spec = spec;
    this.path = path;
    this.options = options;
  }

  @Override
  public String spec() {
    return spec;
  }

  @Override
  public JavaRDD<Candidate> candidates(SparkSession spark) {
    HadoopConf conf = HadoopConf.from(spark);
    TableFormat configured = options.tableFormat();
    List<FileListing.Listed> files = FileListing.list(spec, path, conf.get(), "._",
        rel -> configured != TableFormat.AUTO || formatOf(rel) != null, EXPECTED,
        configured == TableFormat.AUTO ? ".parquet, .csv, .tsv or .tab files" : "files");
    TableFormat format = configured != TableFormat.AUTO ? configured : detect(files);
    LOG.info("Reading {} {} files of {}", files.size(), format.name().toLowerCase(Locale.ROOT), spec);
    return format == TableFormat.PARQUET ? parquet(spark, files) : delimited(spark, files, conf, format);
  }

  private TableFormat detect(List<FileListing.Listed> files) {
    var formats = new TreeSet<TableFormat>();
    for (var f : files) {
      TableFormat t = formatOf(f.relative());
      if (t == null) {
        throw new IllegalArgumentException(String.format(
            "Cannot read source '%s': cannot tell the format of %s from its extension; "
                + "set source.table.format to parquet, csv or tsv", spec, f.path()));
      }
      formats.add(t);
    }
    if (formats.size() > 1) {
      throw new IllegalArgumentException(String.format(
          "Cannot read source '%s': %s mixes %s files; point it at one format or set source.table.format",
          spec, path, formats.toString().toLowerCase(Locale.ROOT)));
    }
    return formats.first();
  }

  /** The format of a file by its extension (after a compression extension), or null. */
  static TableFormat formatOf(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    String ext = FileListing.extension(n);
    if (COMPRESSION.contains(ext)) {
      ext = FileListing.extension(FileListing.stripExtension(n));
    }
    switch (ext) {
      case "parquet":
        return TableFormat.PARQUET;
      case "csv":
        return TableFormat.CSV;
      case "tsv":
      case "tab":
        return TableFormat.TSV;
      default:
        return null;
    }
  }

  // ---------------------------------------------------------------- Parquet

  private JavaRDD<Candidate> parquet(SparkSession spark, List<FileListing.Listed> files) {
    Dataset<Row> df = spark.read().parquet(files.stream().map(FileListing.Listed::path).toArray(String[]::new));
    var fields = new HashMap<String, DataType>();
    for (StructField f : df.schema().fields()) {
      fields.put(f.name(), f.dataType());
    }
    List<String> available = Arrays.asList(df.schema().fieldNames());
    requireColumn(available, options.imageColumn(), "image", SourceOptions.TABLE_IMAGE_COLUMN);
    requireColumn(available, options.captionColumn(), "caption", SourceOptions.TABLE_CAPTION_COLUMN);
    requireType(fields.get(options.imageColumn()), options.imageColumn(), SourceOptions.TABLE_IMAGE_COLUMN);
    requireType(fields.get(options.captionColumn()), options.captionColumn(),
        SourceOptions.TABLE_CAPTION_COLUMN);
    boolean keyed = options.hasKeyColumn();
    if (keyed) {
      requireColumn(available, options.keyColumn(), "key", SourceOptions.TABLE_KEY_COLUMN);
    }
    Map<String, FileRef> refs = refs(files);
    var columns = new ArrayList<Column>(List.of(
        col(quote(options.imageColumn())),
        col(quote(options.captionColumn())),
        col("_metadata.file_path"),
        col("_metadata.row_index")));
    if (keyed) {
      columns.add(col(quote(options.keyColumn())).cast("string"));
    }
    String source = spec;
    return df.select(columns.toArray(Column[]::new)).javaRDD().map(row -> {
      String filePath = row.getString(2);
      FileRef ref = refs.get(URI.create(filePath).getPath());
      if (ref == null) {
        var p = new Path(URI.create(filePath));
        ref = new FileRef(p.getName(), p.getParent().toString());
      }
      String key = keyed && !row.isNullAt(4) && !row.getString(4).isEmpty()
          ? row.getString(4)
          : rowKey(ref.relative(), row.getLong(3));
      return candidate(key, source, row.get(0), row.get(1), ref.dir());
    });
  }

  private void requireType(DataType type, String column, String key) {
    if (!(type instanceof StringType) && !(type instanceof BinaryType)) {
      throw new IllegalArgumentException(String.format(
          "Cannot read source '%s': column '%s' has type %s; expected string or binary (set %s)",
          spec, column, type.simpleString(), key));
    }
  }

  private static String quote(String column) {
    return "`" + column.replace("`", "``") + "`";
  }

  // ---------------------------------------------------------------- CSV / TSV

  private JavaRDD<Candidate> delimited(SparkSession spark, List<FileListing.Listed> files, HadoopConf conf,
      TableFormat format) {
    boolean tsv = format == TableFormat.TSV;
    for (var file : files) {
      try (var reader = DelimitedReader.of(open(file.path(), conf.get()), tsv)) {
        List<byte[]> first = reader.next();
        if (first != null || file == files.get(files.size() - 1)) {
          layout(first, file, spec, options);
          break;
        }
      } catch (IOException e) {
        throw new UncheckedIOException(String.format(
            "Cannot read source '%s': reading the header of %s failed: %s", spec, file.path(), e.getMessage()), e);
      }
    }
    var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Broadcast<HadoopConf> shared = jsc.broadcast(conf);
    String source = spec;
    SourceOptions opts = options;
    return jsc.parallelize(files, files.size()).flatMap(f -> readDelimited(f, shared.value(), tsv, source, opts));
  }

  /** Column positions of a CSV/TSV file. */
  record Layout(List<String> names, int image, int caption, int key, boolean header) {}

  /** The layout given the first record of a file (the header, or the first data row without header). */
  private static Layout layout(List<byte[]> first, FileListing.Listed file, String spec, SourceOptions options) {
    var names = new ArrayList<String>();
    if (first != null) {
      for (int i = 0; i < first.size(); i++) {
        names.add(options.tableHeader() ? new String(first.get(i), StandardCharsets.UTF_8) : "_c" + i);
      }
    }
    String where = spec + "' (" + file.path() + ")";
    int image = indexOf(names, options.imageColumn(), "image", SourceOptions.TABLE_IMAGE_COLUMN, where);
    int caption = indexOf(names, options.captionColumn(), "caption", SourceOptions.TABLE_CAPTION_COLUMN, where);
    int key = options.hasKeyColumn()
        ? indexOf(names, options.keyColumn(), "key", SourceOptions.TABLE_KEY_COLUMN, where)
        : -1;
    return new Layout(names, image, caption, key, options.tableHeader());
  }

  private static int indexOf(List<String> names, String column, String role, String key, String where) {
    int i = names.indexOf(column);
    if (i < 0) {
      throw missingColumn("'" + where, column, role, names, key);
    }
    return i;
  }

  private void requireColumn(List<String> available, String column, String role, String key) {
    if (!available.contains(column)) {
      throw missingColumn("'" + spec + "'", column, role, available, key);
    }
  }

  private static IllegalArgumentException missingColumn(String where, String column, String role,
      List<String> available, String key) {
    return new IllegalArgumentException(String.format(
        "Cannot read source %s: no %s column '%s'; available columns: %s; set %s to one of them",
        where, role, column, available, key));
  }

  private static InputStream open(String file, Configuration conf) throws IOException {
    var p = new Path(file);
    InputStream in = p.getFileSystem(conf).open(p);
    CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(p);
    return codec == null ? in : codec.createInputStream(in);
  }

  static Iterator<Candidate> readDelimited(FileListing.Listed file, HadoopConf conf, boolean tsv, String source,
      SourceOptions options) throws IOException {
    DelimitedReader reader = DelimitedReader.of(open(file.path(), conf.get()), tsv);
    TaskContext task = TaskContext.get();
    if (task != null) {
      task.addTaskCompletionListener((TaskCompletionListener) ctx -> {
        try {
          reader.close();
        } catch (IOException e) {
          LOG.debug("Closing {} failed: {}", file.path(), e.getMessage());
        }
      });
    }
    List<byte[]> first = reader.next();
    if (first == null) {
      reader.close();
      return Collections.emptyIterator();
    }
    Layout layout = layout(first, file, source, options);
    String dir = new Path(file.path()).getParent().toString();
    return new Iterator<>() {
      List<byte[]> next = layout.header() ? reader.next() : first;
      long row;

      @Override
      public boolean hasNext() {
        return next != null;
      }

      @Override
      public Candidate next() {
        if (next == null) {
          throw new NoSuchElementException();
        }
        List<byte[]> fields = next;
        try {
          next = reader.next();
        } catch (IOException e) {
          throw new UncheckedIOException("Cannot read " + file.path() + " after row " + row + ": "
              + e.getMessage(), e);
        }
        if (next == null) {
          try {
            reader.close();
          } catch (IOException e) {
            LOG.debug("Closing {} failed: {}", file.path(), e.getMessage());
          }
        }
        String key = rowKey(file.relative(), row++);
        if (layout.key() >= 0 && layout.key() < fields.size() && fields.get(layout.key()).length > 0) {
          key = new String(fields.get(layout.key()), StandardCharsets.UTF_8);
        }
        String image = layout.image() < fields.size()
            ? new String(fields.get(layout.image()), StandardCharsets.UTF_8) : null;
        byte[] caption = layout.caption() < fields.size() ? fields.get(layout.caption()) : null;
        return candidate(key, source, image, caption, dir);
      }
    };
  }

  // ---------------------------------------------------------------- rows to candidates

  static String rowKey(String relative, long row) {
    return String.format("%s/%09d", relative, row);
  }

  /**
   * The candidate of one row.
   *
   * @param image byte[] (bytes), a String (URL or path) or null
   * @param caption a String, byte[] (decoded strictly) or null
   * @param dir the table file's directory, against which relative paths are resolved
   */
  static Candidate candidate(String key, String source, Object image, Object caption, String dir) {
    String text;
    boolean notUtf8 = false;
    if (caption instanceof byte[] b) {
      text = Utf8.decodeStrict(b);
      notUtf8 = text == null;
    } else {
      text = (String) caption;
    }
    if (image instanceof byte[] bytes) {
      return reject(key, source, text, null, caption, notUtf8)
          .orElseGet(() -> Candidate.ofBytes(key, source, text, bytes));
    }
    String s = image == null ? "" : ((String) image).trim();
    if (s.isEmpty()) {
      return Candidate.rejected(key, source, text, null, RejectReason.MISSING_IMAGE);
    }
    String lower = s.toLowerCase(Locale.ROOT);
    if (lower.startsWith("http://") || lower.startsWith("https://")) {
      return reject(key, source, text, s, caption, notUtf8)
          .orElseGet(() -> Candidate.ofUrl(key, source, text, s));
    }
    String resolved = s.startsWith("/") || SCHEME.matcher(s).matches() ? s : new Path(new Path(dir), s).toString();
    return reject(key, source, text, null, caption, notUtf8)
        .orElseGet(() -> Candidate.ofPath(key, source, text, resolved));
  }

  private static Optional<Candidate> reject(String key, String source, String text, String url,
      Object caption, boolean notUtf8) {
    if (caption == null) {
      return Optional.of(Candidate.rejected(key, source, null, url, RejectReason.MISSING_CAPTION));
    }
    if (notUtf8) {
      return Optional.of(Candidate.rejected(key, source, null, url, RejectReason.CAPTION_NOT_UTF8));
    }
    return Optional.empty();
  }

  /** Each file's reference by its decoded path, the form {@code _metadata.file_path} is matched in. */
  private static Map<String, FileRef> refs(List<FileListing.Listed> files) {
    var refs = new HashMap<String, FileRef>();
    for (var f : files) {
      var p = new Path(f.path());
      refs.put(p.toUri().getPath(), new FileRef(f.relative(), p.getParent().toString()));
    }
    return refs;
  }
}
