package dev.clipspark.training.limber;

import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.SoftPromptCaptioner;
import dev.clipspark.training.lm.SoftPromptMap;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A trained LiMBeR model ready to caption: the frozen CLIP image tower with its evaluation preprocessing
 * ({@link ImageEncoder}), the frozen GPT-2 language model and its tokenizer, and the trained map P. The entry point
 * for captioning and evaluation:
 * <pre>{@code
 * LimberModel m = LimberModel.load("/runs/limber", conf);        // a train-limber output dir or a step-* dir
 * INDArray prompts = m.prompts(List.of(jpegBytes));                // [n, k, n_embd]
 * INDArray logits = m.captioner().logits(m.features(List.of(jpegBytes)), new int[][] {{m.tokenizer().endOfText()}});
 * }</pre>
 * Loading verifies that the CLIP and language-model checkpoints P was trained with still have the SHA-256 digests
 * recorded in {@code limber.json}, and refuses otherwise. Nothing here updates a parameter.
 *
 * <p>Not thread-safe (layers keep per-call state): one instance per thread; {@link #cached} gives each thread its own
 * over checkpoints read once per JVM.
 */
public final class LimberModel {

  private static final Map<String, Shared> SHARED = new ConcurrentHashMap<>();
  private static final ThreadLocal<Map<String, LimberModel>> PER_THREAD = ThreadLocal.withInitial(HashMap::new);

  /** What threads share: the checkpoints read once. */
  private record Shared(LimberCheckpoints.Saved saved, LimberCheckpoints.LanguageModel lm) {}

  private final LimberCheckpoints.Saved saved;
  private final ImageEncoder encoder;
  private final Gpt2Model lm;
  private final Gpt2Tokenizer tokenizer;
  private final SoftPromptMap map;
  private final SoftPromptCaptioner captioner;

  private LimberModel(Shared shared, Configuration conf) {
    this.saved = shared.saved();
    LimberCheckpoints.Identity id = saved.identity();
    this.encoder = ImageEncoder.cached(id.clip().directory(), id.mode(), conf);
    // Each instance gets its own layer objects over the shared parameter arrays.
    this.lm = Gpt2Model.create(shared.lm().model().config(), shared.lm().model().parameters());
    this.tokenizer = shared.lm().tokenizer();
    this.map = id.mode() == FeatureMode.POOLED ? new SoftPromptMap(saved.parameters(), id.prompts())
        : SoftPromptMap.grid(saved.parameters(), id.prompts());
    this.captioner = new SoftPromptCaptioner(lm, map);
  }

  /**
   * Loads the LiMBeR checkpoint at {@code location}: a {@code step-*} checkpoint directory or a {@code train-limber}
   * output directory (its newest complete checkpoint); local paths or Hadoop URIs.
   *
   * @throws IllegalArgumentException when there is no LiMBeR checkpoint there, or a frozen part changed since P was
   *     trained
   */
  public static LimberModel load(String location, Configuration conf) {
    return new LimberModel(read(location, conf), conf);
  }

  /**
   * A model for the calling thread: the checkpoints are read (and verified) once per JVM, each thread gets its own
   * layer objects over the same parameters. For Spark executors.
   */
  public static LimberModel cached(String location, Configuration conf) {
    return PER_THREAD.get().computeIfAbsent(location, k -> new LimberModel(SHARED.computeIfAbsent(location,
        x -> read(x, conf)), conf));
  }

  private static Shared read(String location, Configuration conf) {
    LimberCheckpoints.Saved saved = LimberCheckpoints.load(location, conf);
    saved.identity().requireUnchanged(saved.directory(), conf);
    return new Shared(saved, LimberCheckpoints.loadLanguageModel(saved.identity().lm().directory(), conf));
  }

  /** The checkpoint directory read. */
  public String directory() {
    return saved.directory();
  }

  /** The training step P was saved after. */
  public long step() {
    return saved.step();
  }

  /** The frozen parts, the mode, k and the widths ({@code limber.json}). */
  public LimberCheckpoints.Identity identity() {
    return saved.identity();
  }

  /** The feature mode. */
  public FeatureMode mode() {
    return saved.identity().mode();
  }

  /** k, the number of soft prompts. */
  public int prompts() {
    return map.prompts();
  }

  /** The frozen CLIP image tower and its preprocessing. */
  public ImageEncoder imageEncoder() {
    return encoder;
  }

  /** The frozen language model. */
  public Gpt2Model languageModel() {
    return lm;
  }

  /** The language model's tokenizer. */
  public Gpt2Tokenizer tokenizer() {
    return tokenizer;
  }

  /** P. */
  public SoftPromptMap map() {
    return map;
  }

  /** The language model reading P's prompts then caption tokens ({@link SoftPromptCaptioner#logits}). */
  public SoftPromptCaptioner captioner() {
    return captioner;
  }

  /**
   * The evaluation transform of one encoded image.
   *
   * @throws IllegalArgumentException when it does not decode
   */
  public float[] preprocess(byte[] encoded) {
    return encoder.preprocess(encoded);
  }

  /** Image features as P reads them, {@code [n, d]} (pooled) or {@code [n, k, c]} (grid); every image must decode. */
  public INDArray features(List<byte[]> images) {
    return featuresPreprocessed(images.stream().map(encoder::preprocess).toList());
  }

  /** {@link #features} of images already through {@link #preprocess}. */
  public INDArray featuresPreprocessed(List<float[]> pixels) {
    if (pixels.isEmpty()) {
      throw new IllegalArgumentException("Cannot encode an empty list of images");
    }
    return encoder.forward(pixels);
  }

  /** The soft prompts of image features, {@code [n, k, n_embd]}. */
  public INDArray prompts(INDArray features) {
    return map.forward(features);
  }

  /** The soft prompts of encoded images, {@code [n, k, n_embd]}. */
  public INDArray prompts(List<byte[]> images) {
    return prompts(features(images));
  }
}
