package dev.clipspark.dataset.source;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The validated {@code source.*} settings, a small immutable value that is safe to ship to executors.
 *
 * <p>Build it with {@link #from(Settings)} (reads and checks every key) or {@link #defaults()} (the values
 * of {@code reference.conf}). The canonical constructor checks the same ranges, so a value built in code
 * cannot bypass them; a bad value raises a {@link ConfigValueException} naming the key.
 *
 * @param partitions partitions for sources listed or generated on the driver (folder, synthetic);
 *     0 means Spark's default parallelism
 * @param imageColumn table column with an http(s) URL, a path / file-system URI, or image bytes
 * @param captionColumn table column with the caption
 * @param keyColumn table column with a stable row id, or empty to key rows by file and row number
 * @param tableFormat how table files are read
 * @param tableHeader whether CSV/TSV files start with a header line naming the columns
 * @param folderExtensions lower-case extensions (no dot) that count as images in folder sources
 * @param syntheticCount number of pairs a synthetic source generates
 * @param syntheticSeed seed of the synthetic generator
 * @param syntheticImageSize side of synthetic images in pixels
 * @param maxFileBytes largest image or caption file (or tar member) a source reads whole; larger ones
 *     are rejected as {@code read_error}
 */
public record SourceOptions(
    int partitions,
    String imageColumn,
    String captionColumn,
    String keyColumn,
    TableFormat tableFormat,
    boolean tableHeader,
    List<String> folderExtensions,
    long syntheticCount,
    long syntheticSeed,
    int syntheticImageSize,
    long maxFileBytes) implements Serializable {

  private static final long serialVersionUID = 1L;

  /** How table files are read. */
  public enum TableFormat {
    /** By file extension: {@code .parquet}; {@code .csv}; {@code .tsv} or {@code .tab}. */
    AUTO,
    /** Apache Parquet. */
    PARQUET,
    /** Comma-separated values (RFC 4180 quoting). */
    CSV,
    /** Tab-separated values (no quoting: a field holds no tab or line break). */
    TSV
  }

  /** Partitions for sources listed or generated on the driver; 0: Spark's default parallelism. */
  public static final String PARTITIONS = "source.partitions";
  public static final int PARTITIONS_DEFAULT = 0;
  public static final int PARTITIONS_MAX = 100_000;

  /** Table column holding the image (URL, path or bytes). */
  public static final String TABLE_IMAGE_COLUMN = "source.table.image-column";
  public static final String TABLE_IMAGE_COLUMN_DEFAULT = "url";

  /** Table column holding the caption. */
  public static final String TABLE_CAPTION_COLUMN = "source.table.caption-column";
  public static final String TABLE_CAPTION_COLUMN_DEFAULT = "caption";

  /** Optional table column with a stable row id; empty: key by file and row number. */
  public static final String TABLE_KEY_COLUMN = "source.table.key-column";
  public static final String TABLE_KEY_COLUMN_DEFAULT = "";

  /** Table format: auto, parquet, csv or tsv. */
  public static final String TABLE_FORMAT = "source.table.format";
  public static final TableFormat TABLE_FORMAT_DEFAULT = TableFormat.AUTO;

  /** Whether CSV/TSV files have a header line. */
  public static final String TABLE_HEADER = "source.table.header";
  public static final boolean TABLE_HEADER_DEFAULT = true;

  /** Image file extensions of folder sources. */
  public static final String FOLDER_EXTENSIONS = "source.folder.extensions";
  public static final List<String> FOLDER_EXTENSIONS_DEFAULT = List.of("jpg", "jpeg", "png", "webp", "bmp", "gif");

  /** Number of synthetic pairs. */
  public static final String SYNTHETIC_COUNT = "source.synthetic.count";
  public static final long SYNTHETIC_COUNT_DEFAULT = 2000;
  public static final long SYNTHETIC_COUNT_MAX = 1_000_000_000L;

  /** Seed of the synthetic generator. */
  public static final String SYNTHETIC_SEED = "source.synthetic.seed";
  public static final long SYNTHETIC_SEED_DEFAULT = 7;

  /** Side of synthetic images in pixels. */
  public static final String SYNTHETIC_IMAGE_SIZE = "source.synthetic.image-size";
  public static final int SYNTHETIC_IMAGE_SIZE_DEFAULT = 96;
  public static final int SYNTHETIC_IMAGE_SIZE_MIN = 16;
  public static final int SYNTHETIC_IMAGE_SIZE_MAX = 4096;

  /** Largest file (or tar member) read whole by a source. */
  public static final String MAX_FILE_BYTES = "source.max-file-bytes";
  public static final long MAX_FILE_BYTES_DEFAULT = 32L << 20;
  /** The largest {@code byte[]} a JVM reliably allocates. */
  public static final long MAX_FILE_BYTES_MAX = Integer.MAX_VALUE - 8;

  private static final Pattern EXTENSION = Pattern.compile("[a-z0-9]+");

  public SourceOptions {
    check(PARTITIONS, partitions, 0, PARTITIONS_MAX);
    checkColumn(TABLE_IMAGE_COLUMN, imageColumn);
    checkColumn(TABLE_CAPTION_COLUMN, captionColumn);
    Objects.requireNonNull(keyColumn, TABLE_KEY_COLUMN);
    Objects.requireNonNull(tableFormat, TABLE_FORMAT);
    Objects.requireNonNull(folderExtensions, FOLDER_EXTENSIONS);
    folderExtensions = List.copyOf(folderExtensions);
    if (folderExtensions.isEmpty()) {
      throw new ConfigValueException(FOLDER_EXTENSIONS, "[]", "must list at least one image extension");
    }
    for (String e : folderExtensions) {
      if (!EXTENSION.matcher(e).matches() || e.equals("txt")) {
        throw new ConfigValueException(FOLDER_EXTENSIONS, folderExtensions,
            "must be lower-case image extensions without a dot, such as [jpg, png], and not txt (captions)");
      }
    }
    check(SYNTHETIC_COUNT, syntheticCount, 1, SYNTHETIC_COUNT_MAX);
    check(SYNTHETIC_IMAGE_SIZE, syntheticImageSize, SYNTHETIC_IMAGE_SIZE_MIN, SYNTHETIC_IMAGE_SIZE_MAX);
    if (maxFileBytes < 1 || maxFileBytes > MAX_FILE_BYTES_MAX) {
      throw new ConfigValueException(MAX_FILE_BYTES, maxFileBytes + " bytes",
          "must be between 1 and " + MAX_FILE_BYTES_MAX + " bytes");
    }
  }

  /** The defaults, equal to the {@code source} block of {@code reference.conf}. */
  public static SourceOptions defaults() {
    return new SourceOptions(PARTITIONS_DEFAULT, TABLE_IMAGE_COLUMN_DEFAULT, TABLE_CAPTION_COLUMN_DEFAULT,
        TABLE_KEY_COLUMN_DEFAULT, TABLE_FORMAT_DEFAULT, TABLE_HEADER_DEFAULT, FOLDER_EXTENSIONS_DEFAULT,
        SYNTHETIC_COUNT_DEFAULT, SYNTHETIC_SEED_DEFAULT, SYNTHETIC_IMAGE_SIZE_DEFAULT, MAX_FILE_BYTES_DEFAULT);
  }

  /**
   * Reads and validates every {@code source.*} key.
   *
   * @throws ConfigValueException naming the first key whose value is missing or not allowed
   */
  public static SourceOptions from(Settings s) {
    return new SourceOptions(
        s.intIn(PARTITIONS, 0, PARTITIONS_MAX),
        s.nonEmptyString(TABLE_IMAGE_COLUMN),
        s.nonEmptyString(TABLE_CAPTION_COLUMN),
        s.string(TABLE_KEY_COLUMN).trim(),
        s.enumOf(TABLE_FORMAT, TableFormat.class),
        s.bool(TABLE_HEADER),
        s.stringList(FOLDER_EXTENSIONS),
        s.longIn(SYNTHETIC_COUNT, 1, SYNTHETIC_COUNT_MAX),
        s.longIn(SYNTHETIC_SEED, Long.MIN_VALUE, Long.MAX_VALUE),
        s.intIn(SYNTHETIC_IMAGE_SIZE, SYNTHETIC_IMAGE_SIZE_MIN, SYNTHETIC_IMAGE_SIZE_MAX),
        s.bytesIn(MAX_FILE_BYTES, 1, MAX_FILE_BYTES_MAX));
  }

  /** Whether rows are keyed by {@link #keyColumn()} rather than by file and row number. */
  public boolean hasKeyColumn() {
    return !keyColumn.isEmpty();
  }

  /** A copy with another synthetic count (for demos and tests that need a few pairs). */
  public SourceOptions withSyntheticCount(long count) {
    return new SourceOptions(partitions, imageColumn, captionColumn, keyColumn, tableFormat, tableHeader,
        folderExtensions, count, syntheticSeed, syntheticImageSize, maxFileBytes);
  }

  /** A copy with another synthetic seed. */
  public SourceOptions withSyntheticSeed(long seed) {
    return new SourceOptions(partitions, imageColumn, captionColumn, keyColumn, tableFormat, tableHeader,
        folderExtensions, syntheticCount, seed, syntheticImageSize, maxFileBytes);
  }

  /** A copy with another partition count (0: Spark's default parallelism). */
  public SourceOptions withPartitions(int n) {
    return new SourceOptions(n, imageColumn, captionColumn, keyColumn, tableFormat, tableHeader,
        folderExtensions, syntheticCount, syntheticSeed, syntheticImageSize, maxFileBytes);
  }

  private static void check(String key, long v, long min, long max) {
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }

  private static void checkColumn(String key, String v) {
    if (v == null || v.isBlank()) {
      throw new ConfigValueException(key, v == null ? "nothing" : "\"" + v + "\"", "must not be empty");
    }
  }
}
