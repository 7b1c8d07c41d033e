package dev.clipspark.evaluation;

import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A trained CLIP model ready to embed images and texts: the entry point for evaluation code and notebooks.
 * Loads a checkpoint once (model, parameters, the checkpoint's own tokenizer), in inference mode.
 * Embeddings are L2-normalised, one row per input; a row does not depend on the others in its batch beyond float
 * rounding (the matrix products' summation order follows the batch's shape).
 *
 * <pre>{@code
 * var clip = ClipEvaluator.load("/runs/b32");                       // a run directory or a step-* directory
 * var classifier = clip.classifier(List.of("cat", "dog"), Prompts.templates("imagenet").templates());
 * float[][] probs = classifier.probabilities(clip.encodeImages(List.of(jpegBytes)));
 * }</pre>
 *
 * <p>Not thread-safe: one instance per thread (Spark executors keep one per JVM through {@link #cached}, used
 * by one task at a time per instance).
 */
public final class ClipEvaluator {

  /** Checkpoints loaded in this JVM, by directory: read once, shared by the threads' models. */
  private static final Map<String, ClipEvaluator> SHARED = new ConcurrentHashMap<>();
  /** Each thread's own model over a shared checkpoint (layers keep per-call state). */
  private static final ThreadLocal<Map<String, ClipEvaluator>> PER_THREAD =
      ThreadLocal.withInitial(java.util.HashMap::new);

  private final LoadedCheckpoint checkpoint;
  private final ClipModel model;
  private final ClipTokenizer tokenizer;
  private final ImagePreprocessor preprocessor;

  private ClipEvaluator(LoadedCheckpoint checkpoint, ClipTokenizer tokenizer, ImagePreprocessor.Resample resample) {
    this.checkpoint = checkpoint;
    this.model = ClipModel.create(checkpoint.model(), checkpoint.parameters());
    this.model.setTraining(false);
    this.tokenizer = tokenizer;
    this.preprocessor = ImagePreprocessor.eval(checkpoint.model().vision().imageSize(), resample);
  }

  /** {@link #load(String, Configuration)} with the default Hadoop configuration. */
  public static ClipEvaluator load(String location) {
    return load(location, new Configuration());
  }

  /**
   * Loads the checkpoint at {@code location}: a {@code step-*} checkpoint directory, or a training output
   * directory (its newest complete checkpoint). Local paths or Hadoop URIs. Images are preprocessed as
   * OpenAI's {@code preprocess} does ({@link ImagePreprocessor.Resample#BICUBIC}; see {@link #withResample}).
   *
   * @throws IllegalArgumentException when there is no complete checkpoint there
   */
  public static ClipEvaluator load(String location, Configuration conf) {
    String dir = Checkpoints.resolve(location, conf);
    LoadedCheckpoint loaded = Checkpoints.loadModel(dir, DataType.FLOAT, conf);
    Object vocab = loaded.trainerState().get("tokenizer_vocab_size");
    if (!(vocab instanceof Number n)) {
      throw new IllegalArgumentException("Cannot evaluate the checkpoint " + dir
          + ": its state.json has no tokenizer_vocab_size");
    }
    // A tokenizer smaller than the token embedding is fine (a model trained with a small tokenizer), a larger one not.
    ClipTokenizer tokenizer = ClipTokenizer.forModel(loaded.tokenizerMerges(), loaded.model().text().vocabSize(),
        n.intValue(), conf);
    return new ClipEvaluator(loaded, tokenizer, ImagePreprocessor.Resample.BICUBIC);
  }

  /** This model with images resampled by {@code resample} ({@code eval.image.resample}); shares the parameters. */
  public ClipEvaluator withResample(ImagePreprocessor.Resample resample) {
    return new ClipEvaluator(checkpoint, tokenizer, resample);
  }

  /** How images are resampled before embedding. */
  public ImagePreprocessor.Resample resample() {
    return preprocessor.resample();
  }

  /**
   * An evaluator of the checkpoint in {@code checkpointDir} for the calling thread. The checkpoint is read
   * once per JVM (Spark tasks call this, so each executor loads the model once); each thread gets its own model
   * object over the same parameters, so concurrent tasks of an executor do not share layer state.
   */
  public static ClipEvaluator cached(String checkpointDir, ImagePreprocessor.Resample resample, Configuration conf) {
    return PER_THREAD.get().computeIfAbsent(checkpointDir + "#" + resample, k -> {
      ClipEvaluator shared = SHARED.computeIfAbsent(checkpointDir, x -> load(x, conf));
      return new ClipEvaluator(shared.checkpoint, shared.tokenizer, resample);
    });
  }

  /** The checkpoint directory read. */
  public String checkpointDirectory() {
    return checkpoint.directory();
  }

  /** The training step the checkpoint was taken after. */
  public long step() {
    return checkpoint.step();
  }

  /** The model architecture. */
  public ModelConfig modelConfig() {
    return checkpoint.model();
  }

  /** The model's name, e.g. {@code ViT-B-32}. */
  public String modelName() {
    return checkpoint.model().name();
  }

  /** Width of the embeddings. */
  public int embedDim() {
    return checkpoint.model().embedDim();
  }

  /** Side of the square images the model reads. */
  public int imageSize() {
    return preprocessor.size();
  }

  /** The learned logit scale exp(t) (at most 100). */
  public double logitScale() {
    return model.logitScale();
  }

  /** The evaluation transform ({@link #resample()}) of one encoded image: {@code 3 * S * S} normalised floats. */
  public float[] preprocess(byte[] encoded) {
    return preprocessor.apply(encoded, null);
  }

  /** Normalised embeddings of encoded images (JPEG, PNG, anything ImageIO reads). */
  public float[][] encodeImages(List<byte[]> encoded) {
    var pixels = new ArrayList<float[]>(encoded.size());
    for (byte[] e : encoded) {
      pixels.add(preprocess(e));
    }
    return encodePreprocessed(pixels);
  }

  /** Normalised embeddings of images already through {@link #preprocess}. */
  public float[][] encodePreprocessed(List<float[]> pixels) {
    int n = pixels.size();
    if (n == 0) {
      return new float[0][];
    }
    int side = imageSize();
    int per = 3 * side * side;
    float[] flat = new float[n * per];
    for (int i = 0; i < n; i++) {
      float[] p = pixels.get(i);
      if (p.length != per) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot embed image %d: it has %d values, the model reads 3 x %d x %d = %d", i, p.length, side, side, per));
      }
      System.arraycopy(p, 0, flat, i * per, per);
    }
    INDArray images = Nd4j.createFromArray(flat).reshape('c', n, 3, side, side);
    return normalisedRows(model.encodeImage(images));
  }

  /** Normalised embeddings of texts, tokenized to the model's context length (longer texts cut). */
  public float[][] encodeTexts(List<String> texts) {
    if (texts.isEmpty()) {
      return new float[0][];
    }
    int context = checkpoint.model().text().contextLength();
    INDArray tokens = Nd4j.createFromArray(tokenizer.tokenize(texts, context, true));
    return normalisedRows(model.encodeText(tokens));
  }

  /**
   * A zero-shot classifier: each class's embedding is the normalised mean of its normalised prompt
   * embeddings, one prompt per template ({@code {}} replaced by the class name); prompt ensembling.
   */
  public ZeroShotClassifier classifier(List<String> classNames, List<String> templates) {
    return ZeroShotClassifier.build(this, classNames, templates);
  }

  private static float[][] normalisedRows(INDArray features) {
    float[][] rows = features.castTo(DataType.FLOAT).toFloatMatrix();
    for (float[] r : rows) {
      Vectors.normaliseInPlace(r);
    }
    return rows;
  }
}
