package dev.clipspark.evaluation;

import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.evaluation.metrics.RetrievalMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Image-text retrieval on a captioned dataset: every image ranks every caption (image to text) and every
 * caption ranks every image (text to image). Rows with the same key are one image with several captions
 * (an image's best-ranked caption counts). Embeddings are computed in the executors and ranked on the driver
 * in blocks of {@link #BLOCK} queries (memory {@code BLOCK x candidates} similarities).
 */
public final class RetrievalEvaluation {

  /** Queries scored at once on the driver. */
  static final int BLOCK = 512;
  /** Captions shown per example. */
  static final int TOP_CAPTIONS = 5;
  /** Side of the example thumbnails. */
  static final int THUMBNAIL = 160;

  /**
   * The outcome.
   *
   * @param images distinct images
   * @param texts captions
   * @param imageToText each image's rank among all captions
   * @param textToImage each caption's rank among all images
   * @param examples report examples: image key, thumbnail, true caption, top captions
   * @param skipped rows skipped (images that do not decode, missing captions)
   */
  public record Result(int images, int texts, RetrievalMetrics imageToText, RetrievalMetrics textToImage,
      List<Map<String, Object>> examples, long skipped) {

    /** The {@code retrieval} section of report.json. */
    public Map<String, Object> toReport() {
      var m = new LinkedHashMap<String, Object>();
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

  private RetrievalEvaluation() {}

  /** Runs retrieval over the captioned rows of {@code data}. */
  public static Result run(SparkSession spark, ClipEvaluator clip, EvalData.Loaded data, EvalOptions options) {
    var rows = Evaluation.limit(data.rows(), options.maxRows())
        .filter(functions.col("caption").isNotNull().and(functions.length(functions.trim(functions.col("caption")))
            .gt(0))).persist();
    try {
      var imageEmb = Embeddings.compute(spark, rows.dropDuplicates("key"), Embeddings.What.IMAGE,
          clip.checkpointDirectory(), options.batchSize(), options.imageResample());
      var textEmb = Embeddings.compute(spark, rows, Embeddings.What.TEXT, clip.checkpointDirectory(),
          options.batchSize(), options.imageResample());
      // Images by key; captions by (key, caption); both sorted so results do not depend on partitioning.
      var images = new TreeMap<String, float[]>();
      for (Row r : imageEmb.rows().collectAsList()) {
        images.put(r.getString(0), Embeddings.vector(r));
      }
      var captions = new ArrayList<Row>(textEmb.rows().collectAsList());
      captions.sort(Comparator.<Row, String>comparing(r -> r.getString(0)).thenComparing(r -> r.getString(2)));
      long skipped = imageEmb.skipped() + textEmb.skipped();
      imageEmb.rows().unpersist();
      textEmb.rows().unpersist();
      var imageKeys = new ArrayList<>(images.keySet());
      var imageIndex = new java.util.HashMap<String, Integer>();
      for (int i = 0; i < imageKeys.size(); i++) {
        imageIndex.put(imageKeys.get(i), i);
      }
      // Keep captions whose image was embedded.
      var texts = new ArrayList<Row>();
      for (Row r : captions) {
        if (imageIndex.containsKey(r.getString(0))) {
          texts.add(r);
        }
      }
      if (imageKeys.isEmpty() || texts.isEmpty()) {
        throw new IllegalArgumentException("Cannot run retrieval on " + data.spec() + ": it has no captioned image that"
            + " could be read (" + skipped + " rows skipped); retrieval needs a caption column");
      }
      int n = imageKeys.size();
      int m = texts.size();
      int d = images.firstEntry().getValue().length;
      float[] imageFlat = new float[n * d];
      for (int i = 0; i < n; i++) {
        System.arraycopy(images.get(imageKeys.get(i)), 0, imageFlat, i * d, d);
      }
      float[] textFlat = new float[m * d];
      int[] textImage = new int[m];
      var captionsOf = new ArrayList<List<Integer>>();
      for (int i = 0; i < n; i++) {
        captionsOf.add(new ArrayList<>());
      }
      for (int j = 0; j < m; j++) {
        System.arraycopy(Embeddings.vector(texts.get(j)), 0, textFlat, j * d, d);
        textImage[j] = imageIndex.get(texts.get(j).getString(0));
        captionsOf.get(textImage[j]).add(j);
      }
      INDArray u = Nd4j.createFromArray(imageFlat).reshape('c', n, d);
      INDArray v = Nd4j.createFromArray(textFlat).reshape('c', m, d);
      int[] i2t = new int[n];
      var examples = new ArrayList<Map<String, Object>>();
      int exampleCount = Math.min(options.retrievalExamples(), n);
      for (int b0 = 0; b0 < n; b0 += BLOCK) {
        int b1 = Math.min(n, b0 + BLOCK);
        float[][] s = u.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(b0, b1),
            org.nd4j.linalg.indexing.NDArrayIndex.all()).mmul(v.transpose()).toFloatMatrix();
        for (int i = b0; i < b1; i++) {
          int[] correct = captionsOf.get(i).stream().mapToInt(Integer::intValue).toArray();
          i2t[i] = RetrievalMetrics.rank(s[i - b0], correct);
          if (i < exampleCount) {
            examples.add(example(imageKeys.get(i), s[i - b0], texts, correct));
          }
        }
      }
      int[] t2i = new int[m];
      for (int b0 = 0; b0 < m; b0 += BLOCK) {
        int b1 = Math.min(m, b0 + BLOCK);
        float[][] s = v.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(b0, b1),
            org.nd4j.linalg.indexing.NDArrayIndex.all()).mmul(u.transpose()).toFloatMatrix();
        for (int j = b0; j < b1; j++) {
          t2i[j] = RetrievalMetrics.rank(s[j - b0], new int[] {textImage[j]});
        }
      }
      addThumbnails(rows, examples);
      return new Result(n, m, RetrievalMetrics.ofRanks(i2t, m), RetrievalMetrics.ofRanks(t2i, n), examples, skipped);
    } finally {
      rows.unpersist();
    }
  }

  private static Map<String, Object> example(String key, float[] scores, List<Row> texts, int[] correct) {
    Integer[] order = new Integer[scores.length];
    for (int j = 0; j < order.length; j++) {
      order[j] = j;
    }
    java.util.Arrays.sort(order, (a, b) -> Float.compare(scores[b], scores[a]));
    var correctSet = new java.util.HashSet<Integer>();
    for (int c : correct) {
      correctSet.add(c);
    }
    var top = new ArrayList<Map<String, Object>>();
    for (int t = 0; t < Math.min(TOP_CAPTIONS, order.length); t++) {
      int j = order[t];
      var e = new LinkedHashMap<String, Object>();
      e.put("caption", texts.get(j).getString(2));
      e.put("score", scores[j]);
      e.put("correct", correctSet.contains(j));
      top.add(e);
    }
    var m = new LinkedHashMap<String, Object>();
    m.put("key", key);
    m.put("caption", texts.get(correct[0]).getString(2));
    m.put("top", top);
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

  static byte[] thumbnail(byte[] encoded) throws IOException {
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
