package dev.clipspark.evaluation;

import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.RetrievalMetrics;
import dev.clipspark.training.tokenizer.TextCleaner;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple3;

/**
 * Image-text retrieval on a captioned dataset: every image ranks every text (image to text) and every text
 * ranks every image (text to image), by cosine similarity. Two protocols ({@link EvalOptions#dedupeCaptions}):
 *
 * <ul>
 *   <li><b>Distinct captions</b> (the default). Captions are compared after the tokenizer's text cleaning
 *       ({@link TextCleaner#clean}: the text fixed, HTML-unescaped, white space collapsed, lower-cased), so two
 *       rows whose captions clean to the same string carry the same caption; each distinct caption is one text,
 *       embedded once and shown in its most frequent spelling. Images are identified by their bytes: rows whose
 *       image bytes have the same SHA-256 are one image, whatever their keys (build-dataset's shards already hold
 *       each source image once; the same picture under several keys of a table becomes one image with several
 *       captions), shown under its smallest key. Image to text: an image's hit is any of its distinct captions.
 *       Text to image: each distinct caption is one query whose correct images are all images that carry it. On
 *       web data, where icon sets share one title, a repeated caption is then one candidate instead of a wall of
 *       copies that tie with the right one.</li>
 *   <li><b>Per row</b> ({@code eval.retrieval.dedupe-captions = false}, the protocol of CLIP_benchmark and of
 *       published COCO/Flickr figures). Every row's caption is its own candidate, also when its string repeats;
 *       rows with the same key are one image with several captions; a text query's correct image is its own
 *       row's.</li>
 * </ul>
 *
 * <p>Ranks follow {@link RetrievalMetrics#rank}: 1 + the number of wrong candidates scoring at least as high as
 * the best correct one (ties between different candidates count against the model; correct candidates never
 * count against each other). Embeddings are computed in the executors and ranked on the driver tile by tile,
 * at most {@link #BLOCK} queries at a time and at most {@link #MAX_BLOCK_SCORES} scores per tile, so the driver
 * holds the embeddings plus one tile, never the whole similarity matrix.
 */
public final class RetrievalEvaluation {

  /** Queries scored at once on the driver, at most. */
  static final int BLOCK = 512;
  /** Scores held at once on the driver, at most (128 MB of floats): fewer queries per tile for many candidates. */
  static final long MAX_BLOCK_SCORES = 1L << 25;
  /** Captions shown per example. */
  static final int TOP_CAPTIONS = 5;
  /** Side of the example thumbnails. */
  static final int THUMBNAIL = 160;

  /** The rule of the distinct-captions protocol, as report.json states it. */
  public static final String RULE_DISTINCT = "distinct captions: captions are compared after the tokenizer's text"
      + " cleaning and each distinct caption is one text; rows whose image bytes are identical (SHA-256) are one"
      + " image; image to text, an image's hit is any of its captions; text to image, a caption's correct images are"
      + " all images that carry it; ties with a wrong candidate count against the model";
  /** The rule of the per-row protocol, as report.json states it. */
  public static final String RULE_PER_ROW = "per row (CLIP_benchmark): every row's caption is its own candidate,"
      + " also when its string repeats; rows that share a key are one image; image to text, an image's hit is any of"
      + " its rows' captions; text to image, a row's correct image is its own; ties with a wrong candidate (such as"
      + " an identical caption of another image) count against the model";

  private static final Logger LOG = LoggerFactory.getLogger(RetrievalEvaluation.class);
  private static final String IMAGE_ID = "_image_sha256";
  private static final String CLEAN = "_clean_caption";
  /** {@link TextCleaner#clean} as a Spark function. */
  private static final UserDefinedFunction CLEAN_TEXT = functions.udf(
      (UDF1<String, String>) c -> c == null ? null : TextCleaner.clean(c), DataTypes.StringType);

  /**
   * The outcome.
   *
   * @param dedupeCaptions the protocol: distinct captions and images (true) or per row (false)
   * @param rows captioned rows ranked (rows whose image could not be read are left out)
   * @param distinctImages distinct images among those rows (by the SHA-256 of their bytes)
   * @param distinctCaptions distinct captions among those rows (after text cleaning)
   * @param images images ranked: text to image candidates (distinct images, or distinct keys per row)
   * @param texts texts ranked: image to text candidates (distinct captions, or rows per row)
   * @param imageToText each image's rank among all texts
   * @param textToImage each text's rank among all images
   * @param examples report examples: image key, thumbnail, true caption, top captions
   * @param skipped captioned rows left out because their image is missing or does not decode
   */
  public record Result(boolean dedupeCaptions, long rows, long distinctImages, long distinctCaptions, int images,
      int texts, RetrievalMetrics imageToText, RetrievalMetrics textToImage, List<Map<String, Object>> examples,
      long skipped) {

    /** The rule used, in words. */
    public String rule() {
      return dedupeCaptions ? RULE_DISTINCT : RULE_PER_ROW;
    }

    /** The {@code retrieval} section of report.json. */
    public Map<String, Object> toReport() {
      var m = new LinkedHashMap<String, Object>();
      m.put("protocol", dedupeCaptions ? "distinct-captions" : "per-row");
      m.put("dedupe_captions", dedupeCaptions);
      m.put("rule", rule());
      m.put("rows", rows);
      m.put("distinct_images", distinctImages);
      m.put("distinct_captions", distinctCaptions);
      m.put("images", images);
      m.put("texts", texts);
      m.put("image_to_text", direction(imageToText));
      m.put("text_to_image", direction(textToImage));
      m.put("skipped", skipped);
      m.put("examples", examples);
      return m;
    }

    private static Map<String, Object> direction(RetrievalMetrics r) {
      var m = new LinkedHashMap<String, Object>();
      m.put("recall@1", r.recallAt1());
      m.put("recall@5", r.recallAt5());
      m.put("recall@10", r.recallAt10());
      m.put("median_rank", r.medianRank());
      return m;
    }
  }

  /**
   * The ranks of one retrieval problem and the top captions of the first example images.
   *
   * @param imageToText each image's rank among the texts
   * @param textToImage each text's rank among the images
   * @param exampleTop for each of the first example images, its best-scoring texts, best first
   * @param exampleScores their scores
   */
  record Ranked(int[] imageToText, int[] textToImage, int[][] exampleTop, float[][] exampleScores) {}

  private RetrievalEvaluation() {}

  /** Runs retrieval over the captioned rows of {@code data}. */
  public static Result run(SparkSession spark, ClipEvaluator clip, EvalData.Loaded data, EvalOptions options) {
    var rows = Evaluation.limit(data.rows(), options.maxRows())
        .filter(functions.col("caption").isNotNull().and(functions.length(functions.trim(functions.col("caption")))
            .gt(0)))
        .withColumn(IMAGE_ID, functions.sha2(functions.col("image"), 256))
        .withColumn(CLEAN, CLEAN_TEXT.apply(functions.col("caption")))
        .persist();
    try {
      // One line per (key, image, cleaned caption) with its row count: what the report counts rows and distinct
      // images and captions from, small beside the embeddings.
      var meta = new ArrayList<Meta>();
      for (Row r : rows.groupBy("key", IMAGE_ID, CLEAN).agg(functions.count(functions.lit(1)).as("n"))
          .collectAsList()) {
        meta.add(new Meta(r.getString(0), r.getString(1), r.getString(2), r.getLong(3)));
      }
      Problem p = options.dedupeCaptions() ? distinct(spark, clip, rows, meta, options)
          : perRow(spark, clip, rows, meta, options);
      if (p.images.isEmpty() || p.texts.isEmpty()) {
        throw new IllegalArgumentException("Cannot run retrieval on " + data.spec() + ": it has no captioned image that"
            + " could be read (" + p.skipped + " rows skipped); retrieval needs a caption column");
      }
      LOG.info("Retrieval ({}) on {} rows: {} distinct images, {} distinct captions; ranking {} images and {} texts",
          options.dedupeCaptions() ? "distinct captions" : "per row", p.rows, p.distinctImages, p.distinctCaptions,
          p.images.size(), p.texts.size());
      int exampleCount = Math.min(options.retrievalExamples(), p.images.size());
      Ranked ranked = rank(matrix(p.imageVectors), matrix(p.textVectors), p.captionsOf, p.imagesOf, exampleCount);
      var examples = new ArrayList<Map<String, Object>>();
      for (int i = 0; i < exampleCount; i++) {
        examples.add(example(p, i, ranked.exampleTop()[i], ranked.exampleScores()[i]));
      }
      addThumbnails(rows, examples);
      return new Result(options.dedupeCaptions(), p.rows, p.distinctImages, p.distinctCaptions, p.images.size(),
          p.texts.size(), RetrievalMetrics.ofRanks(ranked.imageToText(), p.texts.size()),
          RetrievalMetrics.ofRanks(ranked.textToImage(), p.images.size()), examples, p.skipped);
    } finally {
      rows.unpersist();
    }
  }

  /** One group of identical rows: key, image SHA-256 (null without an image), cleaned caption, row count. */
  private record Meta(String key, String imageId, String clean, long rows) {}

  /** A retrieval problem on the driver: images and texts in ranking order, their vectors and correct pairs. */
  private static final class Problem {
    final List<String> images = new ArrayList<>();
    final List<float[]> imageVectors = new ArrayList<>();
    final List<String> texts = new ArrayList<>();
    final List<float[]> textVectors = new ArrayList<>();
    int[][] captionsOf;
    int[][] imagesOf;
    long rows;
    long distinctImages;
    long distinctCaptions;
    long skipped;
  }

  /** The distinct-captions protocol: one image per distinct SHA-256, one text per distinct cleaned caption. */
  private static Problem distinct(SparkSession spark, ClipEvaluator clip, Dataset<Row> rows, List<Meta> meta,
      EvalOptions options) {
    // Identical bytes are the same image: embed one row of each, under its SHA-256.
    Dataset<Row> imageInput = rows.filter(functions.col(IMAGE_ID).isNotNull()).dropDuplicates(IMAGE_ID)
        .select(functions.col(IMAGE_ID).as("key"), functions.col("image"), functions.col("label"),
            functions.col("caption"));
    // Captions that clean alike tokenize alike: embed one under the cleaned string, its most frequent spelling
    // (ties: the last in code-point order), which the report shows.
    Dataset<Row> textInput = rows.groupBy(CLEAN, "caption").agg(functions.count(functions.lit(1)).as("n"))
        .groupBy(CLEAN).agg(functions.max(functions.struct(functions.col("n"), functions.col("caption"))).as("best"))
        .select(functions.col(CLEAN), functions.col("best.caption").as("caption"))
        .select(functions.col(CLEAN).as("key"), functions.lit(null).cast(DataTypes.BinaryType).as("image"),
            functions.lit(null).cast(DataTypes.IntegerType).as("label"), functions.col("caption"));
    var imageVec = new HashMap<String, float[]>();
    var textVec = new HashMap<String, float[]>();
    var shown = new HashMap<String, String>();
    embed(spark, imageInput, Embeddings.What.IMAGE, clip, options, (key, caption, v) -> imageVec.put(key, v));
    embed(spark, textInput, Embeddings.What.TEXT, clip, options, (key, caption, v) -> {
      textVec.put(key, v);
      shown.put(key, caption);
    });
    var p = new Problem();
    var displayKey = new HashMap<String, String>();
    var cleans = new TreeSet<String>();
    var pairs = new ArrayList<String[]>();
    for (Meta m : meta) {
      if (m.imageId() == null || !imageVec.containsKey(m.imageId()) || !textVec.containsKey(m.clean())) {
        p.skipped += m.rows();
        continue;
      }
      p.rows += m.rows();
      displayKey.merge(m.imageId(), m.key(), (a, b) -> a.compareTo(b) <= 0 ? a : b);
      cleans.add(m.clean());
      pairs.add(new String[] {m.imageId(), m.clean()});
    }
    // Images in the order of their shown key (the examples are the first ones), texts in cleaned-string order.
    var ids = new ArrayList<>(displayKey.keySet());
    ids.sort(Comparator.<String, String>comparing(displayKey::get).thenComparing(Comparator.naturalOrder()));
    var imageIndex = new HashMap<String, Integer>();
    for (String id : ids) {
      imageIndex.put(id, p.images.size());
      p.images.add(displayKey.get(id));
      p.imageVectors.add(imageVec.get(id));
    }
    var textIndex = new HashMap<String, Integer>();
    for (String c : cleans) {
      textIndex.put(c, p.texts.size());
      p.texts.add(shown.get(c));
      p.textVectors.add(textVec.get(c));
    }
    var captionsOf = new ArrayList<TreeSet<Integer>>();
    var imagesOf = new ArrayList<TreeSet<Integer>>();
    ids.forEach(x -> captionsOf.add(new TreeSet<>()));
    cleans.forEach(x -> imagesOf.add(new TreeSet<>()));
    for (String[] pair : pairs) {
      int i = imageIndex.get(pair[0]);
      int j = textIndex.get(pair[1]);
      captionsOf.get(i).add(j);
      imagesOf.get(j).add(i);
    }
    p.captionsOf = toArrays(captionsOf);
    p.imagesOf = toArrays(imagesOf);
    p.distinctImages = p.images.size();
    p.distinctCaptions = p.texts.size();
    return p;
  }

  /** The per-row protocol: one image per key, one text per row. */
  private static Problem perRow(SparkSession spark, ClipEvaluator clip, Dataset<Row> rows, List<Meta> meta,
      EvalOptions options) {
    Dataset<Row> plain = rows.select("key", "image", "label", "caption");
    var images = new TreeMap<String, float[]>();
    embed(spark, plain.dropDuplicates("key"), Embeddings.What.IMAGE, clip, options,
        (key, caption, v) -> images.put(key, v));
    // Captions by (key, caption), so results do not depend on partitioning; rows of images not embedded dropped.
    var captions = new ArrayList<Tuple3<String, String, float[]>>();
    embed(spark, plain, Embeddings.What.TEXT, clip, options, (key, caption, v) -> {
      if (images.containsKey(key)) {
        captions.add(new Tuple3<>(key, caption, v));
      }
    });
    captions.sort(Comparator.<Tuple3<String, String, float[]>, String>comparing(Tuple3::_1)
        .thenComparing(Tuple3::_2));
    var p = new Problem();
    var imageIndex = new HashMap<String, Integer>();
    for (var e : images.entrySet()) {
      imageIndex.put(e.getKey(), p.images.size());
      p.images.add(e.getKey());
      p.imageVectors.add(e.getValue());
    }
    var captionsOf = new ArrayList<TreeSet<Integer>>();
    images.keySet().forEach(x -> captionsOf.add(new TreeSet<>()));
    p.imagesOf = new int[captions.size()][];
    for (int j = 0; j < captions.size(); j++) {
      int i = imageIndex.get(captions.get(j)._1());
      p.texts.add(captions.get(j)._2());
      p.textVectors.add(captions.get(j)._3());
      captionsOf.get(i).add(j);
      p.imagesOf[j] = new int[] {i};
    }
    p.captionsOf = toArrays(captionsOf);
    var ids = new java.util.HashSet<String>();
    var cleans = new java.util.HashSet<String>();
    for (Meta m : meta) {
      if (!images.containsKey(m.key())) {
        p.skipped += m.rows();
        continue;
      }
      p.rows += m.rows();
      ids.add(m.imageId());
      cleans.add(m.clean());
    }
    p.distinctImages = ids.size();
    p.distinctCaptions = cleans.size();
    return p;
  }

  /**
   * Embeds {@code input} and hands each embedded row's key, caption and vector to {@code sink}. The vectors come to
   * the driver as plain float arrays in one job (not as rows of boxed floats, five times the size).
   */
  private static void embed(SparkSession spark, Dataset<Row> input, Embeddings.What what, ClipEvaluator clip,
      EvalOptions options, Sink sink) {
    var e = Embeddings.compute(spark, input, what, clip.checkpointDirectory(), options.batchSize(),
        options.imageResample());
    try {
      List<Tuple3<String, String, float[]>> got = e.rows().javaRDD()
          .map(r -> new Tuple3<>(r.getString(0), r.getString(2), Embeddings.vector(r))).collect();
      for (var t : got) {
        sink.accept(t._1(), t._2(), t._3());
      }
    } finally {
      e.rows().unpersist();
    }
  }

  /** Receives embedded rows. */
  @FunctionalInterface
  private interface Sink {
    void accept(String key, String caption, float[] vector);
  }

  private static int[][] toArrays(List<TreeSet<Integer>> sets) {
    int[][] out = new int[sets.size()][];
    for (int i = 0; i < out.length; i++) {
      out[i] = sets.get(i).stream().mapToInt(Integer::intValue).toArray();
    }
    return out;
  }

  /** Row vectors as one {@code [rows, d]} matrix. */
  static INDArray matrix(List<float[]> vectors) {
    if (vectors.isEmpty()) {
      throw new IllegalArgumentException("Cannot rank without embeddings");
    }
    int d = vectors.get(0).length;
    float[] flat = new float[Math.multiplyExact(vectors.size(), d)];
    for (int i = 0; i < vectors.size(); i++) {
      System.arraycopy(vectors.get(i), 0, flat, i * d, d);
    }
    return Nd4j.createFromArray(flat).reshape('c', vectors.size(), d);
  }

  /**
   * Ranks both directions, tile by tile: at most {@link #BLOCK} queries and {@link #MAX_BLOCK_SCORES} scores at a
   * time, so memory stays {@code O(tile)} beyond the embeddings.
   *
   * @param images image embeddings {@code [n, d]}, L2-normalised
   * @param texts text embeddings {@code [m, d]}, L2-normalised
   * @param captionsOf for each image, the indices of its correct texts (at least one)
   * @param imagesOf for each text, the indices of its correct images (at least one)
   * @param examples the number of leading images whose top {@link #TOP_CAPTIONS} texts are kept
   */
  static Ranked rank(INDArray images, INDArray texts, int[][] captionsOf, int[][] imagesOf, int examples) {
    int n = (int) images.rows();
    int m = (int) texts.rows();
    if (captionsOf.length != n || imagesOf.length != m) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "Cannot rank %d images and %d texts with correct sets for %d images and %d texts", n, m, captionsOf.length,
          imagesOf.length));
    }
    int[] i2t = new int[n];
    int[][] top = new int[examples][];
    float[][] topScores = new float[examples][];
    int block = blockSize(m);
    for (int b0 = 0; b0 < n; b0 += block) {
      int b1 = Math.min(n, b0 + block);
      float[][] s = images.get(NDArrayIndex.interval(b0, b1), NDArrayIndex.all()).mmul(texts.transpose())
          .toFloatMatrix();
      for (int i = b0; i < b1; i++) {
        i2t[i] = RetrievalMetrics.rank(s[i - b0], captionsOf[i]);
        if (i < examples) {
          top[i] = top(s[i - b0], TOP_CAPTIONS);
          topScores[i] = new float[top[i].length];
          for (int t = 0; t < top[i].length; t++) {
            topScores[i][t] = s[i - b0][top[i][t]];
          }
        }
      }
    }
    int[] t2i = new int[m];
    block = blockSize(n);
    for (int b0 = 0; b0 < m; b0 += block) {
      int b1 = Math.min(m, b0 + block);
      float[][] s = texts.get(NDArrayIndex.interval(b0, b1), NDArrayIndex.all()).mmul(images.transpose())
          .toFloatMatrix();
      for (int j = b0; j < b1; j++) {
        t2i[j] = RetrievalMetrics.rank(s[j - b0], imagesOf[j]);
      }
    }
    return new Ranked(i2t, t2i, top, topScores);
  }

  /** Queries per tile for {@code candidates} candidates. */
  static int blockSize(int candidates) {
    return (int) Math.max(1, Math.min(BLOCK, MAX_BLOCK_SCORES / Math.max(1, candidates)));
  }

  /** The indices of the {@code k} highest scores, highest first, ties to the lower index. */
  static int[] top(float[] scores, int k) {
    int[] best = new int[Math.min(k, scores.length)];
    int size = 0;
    for (int j = 0; j < scores.length; j++) {
      if (size == best.length && !(scores[j] > scores[best[size - 1]])) {
        continue;
      }
      int at = size < best.length ? size++ : size - 1;
      while (at > 0 && scores[j] > scores[best[at - 1]]) {
        best[at] = best[at - 1];
        at--;
      }
      best[at] = j;
    }
    return best;
  }

  private static Map<String, Object> example(Problem p, int image, int[] top, float[] scores) {
    int[] correct = p.captionsOf[image];
    var list = new ArrayList<Map<String, Object>>();
    for (int t = 0; t < top.length; t++) {
      var e = new LinkedHashMap<String, Object>();
      e.put("caption", p.texts.get(top[t]));
      e.put("score", scores[t]);
      e.put("correct", Arrays.binarySearch(correct, top[t]) >= 0);
      list.add(e);
    }
    var m = new LinkedHashMap<String, Object>();
    m.put("key", p.images.get(image));
    m.put("caption", p.texts.get(correct[0]));
    if (correct.length > 1) {
      m.put("captions", correct.length);
    }
    m.put("top", list);
    return m;
  }

  /** Adds {@code image_jpeg_base64} thumbnails of the example images. */
  private static void addThumbnails(org.apache.spark.sql.Dataset<Row> rows, List<Map<String, Object>> examples) {
    if (examples.isEmpty()) {
      return;
    }
    List<Object> keys = new ArrayList<>();
    for (var e : examples) {
      keys.add(e.get("key"));
    }
    var bytes = new java.util.HashMap<String, byte[]>();
    for (Row r : rows.filter(functions.col("key").isin(keys.toArray())).select("key", "image").collectAsList()) {
      if (!r.isNullAt(1)) {
        bytes.putIfAbsent(r.getString(0), (byte[]) r.get(1));
      }
    }
    for (var e : examples) {
      byte[] b = bytes.get((String) e.get("key"));
      if (b != null) {
        try {
          e.put("image_jpeg_base64", Base64.getEncoder().encodeToString(thumbnail(b)));
        } catch (IllegalArgumentException | IOException ex) {
          e.put("image_error", ex.getMessage());
        }
      }
    }
  }

  /**
   * A JPEG thumbnail of an encoded image: at most {@value #THUMBNAIL} pixels on its longer side, tiny images
   * enlarged to half that.
   *
   * @throws IllegalArgumentException when the bytes do not decode
   */
  public static byte[] thumbnail(byte[] encoded) throws IOException {
    BufferedImage src = RawPixels.decode(encoded);
    double scale = Math.min(1.0, THUMBNAIL / (double) Math.max(src.getWidth(), src.getHeight()));
    int w = Math.max(1, (int) Math.round(src.getWidth() * scale));
    int h = Math.max(1, (int) Math.round(src.getHeight() * scale));
    if (src.getWidth() < THUMBNAIL / 2 && src.getHeight() < THUMBNAIL / 2) {
      // Tiny images (28 x 28) are shown enlarged.
      double up = (THUMBNAIL / 2.0) / Math.max(src.getWidth(), src.getHeight());
      w = (int) Math.round(src.getWidth() * up);
      h = (int) Math.round(src.getHeight() * up);
    }
    var out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
    g.drawImage(src, 0, 0, w, h, null);
    g.dispose();
    var bytes = new ByteArrayOutputStream();
    ImageIO.write(out, "jpg", bytes);
    return bytes.toByteArray();
  }
}
