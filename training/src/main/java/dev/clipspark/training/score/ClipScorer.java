package dev.clipspark.training.score;

import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.CandidateScorer;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import dev.clipspark.training.weights.ModelWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Scores image-text pairs with a CLIP model, as LAION filtered its crawl: the cosine of the L2-normalised image
 * and caption embeddings. The weights are read by {@link ModelWeights} (a ClipSpark checkpoint directory or a
 * released weights file: OpenAI's TorchScript archives, PyTorch zip archives, safetensors); images are
 * preprocessed as OpenAI's {@code preprocess} does (bicubic resize of the shorter side, centre crop, OpenAI's mean
 * and std: {@link ImagePreprocessor#eval(int, ImagePreprocessor.Resample)} with {@code BICUBIC}, as evaluation
 * does) and captions tokenized to the model's context length (longer ones cut), in batches.
 *
 * <p>The scorer itself carries only where the weights are: Spark serialises it into every task, and each JVM
 * (each executor) reads the weights once ({@link #open} reads them on the driver first, which also checks them),
 * shared by its threads, each with its own model object over the shared parameters.
 */
public final class ClipScorer implements CandidateScorer {

  private static final long serialVersionUID = 1L;

  /** Weights read in this JVM, by location and tokenizer. */
  private static final Map<String, Shared> SHARED = new ConcurrentHashMap<>();
  /** How many times this JVM read weights (tests check that tasks reuse them). */
  static final java.util.concurrent.atomic.AtomicInteger LOADS = new java.util.concurrent.atomic.AtomicInteger();
  /** Each thread's own model over shared weights (layers keep per-call state). */
  private static final ThreadLocal<Map<String, ClipModel>> PER_THREAD = ThreadLocal.withInitial(HashMap::new);

  private static final String CHECKPOINT_ALLOWED = "must be a ClipSpark checkpoint or training output directory,"
      + " or a weights file import-weights reads (.pt, .bin, .safetensors): ";

  private final String checkpoint;
  private final String tokenizer;
  private final int batchSize;
  private final String fingerprint;
  private final HadoopConf hadoopConf;

  /** What one JVM holds of the weights. */
  private record Shared(ModelConfig model, ParameterSet parameters, ClipTokenizer tokenizer,
      ImagePreprocessor preprocessor) {}

  private ClipScorer(String checkpoint, String tokenizer, int batchSize, String fingerprint, HadoopConf conf) {
    this.checkpoint = checkpoint;
    this.tokenizer = tokenizer;
    this.batchSize = batchSize;
    this.fingerprint = fingerprint;
    this.hadoopConf = conf;
  }

  /**
   * The scorer of {@code filter}'s weights, read here (so a bad setting stops the job before it starts) and kept
   * for this JVM's tasks.
   *
   * @throws ConfigValueException when the weights cannot be read ({@code filter.clip.checkpoint}), or a weights
   *     file has no tokenizer or one that cannot be read or does not fit the model ({@code filter.clip.tokenizer})
   */
  public static ClipScorer open(BuildOptions.ClipFilter filter, Configuration conf) {
    if (!filter.enabled()) {
      throw new IllegalArgumentException("Cannot score with the CLIP filter: " + BuildOptions.CLIP_CHECKPOINT
          + " is empty");
    }
    var scorer = new ClipScorer(filter.checkpoint(), filter.tokenizer(), filter.batchSize(),
        fingerprint(filter, conf), HadoopConf.of(conf));
    scorer.shared();
    return scorer;
  }

  /** The model's architecture (the weights are read if this JVM has not read them yet). */
  public ModelConfig model() {
    return shared().model();
  }

  @Override
  public String fingerprint() {
    return fingerprint;
  }

  @Override
  public int batchSize() {
    return batchSize;
  }

  @Override
  public float[] score(List<byte[]> images, List<String> captions) {
    if (images.size() != captions.size()) {
      throw new IllegalArgumentException("Cannot score " + images.size() + " images with " + captions.size()
          + " captions");
    }
    int n = images.size();
    if (n == 0) {
      return new float[0];
    }
    Shared s = shared();
    ClipModel clip = PER_THREAD.get().computeIfAbsent(key(), k -> {
      ClipModel m = ClipModel.create(s.model(), s.parameters());
      m.setTraining(false);
      return m;
    });
    int side = s.preprocessor().size();
    int per = 3 * side * side;
    float[] flat = new float[n * per];
    for (int i = 0; i < n; i++) {
      System.arraycopy(s.preprocessor().apply(images.get(i), null), 0, flat, i * per, per);
    }
    INDArray imageFeatures = clip.encodeImage(Nd4j.createFromArray(flat).reshape('c', n, 3, side, side));
    INDArray tokens = Nd4j.createFromArray(
        s.tokenizer().tokenize(captions, s.model().text().contextLength(), true));
    INDArray textFeatures = clip.encodeText(tokens);
    return cosines(imageFeatures, textFeatures);
  }

  /** Row-wise cosine of two feature matrices, in double. */
  static float[] cosines(INDArray a, INDArray b) {
    double[][] x = a.castTo(DataType.DOUBLE).toDoubleMatrix();
    double[][] y = b.castTo(DataType.DOUBLE).toDoubleMatrix();
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      double dot = 0;
      double nx = 0;
      double ny = 0;
      for (int j = 0; j < x[i].length; j++) {
        dot += x[i][j] * y[i][j];
        nx += x[i][j] * x[i][j];
        ny += y[i][j] * y[i][j];
      }
      double denominator = Math.sqrt(nx) * Math.sqrt(ny);
      out[i] = denominator == 0 ? 0f : (float) Math.max(-1.0, Math.min(1.0, dot / denominator));
    }
    return out;
  }

  private String key() {
    return checkpoint + "\n" + tokenizer;
  }

  private Shared shared() {
    return SHARED.computeIfAbsent(key(), k -> load(checkpoint, tokenizer, hadoopConf.get()));
  }

  private static Shared load(String checkpoint, String tokenizerFile, Configuration conf) {
    LOADS.incrementAndGet();
    ModelWeights.Loaded w;
    try {
      w = ModelWeights.load(checkpoint, null, DataType.FLOAT, conf);
    } catch (IllegalArgumentException | UncheckedIOException e) {
      throw new ConfigValueException(BuildOptions.CLIP_CHECKPOINT, checkpoint, CHECKPOINT_ALLOWED + e.getMessage());
    }
    int modelVocab = w.model().text().vocabSize();
    ClipTokenizer tokenizer;
    try {
      if (!tokenizerFile.isEmpty()) {
        tokenizer = ClipTokenizer.forModel(tokenizerFile, modelVocab, 0, conf);
      } else if (w.tokenizerMerges() != null) {
        tokenizer = ClipTokenizer.forModel(w.tokenizerMerges(), modelVocab, w.tokenizerVocabSize(), conf);
      } else {
        throw new ConfigValueException(BuildOptions.CLIP_TOKENIZER, "\"\"", "must name the merges file the weights"
            + " in " + checkpoint + " were trained with (OpenAI's bpe_simple_vocab_16e6.txt.gz for OpenAI's and"
            + " open_clip's models): a weights file carries no tokenizer");
      }
    } catch (ConfigValueException e) {
      throw e;
    } catch (IllegalArgumentException e) {
      throw new ConfigValueException(BuildOptions.CLIP_TOKENIZER,
          tokenizerFile.isEmpty() ? w.tokenizerMerges() : tokenizerFile,
          "must be a merges file that fits model " + w.model().name() + ": " + e.getMessage());
    }
    return new Shared(w.model(), w.parameters(), tokenizer,
        ImagePreprocessor.eval(w.model().vision().imageSize(), ImagePreprocessor.Resample.BICUBIC));
  }

  /** The location, size and modification time of the weights and the tokenizer, and the preprocessing. */
  private static String fingerprint(BuildOptions.ClipFilter filter, Configuration conf) {
    return String.format(Locale.ROOT, "clip-cosine bicubic; weights %s; tokenizer %s",
        describe(BuildOptions.CLIP_CHECKPOINT, filter.checkpoint(), conf),
        filter.tokenizer().isEmpty() ? "the checkpoint's"
            : describe(BuildOptions.CLIP_TOKENIZER, filter.tokenizer(), conf));
  }

  private static String describe(String key, String location, Configuration conf) {
    Path path = new Path(location);
    try {
      FileStatus status = path.getFileSystem(conf).getFileStatus(path);
      if (status.isDirectory()) {
        // A checkpoint or run directory: its newest complete checkpoint, which never changes once written.
        return dev.clipspark.training.checkpoint.Checkpoints.resolve(location, conf);
      }
      return status.getPath() + " (" + status.getLen() + " bytes, modified " + status.getModificationTime() + ")";
    } catch (java.io.FileNotFoundException e) {
      throw new ConfigValueException(key, location, "must name a file or directory that exists; nothing is there");
    } catch (IllegalArgumentException e) {
      throw new ConfigValueException(key, location, CHECKPOINT_ALLOWED + e.getMessage());
    } catch (IOException e) {
      throw new ConfigValueException(key, location, "must be readable: " + e.getMessage());
    }
  }
}
