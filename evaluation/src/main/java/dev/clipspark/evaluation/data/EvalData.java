package dev.clipspark.evaluation.data;

import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.evaluation.Prompts;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Reads an evaluation dataset into Spark rows of {@link #SCHEMA}: {@code key} (unique, stable), {@code image}
 * (encoded bytes), {@code label} (class index, null without labels) and {@code caption} (null without captions).
 *
 * <table>
 *   <caption>Dataset kinds ({@code KIND:PATH})</caption>
 *   <tr><td>{@code idx:DIR}</td><td>MNIST-format files {@code train-images-idx3-ubyte[.gz]},
 *       {@code train-labels-idx1-ubyte[.gz]} and {@code t10k-*} (test); labels, no captions</td></tr>
 *   <tr><td>{@code folder:DIR}</td><td>one sub-directory per class holding images; {@code DIR/train} and
 *       {@code DIR/test} (or {@code val}) as splits when present, else DIR is the test split</td></tr>
 *   <tr><td>{@code table:FILE}</td><td>Parquet (a file or directory), CSV or TSV with an image column (bytes, or a
 *       path/URI) and a label and/or caption column; a split column picks the split when present</td></tr>
 *   <tr><td>{@code shards:DIR}</td><td>a dataset written by build-dataset (its {@code shards/}); captions, no
 *       labels</td></tr>
 * </table>
 */
public final class EvalData {

  /** The rows' schema. */
  public static final StructType SCHEMA = new StructType(new StructField[] {
      DataTypes.createStructField("key", DataTypes.StringType, false),
      DataTypes.createStructField("image", DataTypes.BinaryType, true),
      DataTypes.createStructField("label", DataTypes.IntegerType, true),
      DataTypes.createStructField("caption", DataTypes.StringType, true)});

  /** Image file name endings read from folders. */
  static final List<String> IMAGE_SUFFIXES = List.of(".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp");

  /** Dataset kinds. */
  public enum Kind {
    /** MNIST-format IDX files. */
    IDX,
    /** A folder per class. */
    FOLDER,
    /** A Parquet, CSV or TSV table. */
    TABLE,
    /** A dataset written by build-dataset. */
    SHARDS;

    /** The spelling in a spec, e.g. {@code idx}. */
    public String spelling() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The splits. */
  public enum Split {
    /** Training data (linear probes fit on it). */
    TRAIN,
    /** Held-out data everything is measured on. */
    TEST;

    /** Lower case, as in specs and reports. */
    public String spelling() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * A parsed {@code KIND:PATH}.
   *
   * @param kind the kind
   * @param path a local path or Hadoop URI
   */
  public record Spec(Kind kind, String path) implements java.io.Serializable {

    /** Parses {@code KIND:PATH}, e.g. {@code idx:/usr/share/datasets/fashion-mnist}. */
    public static Spec parse(String spec) {
      int colon = spec == null ? -1 : spec.indexOf(':');
      String allowed = "idx:, folder:, table:, shards:";
      if (colon <= 0) {
        throw new IllegalArgumentException("Cannot read the dataset \"" + spec + "\": expected KIND:PATH with KIND one of "
            + allowed);
      }
      String kind = spec.substring(0, colon).toLowerCase(Locale.ROOT);
      String path = spec.substring(colon + 1);
      for (Kind k : Kind.values()) {
        if (k.spelling().equals(kind)) {
          if (path.isBlank()) {
            throw new IllegalArgumentException("Cannot read the dataset \"" + spec + "\": no path after " + kind + ":");
          }
          return new Spec(k, path);
        }
      }
      throw new IllegalArgumentException("Cannot read the dataset \"" + spec + "\": unknown kind \"" + kind
          + "\"; allowed: " + allowed);
    }

    @Override
    public String toString() {
      return kind.spelling() + ":" + path;
    }
  }

  /**
   * Column names of {@code table:} datasets.
   *
   * @param image the image column: binary (encoded bytes) or string (a path or Hadoop URI)
   * @param label the label column (string names or integer indices); absent: no labels
   * @param caption the caption column; absent: no captions
   * @param key a unique key column; absent: the image path, or the SHA-256 of the image bytes
   * @param split the split column (values {@code train}, {@code test}); absent: the table is the test split
   */
  public record TableColumns(String image, String label, String caption, String key, String split)
      implements java.io.Serializable {}

  /**
   * Reading options.
   *
   * @param classes {@code auto} or a class list (shipped name or file, see {@link Prompts#classes})
   * @param partitions partitions to read into; 0: Spark's default parallelism
   * @param table column names of {@code table:} datasets
   */
  public record Options(String classes, int partitions, TableColumns table) {}

  /**
   * A dataset split read into Spark.
   *
   * @param spec what was read
   * @param split the split
   * @param rows the rows, {@link #SCHEMA}
   * @param classes class names in label order; empty when the rows carry no labels
   * @param classSource where the names came from
   */
  public record Loaded(Spec spec, Split split, Dataset<Row> rows, List<String> classes, String classSource) {
    /** Whether the rows carry labels. */
    public boolean labelled() {
      return !classes.isEmpty();
    }
  }

  private EvalData() {}

  /**
   * Reads one split. Nothing is decoded here: images are read as bytes, lazily, in the executors.
   *
   * @throws IllegalArgumentException naming the dataset when it lacks the split, the files or the columns
   */
  public static Loaded read(SparkSession spark, Spec spec, Split split, Options options) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    int partitions = options.partitions() > 0 ? options.partitions() : spark.sparkContext().defaultParallelism();
    return switch (spec.kind()) {
      case IDX -> readIdx(spark, spec, split, options, conf, partitions);
      case FOLDER -> readFolder(spark, spec, split, options, conf, partitions);
      case TABLE -> readTable(spark, spec, split, options, conf, partitions);
      case SHARDS -> readShards(spark, spec, split, partitions);
    };
  }

  // ---- idx: ----

  private static Loaded readIdx(SparkSession spark, Spec spec, Split split, Options options, Configuration conf,
      int partitions) {
    String prefix = split == Split.TRAIN ? "train" : "t10k";
    String images = idxFile(spec, prefix + "-images-idx3-ubyte", conf);
    String labels = idxFile(spec, prefix + "-labels-idx1-ubyte", conf);
    int count;
    try (DataInputStream a = IdxFile.open(images, conf); DataInputStream b = IdxFile.open(labels, conf)) {
      IdxFile.Header h = IdxFile.header(a, images, true);
      IdxFile.Header l = IdxFile.header(b, labels, false);
      if (h.count() != l.count()) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot read the dataset %s: %s holds %d images but %s holds %d labels", spec, images, h.count(), labels,
            l.count()));
      }
      count = h.count();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read the dataset " + spec + ": " + e.getMessage(), e);
    }
    List<String> classes;
    String source = options.classes();
    if ("auto".equals(source)) {
      String lower = spec.path().toLowerCase(Locale.ROOT);
      source = lower.contains("fashion") ? "fashion-mnist" : lower.contains("mnist") ? "mnist" : null;
      if (source == null) {
        throw new IllegalArgumentException("Cannot name the classes of " + spec + ": IDX files carry none; pass"
            + " --classes FILE (one name per line, in label order) or a shipped list: "
            + String.join(", ", Prompts.SHIPPED_CLASSES));
      }
    }
    classes = Prompts.classes(source, conf).entries();
    int parts = Math.max(1, Math.min(partitions, count));
    var ranges = new ArrayList<int[]>();
    for (int p = 0; p < parts; p++) {
      ranges.add(new int[] {(int) ((long) count * p / parts), (int) ((long) count * (p + 1) / parts)});
    }
    HadoopConf hc = HadoopConf.of(conf);
    String keyPrefix = split.spelling() + "-";
    int classCount = classes.size();
    JavaRDD<Row> rows = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(ranges, parts)
        .mapPartitions(it -> {
          var out = new ArrayList<Row>();
          while (it.hasNext()) {
            int[] r = it.next();
            readIdxRange(images, labels, r[0], r[1], hc.get(), keyPrefix, classCount, out);
          }
          return out.iterator();
        });
    return new Loaded(spec, split, spark.createDataFrame(rows, SCHEMA), classes, source);
  }

  private static String idxFile(Spec spec, String stem, Configuration conf) {
    for (String name : List.of(stem, stem + ".gz")) {
      Path p = new Path(spec.path(), name);
      try {
        if (p.getFileSystem(conf).exists(p)) {
          return p.toString();
        }
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot look for " + p + ": " + e.getMessage(), e);
      }
    }
    throw new IllegalArgumentException("Cannot read the dataset " + spec + ": it has no " + stem + " or " + stem
        + ".gz (MNIST's file names; the test split is t10k-*)");
  }

  static void readIdxRange(String images, String labels, int start, int end, Configuration conf, String keyPrefix,
      int classes, List<Row> out) throws IOException {
    try (DataInputStream a = IdxFile.open(images, conf); DataInputStream b = IdxFile.open(labels, conf)) {
      IdxFile.Header h = IdxFile.header(a, images, true);
      IdxFile.header(b, labels, false);
      int pixels = h.rows() * h.cols();
      IdxFile.skip(a, (long) start * pixels, images);
      IdxFile.skip(b, start, labels);
      byte[] buffer = new byte[pixels];
      int width = Integer.toString(h.count()).length();
      for (int i = start; i < end; i++) {
        IdxFile.readFully(a, buffer, images);
        int label = b.readUnsignedByte();
        if (label >= classes) {
          throw new IllegalArgumentException(String.format(Locale.ROOT,
              "Cannot read item %d of %s: its label %d is not below the %d class names", i, labels, label, classes));
        }
        String key = keyPrefix + String.format(Locale.ROOT, "%0" + width + "d", i);
        out.add(RowFactory.create(key, grayPng(buffer, h.cols(), h.rows()), label, null));
      }
    }
  }

  /** Encodes 8-bit grey pixels (row-major) as PNG. */
  static byte[] grayPng(byte[] pixels, int width, int height) {
    var image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
    image.getRaster().setDataElements(0, 0, width, height, pixels);
    var out = new ByteArrayOutputStream(pixels.length + 128);
    try {
      ImageIO.setUseCache(false);
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot encode a " + width + "x" + height + " image as PNG", e);
    }
    return out.toByteArray();
  }

  // ---- folder: ----

  private static Loaded readFolder(SparkSession spark, Spec spec, Split split, Options options, Configuration conf,
      int partitions) {
    Path root = new Path(spec.path());
    List<String[]> files = new ArrayList<>();
    List<String> dirNames;
    try {
      FileSystem fs = root.getFileSystem(conf);
      if (!fs.isDirectory(root)) {
        throw new IllegalArgumentException("Cannot read the dataset " + spec + ": it is not a directory");
      }
      Path base = root;
      Path train = new Path(root, "train");
      boolean hasSplits = fs.isDirectory(train);
      if (hasSplits) {
        if (split == Split.TRAIN) {
          base = train;
        } else {
          Path test = new Path(root, "test");
          base = fs.isDirectory(test) ? test : new Path(root, "val");
          if (!fs.isDirectory(base)) {
            throw new IllegalArgumentException("Cannot read the test split of " + spec + ": it has train/ but neither"
                + " test/ nor val/");
          }
        }
      } else if (split == Split.TRAIN) {
        throw new IllegalArgumentException("Cannot read a train split from " + spec + ": it has no train/"
            + " sub-directory (lay it out as DIR/train/CLASS/... and DIR/test/CLASS/..., or pass --train-dataset)");
      }
      var byClass = new TreeMap<String, List<String>>();
      for (FileStatus s : fs.listStatus(base)) {
        if (s.isDirectory() && !s.getPath().getName().startsWith(".")) {
          var list = new ArrayList<String>();
          collectImages(fs, s.getPath(), list);
          byClass.put(s.getPath().getName(), list);
        }
      }
      if (byClass.isEmpty()) {
        throw new IllegalArgumentException("Cannot read the dataset " + spec + ": " + base
            + " has no class sub-directories");
      }
      dirNames = new ArrayList<>(byClass.keySet());
      int label = 0;
      String basePath = base.toUri().getPath();
      for (Map.Entry<String, List<String>> e : byClass.entrySet()) {
        for (String f : e.getValue()) {
          String rel = new Path(f).toUri().getPath();
          rel = rel.startsWith(basePath) ? rel.substring(basePath.length()).replaceFirst("^/", "") : rel;
          files.add(new String[] {rel, f, Integer.toString(label)});
        }
        label++;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot list the dataset " + spec + ": " + e.getMessage(), e);
    }
    List<String> classes;
    String source = options.classes();
    if ("auto".equals(source)) {
      classes = dirNames.stream().map(n -> n.replace('_', ' ')).toList();
      source = "sub-directory names";
    } else {
      classes = Prompts.classes(source, conf).entries();
      if (classes.size() != dirNames.size()) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot name the classes of %s with %s: it lists %d names but the dataset has %d class directories (%s);"
                + " list one name per directory, in sorted directory order", spec, source, classes.size(),
            dirNames.size(), String.join(", ", dirNames.subList(0, Math.min(5, dirNames.size())))
                + (dirNames.size() > 5 ? ", ..." : "")));
      }
    }
    if (files.isEmpty()) {
      throw new IllegalArgumentException("Cannot read the dataset " + spec + ": its class directories hold no images ("
          + String.join(", ", IMAGE_SUFFIXES) + ")");
    }
    HadoopConf hc = HadoopConf.of(conf);
    JavaRDD<Row> rows = JavaSparkContext.fromSparkContext(spark.sparkContext())
        .parallelize(files, Math.max(1, Math.min(partitions, files.size())))
        .map(f -> RowFactory.create(f[0], readBytes(f[1], hc.get()), Integer.parseInt(f[2]), null));
    return new Loaded(spec, split, spark.createDataFrame(rows, SCHEMA), classes, source);
  }

  private static void collectImages(FileSystem fs, Path dir, List<String> out) throws IOException {
    FileStatus[] children = fs.listStatus(dir);
    java.util.Arrays.sort(children, java.util.Comparator.comparing(s -> s.getPath().getName()));
    for (FileStatus s : children) {
      String name = s.getPath().getName();
      if (name.startsWith(".") || name.startsWith("_")) {
        continue;
      }
      if (s.isDirectory()) {
        collectImages(fs, s.getPath(), out);
      } else if (IMAGE_SUFFIXES.stream().anyMatch(x -> name.toLowerCase(Locale.ROOT).endsWith(x))) {
        out.add(s.getPath().toString());
      }
    }
  }

  static byte[] readBytes(String file, Configuration conf) throws IOException {
    Path p = new Path(file);
    try (InputStream in = p.getFileSystem(conf).open(p)) {
      return in.readAllBytes();
    }
  }

  // ---- table: ----

  private static Loaded readTable(SparkSession spark, Spec spec, Split split, Options options, Configuration conf,
      int partitions) {
    String path = spec.path();
    String lower = path.toLowerCase(Locale.ROOT);
    Dataset<Row> table;
    if (lower.endsWith(".csv") || lower.endsWith(".tsv")) {
      table = spark.read().option("header", "true").option("sep", lower.endsWith(".tsv") ? "\t" : ",")
          .option("multiLine", "true").option("escape", "\"").csv(path);
    } else {
      table = spark.read().parquet(path);
    }
    TableColumns c = options.table();
    var names = java.util.Set.of(table.columns());
    if (!names.contains(c.image())) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot read the dataset %s: it has no image column \"%s\" (eval.table.image-column); its columns: %s", spec,
          c.image(), String.join(", ", table.columns())));
    }
    boolean hasLabel = names.contains(c.label());
    boolean hasCaption = names.contains(c.caption());
    if (!hasLabel && !hasCaption) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot read the dataset %s: it has neither a label column \"%s\" (eval.table.label-column) nor a caption"
              + " column \"%s\" (eval.table.caption-column); its columns: %s", spec, c.label(), c.caption(),
          String.join(", ", table.columns())));
    }
    if (names.contains(c.split())) {
      table = table.filter(functions.lower(functions.col(c.split())).equalTo(split.spelling()));
    } else if (split == Split.TRAIN) {
      throw new IllegalArgumentException("Cannot read a train split from " + spec + ": it has no split column \""
          + c.split() + "\" (eval.table.split-column; values train and test); pass --train-dataset");
    }
    boolean imageIsPath = table.schema().apply(c.image()).dataType().equals(DataTypes.StringType);
    boolean hasKey = names.contains(c.key());
    List<String> classes = List.of();
    String source = "";
    Column label = functions.lit(null).cast(DataTypes.IntegerType);
    if (hasLabel) {
      var type = table.schema().apply(c.label()).dataType();
      boolean numeric = type.equals(DataTypes.IntegerType) || type.equals(DataTypes.LongType)
          || type.equals(DataTypes.ShortType) || type.equals(DataTypes.ByteType);
      if (numeric) {
        if ("auto".equals(options.classes())) {
          throw new IllegalArgumentException("Cannot name the classes of " + spec + ": its label column \""
              + c.label() + "\" holds numbers; pass --classes FILE (one name per line, in label order)");
        }
        classes = Prompts.classes(options.classes(), conf).entries();
        source = options.classes();
        label = functions.col(c.label()).cast(DataTypes.IntegerType);
      } else {
        // Names: every split must number them alike, so they come from the whole table, sorted.
        Dataset<Row> all = table;
        if (names.contains(c.split())) {
          all = lower.endsWith(".csv") || lower.endsWith(".tsv")
              ? spark.read().option("header", "true").option("sep", lower.endsWith(".tsv") ? "\t" : ",")
                  .option("multiLine", "true").option("escape", "\"").csv(path)
              : spark.read().parquet(path);
        }
        List<String> distinct = all.select(functions.col(c.label()).cast(DataTypes.StringType)).distinct()
            .as(org.apache.spark.sql.Encoders.STRING()).collectAsList().stream()
            .filter(java.util.Objects::nonNull).sorted().toList();
        if ("auto".equals(options.classes())) {
          classes = distinct;
          source = "label column \"" + c.label() + "\"";
        } else {
          classes = Prompts.classes(options.classes(), conf).entries();
          source = options.classes();
          var missing = new ArrayList<>(distinct);
          missing.removeAll(classes);
          if (!missing.isEmpty()) {
            throw new IllegalArgumentException("Cannot label " + spec + " with the classes of " + source + ": it lacks "
                + String.join(", ", missing.subList(0, Math.min(5, missing.size()))));
          }
        }
        // Map each name to its index through a small lookup table.
        var lookup = new ArrayList<Row>();
        for (int i = 0; i < classes.size(); i++) {
          lookup.add(RowFactory.create(classes.get(i), i));
        }
        var lookupSchema = new StructType().add("_name", DataTypes.StringType).add("_index", DataTypes.IntegerType);
        table = table.join(functions.broadcast(spark.createDataFrame(lookup, lookupSchema)),
            functions.col(c.label()).cast(DataTypes.StringType).equalTo(functions.col("_name")), "left");
        label = functions.col("_index");
      }
    }
    Column key = hasKey ? functions.col(c.key()).cast(DataTypes.StringType)
        : imageIsPath ? functions.col(c.image()) : functions.sha2(functions.col(c.image()), 256);
    Column caption = hasCaption ? functions.col(c.caption()).cast(DataTypes.StringType)
        : functions.lit(null).cast(DataTypes.StringType);
    Dataset<Row> selected = table.select(key.as("key"), functions.col(c.image()).as("image_in"), label.as("label"),
        caption.as("caption"));
    if (partitions > 0) {
      selected = selected.repartition(partitions);
    }
    HadoopConf hc = HadoopConf.of(conf);
    JavaRDD<Row> rows = selected.javaRDD().map(r -> {
      Object image = r.get(1);
      byte[] bytes = image instanceof byte[] b ? b : image == null ? null : readBytes((String) image, hc.get());
      return RowFactory.create(r.getString(0), bytes, r.isNullAt(2) ? null : r.getInt(2), r.getString(3));
    });
    return new Loaded(spec, split, spark.createDataFrame(rows, SCHEMA), classes, source);
  }

  // ---- shards: ----

  private static Loaded readShards(SparkSession spark, Spec spec, Split split, int partitions) {
    if (split == Split.TRAIN) {
      throw new IllegalArgumentException("Cannot read a train split from " + spec + ": a build-dataset output is one"
          + " set of captioned images; pass --train-dataset");
    }
    Path shards = new Path(spec.path(), "shards");
    Dataset<Row> table = spark.read().parquet(shards.toString())
        .select(functions.col("key"), functions.col("image"), functions.lit(null).cast(DataTypes.IntegerType)
            .as("label"), functions.col("caption"));
    if (partitions > 0) {
      table = table.repartition(partitions);
    }
    return new Loaded(spec, split, spark.createDataFrame(table.javaRDD(), SCHEMA), List.of(), "");
  }
}
