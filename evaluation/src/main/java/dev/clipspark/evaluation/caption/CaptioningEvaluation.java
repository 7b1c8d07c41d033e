package dev.clipspark.evaluation.caption;

import dev.clipspark.evaluation.Evaluation;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.CaptionMetrics;
import dev.clipspark.evaluation.metrics.CaptionTokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code evaluate --task captioning}: BLEU-4 and CIDEr-D ({@link CaptionMetrics}, coco-caption's definitions, after
 * {@link CaptionTokenizer}) of a LiMBeR model's captions on held-out (image, caption) pairs, beside two baselines
 * computed in the same run with the same decoding:
 * <ul>
 *   <li><b>model</b>: each image's own soft prompts;</li>
 *   <li><b>shuffled</b>: the same language model and P, each image given another image's features (a seeded random
 *       permutation with a single cycle, so no image keeps its own): what the captions owe to the image rather
 *       than to the caption distribution P and the language model learned;</li>
 *   <li><b>no image</b>: the language model alone, starting from {@code <|endoftext|>} with no soft prompt.</li>
 * </ul>
 * Images are identified by their bytes, as retrieval does: rows whose images have the same SHA-256 are one image
 * (shown under its smallest key) whose references are all its rows' distinct captions. Images that do not decode
 * are skipped and counted. Features are computed once per image in the executors and shared by the model and the
 * shuffled baseline.
 */
public final class CaptioningEvaluation {

  /** The variants, as report.json names them. */
  public static final List<String> VARIANTS = List.of("model", "shuffled", "no_image");

  private static final Logger LOG = LoggerFactory.getLogger(CaptioningEvaluation.class);

  private CaptioningEvaluation() {}

  /**
   * The outcome.
   *
   * @param rows      captioned rows read
   * @param images    distinct images scored (by SHA-256)
   * @param skipped   images left out because they do not decode
   * @param references reference captions, summed over images
   * @param scores    per variant: BLEU-1..4 and CIDEr-D
   * @param captions  per variant, each image's caption (by image id)
   * @param examples  report examples
   * @param report    the {@code captioning} section of report.json
   */
  public record Result(long rows, int images, long skipped, long references, Map<String, Scores> scores,
      Map<String, Map<String, String>> captions, List<Map<String, Object>> examples, Map<String, Object> report) {}

  /**
   * One variant's scores.
   *
   * @param bleu   corpus BLEU-1..4
   * @param ciderD CIDEr-D
   */
  public record Scores(CaptionMetrics.Bleu bleu, CaptionMetrics.CiderD ciderD) {
    Map<String, Object> toReport() {
      var m = new LinkedHashMap<String, Object>();
      m.put("bleu4", bleu.bleu4());
      m.put("cider_d", ciderD.score());
      m.put("bleu", List.of(bleu.bleu()[0], bleu.bleu()[1], bleu.bleu()[2], bleu.bleu()[3]));
      m.put("brevity_penalty", bleu.brevity());
      m.put("candidate_tokens", bleu.candidateLength());
      return m;
    }
  }

  /**
   * Runs the evaluation on the captioned rows of {@code data}.
   *
   * @param location the LiMBeR model's directory, read by {@code loader} in the executors
   * @param maxRows  at most this many rows, chosen by a hash of their keys (0: all)
   */
  public static Result run(SparkSession spark, String location, CaptionModel.Loader loader, EvalData.Loaded data,
      CaptionOptions options, long maxRows) {
    Dataset<Row> rows = Evaluation.limit(data.rows(), maxRows)
        .filter(functions.col("caption").isNotNull().and(functions.length(functions.trim(functions.col("caption")))
            .gt(0)).and(functions.col("image").isNotNull()))
        .withColumn("id", functions.sha2(functions.col("image"), 256));
    Dataset<Row> images = rows.groupBy("id").agg(functions.min("key").as("key"), functions.first("image").as("image"),
        functions.array_sort(functions.collect_set("caption")).as("references"), functions.count("*").as("n"),
        functions.min("label").as("label"))
        .persist();
    try {
      var references = new TreeMap<String, List<String>>();
      var keys = new HashMap<String, String>();
      var labels = new HashMap<String, Integer>();
      long rowCount = 0;
      for (Row r : images.select("id", "key", "references", "n", "label").collectAsList()) {
        references.put(r.getString(0), r.getList(2));
        keys.put(r.getString(0), r.getString(1));
        rowCount += r.getLong(3);
        if (!r.isNullAt(4)) {
          labels.put(r.getString(0), r.getInt(4));
        }
      }
      if (references.isEmpty()) {
        throw new IllegalArgumentException("Cannot evaluate captioning on " + data.spec() + ": it has no captioned"
            + " image; captioning needs a caption column");
      }
      Captioning.Features features = Captioning.features(spark, images, location, loader, options.batchSize());
      try {
        var ids = new ArrayList<String>();
        for (Row r : features.rows().select("id").collectAsList()) {
          ids.add(r.getString(0));
        }
        ids.sort(null);
        if (ids.size() < 2) {
          throw new IllegalArgumentException("Cannot evaluate captioning on " + data.spec() + ": " + ids.size()
              + " image(s) could be read (" + features.skipped() + " skipped); the shuffled baseline needs at least 2");
        }
        LOG.info("Captioning evaluation on {} rows: {} distinct images ({} skipped); decoding {}", rowCount,
            ids.size(), features.skipped(), options.decoding().describe());
        Dataset<Row> shuffled = shuffle(spark, features.rows(), ids, options.shuffleSeed());
        var captions = new LinkedHashMap<String, Map<String, String>>();
        captions.put("model", collect(Captioning.captions(spark, features.rows(), false, location, loader,
            options.decoding(), options.batchSize())));
        captions.put("shuffled", collect(Captioning.captions(spark, shuffled, false, location, loader,
            options.decoding(), options.batchSize())));
        captions.put("no_image", collect(Captioning.captions(spark, features.rows(), true, location, loader,
            options.decoding(), options.batchSize())));
        var refTokens = new ArrayList<List<List<String>>>(ids.size());
        long referenceCount = 0;
        for (String id : ids) {
          var list = new ArrayList<List<String>>();
          for (String c : references.get(id)) {
            list.add(CaptionTokenizer.tokenize(c));
          }
          referenceCount += list.size();
          refTokens.add(list);
        }
        var scores = new LinkedHashMap<String, Scores>();
        for (String variant : VARIANTS) {
          var cand = new ArrayList<List<String>>(ids.size());
          for (String id : ids) {
            cand.add(CaptionTokenizer.tokenize(captions.get(variant).get(id)));
          }
          scores.put(variant, new Scores(CaptionMetrics.bleu(cand, refTokens), CaptionMetrics.ciderD(cand, refTokens)));
        }
        var examples = examples(images, ids, keys, references, captions, options.examples());
        var report = new LinkedHashMap<String, Object>();
        report.put("rows", rowCount);
        report.put("images", ids.size());
        report.put("skipped", features.skipped());
        report.put("references", referenceCount);
        report.put("decoding", options.decoding().toReport());
        report.put("shuffle_seed", options.shuffleSeed());
        report.put("rule", "images are identified by the SHA-256 of their bytes; an image's references are all its"
            + " rows' distinct captions; captions are lower-cased, split PTB-style and stripped of punctuation"
            + " before scoring (coco-caption's BLEU with the closest reference length, and CIDEr-D)");
        for (String variant : VARIANTS) {
          report.put(variant, scores.get(variant).toReport());
        }
        if (data.labelled() && !labels.isEmpty()) {
          report.put("label_words", labelWords(ids, labels, data.classes(), captions));
        }
        report.put("examples", examples);
        return new Result(rowCount, ids.size(), features.skipped(), referenceCount, scores, captions, examples,
            report);
      } finally {
        features.rows().unpersist();
      }
    } finally {
      images.unpersist();
    }
  }

  /**
   * How often each variant's captions name the words of the image's class label, for labelled datasets (a class
   * {@code red_circle} has the words {@code red} and {@code circle}): per variant, {@code all} is the share of
   * labelled images whose caption contains every word of its label (as a token after the scorer's tokenisation),
   * {@code by_position} the share that contains the label's first, second, ... word (over the images whose label has
   * that many words). The shuffled-images variant shows the rate of captions that do not see the image.
   */
  static Map<String, Object> labelWords(List<String> ids, Map<String, Integer> labels, List<String> classes,
      Map<String, Map<String, String>> captions) {
    var out = new LinkedHashMap<String, Object>();
    var labelled = ids.stream().filter(labels::containsKey).toList();
    out.put("images", labelled.size());
    out.put("rule", "a class name is split into words at '_', '-' and spaces; a caption names a word when the word"
        + " is one of its tokens (lower-cased, punctuation stripped)");
    for (String variant : VARIANTS) {
      int all = 0;
      var hits = new ArrayList<Integer>();
      var totals = new ArrayList<Integer>();
      for (String id : labelled) {
        var tokens = new java.util.HashSet<>(CaptionTokenizer.tokenize(captions.get(variant).get(id)));
        var words = CaptionTokenizer.tokenize(classes.get(labels.get(id)).replaceAll("[_\\-]+", " "));
        boolean every = !words.isEmpty();
        for (int i = 0; i < words.size(); i++) {
          while (hits.size() <= i) {
            hits.add(0);
            totals.add(0);
          }
          totals.set(i, totals.get(i) + 1);
          if (tokens.contains(words.get(i))) {
            hits.set(i, hits.get(i) + 1);
          } else {
            every = false;
          }
        }
        all += every ? 1 : 0;
      }
      var m = new LinkedHashMap<String, Object>();
      m.put("all", labelled.isEmpty() ? 0.0 : (double) all / labelled.size());
      var byPosition = new ArrayList<Double>();
      for (int i = 0; i < hits.size(); i++) {
        byPosition.add((double) hits.get(i) / totals.get(i));
      }
      m.put("by_position", byPosition);
      out.put(variant, m);
    }
    return out;
  }

  /**
   * Each image given the features of another: the ids in sorted order are permuted by Sattolo's algorithm (one
   * cycle through all of them, from {@code seed}), and image {@code ids[i]} gets the features of
   * {@code ids[perm[i]]}.
   */
  static Dataset<Row> shuffle(SparkSession spark, Dataset<Row> features, List<String> ids, long seed) {
    int[] perm = derangement(ids.size(), seed);
    var pairs = new ArrayList<Row>(ids.size());
    for (int i = 0; i < ids.size(); i++) {
      pairs.add(org.apache.spark.sql.RowFactory.create(ids.get(i), ids.get(perm[i])));
    }
    var schema = new StructType(new StructField[] {
        DataTypes.createStructField("target", DataTypes.StringType, false),
        DataTypes.createStructField("source", DataTypes.StringType, false)});
    Dataset<Row> mapping = spark.createDataFrame(pairs, schema);
    return mapping.join(features, mapping.col("source").equalTo(features.col("id")))
        .select(mapping.col("target").as("id"), features.col("feature"), features.col("shape"));
  }

  /** A permutation of 0..n-1 that is a single cycle (Sattolo's algorithm): no fixed point for n >= 2. */
  static int[] derangement(int n, long seed) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = i;
    }
    var random = new SplittableRandom(seed);
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  private static Map<String, String> collect(Dataset<Row> captions) {
    var out = new HashMap<String, String>();
    for (Row r : captions.select("id", "caption").collectAsList()) {
      out.put(r.getString(0), r.getString(1));
    }
    return out;
  }

  private static List<Map<String, Object>> examples(Dataset<Row> images, List<String> ids, Map<String, String> keys,
      Map<String, List<String>> references, Map<String, Map<String, String>> captions, int count) {
    var byKey = new ArrayList<>(ids);
    byKey.sort((a, b) -> keys.get(a).compareTo(keys.get(b)));
    var chosen = byKey.subList(0, Math.min(count, byKey.size()));
    var thumbnails = Captioning.thumbnails(images.filter(functions.col("id").isin(chosen.toArray()))
        .select(functions.col("id"), functions.col("image")));
    var out = new ArrayList<Map<String, Object>>();
    for (String id : chosen) {
      var e = new LinkedHashMap<String, Object>();
      e.put("key", keys.get(id));
      e.put("image_sha256", id);
      for (String variant : VARIANTS) {
        e.put(variant, captions.get(variant).get(id));
      }
      e.put("references", references.get(id));
      if (thumbnails.containsKey(id)) {
        e.put("image_jpeg_base64", thumbnails.get(id));
      }
      out.add(e);
    }
    return out;
  }
}
