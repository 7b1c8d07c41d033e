package dev.clipspark.evaluation;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigValueFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.evaluation.data.EvalData;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The entry point of the Jupyter notebooks in {@code notebooks/} (through JPype; {@code notebooks/clipspark.py}
 * starts the JVM): a few static methods that take and return plain values (strings, maps, JSON text), so the
 * Python side needs no knowledge of Spark, Typesafe Config or Jackson. Everything else the notebooks call is the
 * ordinary evaluation API: {@link ClipEvaluator}, {@link ZeroShotClassifier}, {@link Prompts}, {@link Evaluation}.
 *
 * <pre>{@code
 * SparkSession spark = Notebook.localSpark();
 * String json = Notebook.zeroshot(spark, "/runs/tiny", "idx:/usr/share/datasets/fashion-mnist", "/tmp/zs",
 *     Map.of("eval.max-rows", 500, "eval.compare-single-template", true));
 * }</pre>
 *
 * <p>Settings are {@code eval.*} keys of {@code reference.conf} (documented in {@code conf/evaluation.conf}), with
 * the same checks as {@code clip evaluate --set key=value}: an unknown key or a bad value fails before anything
 * runs, naming the key.
 */
public final class Notebook {

  /** The master of {@link #localSpark()}: two local threads. */
  public static final String MASTER_DEFAULT = "local[2]";

  /** A package Spark reflects into on Java 17; opened to us only when the JVM has Spark's flags. */
  static final String PROBED_PACKAGE = "sun.nio.ch";

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private Notebook() {}

  /** {@link #localSpark(String)} with {@link #MASTER_DEFAULT}. */
  public static SparkSession localSpark() {
    return localSpark(MASTER_DEFAULT);
  }

  /**
   * A Spark session for interactive use, or the one already running in this JVM: {@code master} (e.g.
   * {@code local[2]}), no web UI, no console progress bar, few shuffle partitions, bound to the loopback address.
   *
   * @throws IllegalStateException when the JVM was started without Spark's Java 17 flags ({@code --add-opens},
   *     {@code spark.java17.flags} in pom.xml), which Spark needs and notebooks/clipspark.py passes
   */
  public static SparkSession localSpark(String master) {
    requireSparkJvmFlags();
    return SparkSession.builder()
        .master(master)
        .appName("clipspark notebook")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate();
  }

  /** Fails with the fix when {@code java.base} is not opened to unnamed modules as Spark needs on Java 17. */
  static void requireSparkJvmFlags() {
    Module base = Object.class.getModule();
    if (!base.isOpen(PROBED_PACKAGE, Notebook.class.getModule())) {
      throw new IllegalStateException("Cannot start Spark in this JVM: it was started without Spark's Java 17"
          + " flags (--add-opens=java.base/" + PROBED_PACKAGE + "=ALL-UNNAMED and the others of spark.java17.flags"
          + " in pom.xml); start it through notebooks/clipspark.py, or pass them to the JVM yourself");
    }
  }

  /**
   * The settings {@code reference.conf} holds with {@code overrides} on top. Values are strings in HOCON syntax
   * (as after {@code --set key=}), numbers, booleans or lists of them.
   *
   * @throws ConfigValueException naming the key when a key is unknown or a value cannot be parsed
   */
  public static Settings settings(Map<String, ?> overrides) {
    Config reference = ConfigFactory.defaultReference();
    Config given = ConfigFactory.empty();
    for (var e : overrides.entrySet()) {
      String key = e.getKey();
      if (!reference.hasPathOrNull(key) || reference.getValue(key) instanceof ConfigObject) {
        throw new ConfigValueException(key, e.getValue(), "unknown key; " + knownNear(key, reference));
      }
      given = given.withValue(key, value(key, e.getValue()));
    }
    return new Settings(given.withFallback(reference).resolve());
  }

  /**
   * The evaluation options: {@code eval.*} of {@code reference.conf} with {@code overrides} on top, read and
   * checked as {@code clip evaluate} does.
   *
   * @throws ConfigValueException naming the key when a key is unknown or a value is not allowed
   */
  public static EvalOptions options(Map<String, ?> overrides) {
    return EvalOptions.from(settings(overrides));
  }

  /**
   * {@link #evaluate} of {@link Evaluation.Task#ZEROSHOT}: zero-shot classification of the dataset's test split
   * ({@code eval.compare-single-template = true} also scores the single template, as {@code --compare-templates}
   * does).
   *
   * @return report.json's text
   */
  public static String zeroshot(SparkSession spark, String checkpoint, String dataset, String out,
      Map<String, ?> overrides) {
    return evaluate(spark, "zeroshot", checkpoint, dataset, out, overrides);
  }

  /**
   * Runs one evaluation as {@code clip evaluate --task TASK} does and writes {@code OUT/report.json} and
   * {@code OUT/report.html}.
   *
   * @param task {@code zeroshot}, {@code linear-probe}, {@code retrieval} or {@code embed}
   * @param checkpoint a training output directory (its newest checkpoint) or a {@code step-*} directory
   * @param dataset {@code KIND:PATH}, e.g. {@code idx:/usr/share/datasets/fashion-mnist}
   * @param out the report's directory
   * @param overrides {@code eval.*} settings, see {@link #settings}
   * @return the report as JSON text (what report.json holds, plus the paths of the two files)
   */
  public static String evaluate(SparkSession spark, String task, String checkpoint, String dataset, String out,
      Map<String, ?> overrides) {
    EvalOptions options = options(overrides);
    var request = new Evaluation.Request(Evaluation.Task.parse(task), checkpoint, EvalData.Spec.parse(dataset),
        null, out, "both");
    return toJson(Evaluation.run(spark, request, options));
  }

  /**
   * Writes the first {@code count} images of the dataset's test split, in the order {@code eval.max-rows} picks
   * rows (a hash of their keys, the same every run), to {@code outDir} as {@code KEY.EXT} files.
   *
   * @param overrides {@code eval.*} settings (e.g. {@code eval.classes}), see {@link #settings}
   * @return a JSON list of {@code {"key", "label", "class_name", "path"}} objects ({@code label} and
   *     {@code class_name} null for an unlabelled dataset)
   */
  public static String sampleImages(SparkSession spark, String dataset, int count, String outDir,
      Map<String, ?> overrides) {
    if (count < 1) {
      throw new IllegalArgumentException("Cannot sample " + count + " images: must be at least 1");
    }
    EvalOptions options = options(overrides);
    EvalData.Loaded data = EvalData.read(spark, EvalData.Spec.parse(dataset), EvalData.Split.TEST,
        options.dataOptions());
    List<Row> rows = Evaluation.limit(data.rows(), count).collectAsList();
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    var samples = new ArrayList<Map<String, Object>>();
    try {
      Path dir = new Path(outDir);
      FileSystem fs = dir.getFileSystem(conf);
      fs.mkdirs(dir);
      for (Row r : rows) {
        byte[] image = (byte[]) r.getAs("image");
        if (image == null) {
          continue;
        }
        String key = r.getAs("key");
        Path file = new Path(dir, safeName(key) + "." + extension(image));
        try (OutputStream o = fs.create(file, true)) {
          o.write(image);
        }
        Integer label = r.getAs("label");
        var m = new LinkedHashMap<String, Object>();
        m.put("key", key);
        m.put("label", label);
        m.put("class_name", label == null || !data.labelled() ? null : data.classes().get(label));
        m.put("path", file.toString());
        samples.add(m);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the sample images to " + outDir + ": " + e.getMessage(), e);
    }
    return toJson(samples);
  }

  /**
   * The bytes of an image file (a local path or Hadoop URI), for {@link ClipEvaluator#encodeImages}.
   *
   * @throws UncheckedIOException naming the file when it cannot be read
   */
  public static byte[] imageBytes(String path) {
    Path p = new Path(path);
    try {
      FileSystem fs = p.getFileSystem(new Configuration());
      try (var in = fs.open(p)) {
        return in.readAllBytes();
      }
    } catch (java.io.FileNotFoundException e) {
      throw new UncheckedIOException("Cannot read the image " + path + ": it does not exist", e);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read the image " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * Runs {@code clip evaluate --task captioning}: BLEU-4 and CIDEr-D of a LiMBeR model's captions on the dataset's
   * test split, beside the shuffled-images and no-image baselines; writes {@code OUT/report.json} and
   * {@code OUT/report.html}.
   *
   * @param limber a train-limber output directory (its newest checkpoint) or a {@code step-*} directory
   * @param overrides {@code eval.*} and {@code lm.decode.*} settings, see {@link #settings}
   * @return the report as JSON text
   */
  public static String evaluateCaptioning(SparkSession spark, String limber, String dataset, String out,
      Map<String, ?> overrides) {
    Settings s = settings(overrides);
    var request = new Evaluation.Request(Evaluation.Task.CAPTIONING, limber, EvalData.Spec.parse(dataset), null, out,
        "both");
    return toJson(Evaluation.captioning(spark, request, EvalOptions.from(s),
        dev.clipspark.evaluation.caption.CaptionOptions.from(s),
        dev.clipspark.evaluation.caption.LimberCaptionModel.LOADER));
  }

  /**
   * Runs {@code clip caption}: captions of the images of {@code images} ({@code KIND:PATH}) by a LiMBeR model, to
   * {@code OUT/captions} (Parquet) and {@code OUT/captions.html}.
   *
   * @param overrides {@code eval.*} and {@code lm.decode.*} settings, see {@link #settings}
   * @return JSON text: {@code captions} (rows of key, caption, reference, in key order), {@code parquet},
   *     {@code page}, {@code skipped}, {@code decoding}
   */
  public static String caption(SparkSession spark, String limber, String images, String out,
      Map<String, ?> overrides) {
    Settings s = settings(overrides);
    EvalOptions options = EvalOptions.from(s);
    var captionOptions = dev.clipspark.evaluation.caption.CaptionOptions.from(s);
    var r = dev.clipspark.evaluation.caption.CaptionRun.run(spark, EvalData.Spec.parse(images), options.dataOptions(),
        options.maxRows(), limber, dev.clipspark.evaluation.caption.LimberCaptionModel.LOADER, captionOptions, out);
    var rows = new ArrayList<Map<String, Object>>();
    for (Row row : dev.clipspark.evaluation.caption.CaptionRun.read(spark, out)) {
      var m = new LinkedHashMap<String, Object>();
      m.put("key", row.getString(0));
      m.put("caption", row.getString(1));
      m.put("reference", row.isNullAt(2) ? null : row.getString(2));
      rows.add(m);
    }
    var result = new LinkedHashMap<String, Object>();
    result.put("captions", rows);
    result.put("parquet", r.parquet());
    result.put("page", r.page());
    result.put("skipped", r.skipped());
    result.put("decoding", captionOptions.decoding().toReport());
    return toJson(result);
  }

  /** A value (a report, a list of maps) as indented JSON text. */
  public static String toJson(Object value) {
    try {
      return JSON.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("Cannot write " + value.getClass().getName() + " as JSON: " + e.getMessage(),
          e);
    }
  }

  private static com.typesafe.config.ConfigValue value(String key, Object v) {
    if (v instanceof String s && s.strip().startsWith("[")) {
      // A HOCON list, as --set key=[a, b] takes it; other strings stay strings (Typesafe Config reads "500" and
      // "true" as numbers and booleans where a key needs them).
      try {
        return ConfigFactory.parseString("v = " + s).getValue("v");
      } catch (ConfigException e) {
        throw new ConfigValueException(key, s, "not a valid list: " + e.getMessage());
      }
    }
    try {
      return ConfigValueFactory.fromAnyRef(v);
    } catch (ConfigException e) {
      throw new ConfigValueException(key, v, "must be a string, number, boolean or a list of them");
    }
  }

  private static String knownNear(String key, Config reference) {
    String section = key.contains(".") ? key.substring(0, key.lastIndexOf('.')) : "";
    var known = new TreeSet<String>();
    if (!section.isEmpty() && reference.hasPath(section) && reference.getValue(section) instanceof ConfigObject) {
      for (var e : reference.getConfig(section).entrySet()) {
        known.add(section + "." + e.getKey());
      }
      return "known keys in '" + section + "': " + String.join(", ", known);
    }
    known.addAll(reference.root().keySet());
    return "known sections: " + String.join(", ", known);
  }

  private static String safeName(String key) {
    return key.replaceAll("[^A-Za-z0-9._-]", "_");
  }

  /** png, jpg, gif, webp or bmp from the magic bytes; img when unknown. */
  static String extension(byte[] b) {
    if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
      return "png";
    }
    if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8) {
      return "jpg";
    }
    if (b.length >= 4 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F') {
      return "gif";
    }
    if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E') {
      return "webp";
    }
    if (b.length >= 2 && b[0] == 'B' && b[1] == 'M') {
      return "bmp";
    }
    return "img";
  }
}
