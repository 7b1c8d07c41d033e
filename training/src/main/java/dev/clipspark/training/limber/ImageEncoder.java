package dev.clipspark.training.limber;

import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.model.ClipModel;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The frozen CLIP image tower as LiMBeR reads it: OpenAI's evaluation preprocessing (resize the short side with
 * bicubic resampling, centre crop, normalise) and either the pooled embedding ({@link ClipModel#encodeImage}, not
 * normalised) or the grid ({@link ClipModel#encodeImageGrid}), in evaluation mode. One image's features are
 * {@link #positions()} x {@link #width()} floats, row-major (pooled: one position).
 *
 * <p>Not thread-safe: one instance per thread ({@link #cached} keeps one per thread over parameters read once per
 * JVM).
 */
public final class ImageEncoder {

  private static final Map<String, LoadedCheckpoint> SHARED = new ConcurrentHashMap<>();
  private static final ThreadLocal<Map<String, ImageEncoder>> PER_THREAD = ThreadLocal.withInitial(HashMap::new);

  private final String directory;
  private final ClipModel model;
  private final FeatureMode mode;
  private final ImagePreprocessor preprocessor;

  private ImageEncoder(String directory, LoadedCheckpoint checkpoint, FeatureMode mode) {
    this.directory = directory;
    this.model = ClipModel.create(checkpoint.model(), checkpoint.parameters());
    this.model.setTraining(false);
    this.mode = mode;
    this.preprocessor = ImagePreprocessor.eval(checkpoint.model().vision().imageSize(),
        ImagePreprocessor.Resample.BICUBIC);
  }

  /**
   * Loads the CLIP checkpoint in {@code checkpointDir} (a resolved {@code step-*} directory) without its optimizer
   * state.
   */
  public static ImageEncoder load(String checkpointDir, FeatureMode mode, Configuration conf) {
    return new ImageEncoder(checkpointDir, Checkpoints.loadModel(checkpointDir, DataType.FLOAT, conf), mode);
  }

  /** An encoder for the calling thread; the checkpoint is read once per JVM (each executor loads it once). */
  public static ImageEncoder cached(String checkpointDir, FeatureMode mode, Configuration conf) {
    return PER_THREAD.get().computeIfAbsent(checkpointDir + "#" + mode, k -> new ImageEncoder(checkpointDir,
        SHARED.computeIfAbsent(checkpointDir, d -> Checkpoints.loadModel(d, DataType.FLOAT, conf)), mode));
  }

  /** The checkpoint directory read. */
  public String directory() {
    return directory;
  }

  /** The mode. */
  public FeatureMode mode() {
    return mode;
  }

  /** The CLIP model (frozen: nothing here updates it). */
  public ClipModel model() {
    return model;
  }

  /** Positions per image: 1 (pooled) or the grid's. */
  public int positions() {
    return mode == FeatureMode.POOLED ? 1 : model.gridPositions();
  }

  /** Floats per position: the embedding width (pooled) or the grid tokens' width. */
  public int width() {
    return mode == FeatureMode.POOLED ? model.config().embedDim() : Math.toIntExact(model.gridWidth());
  }

  /**
   * The evaluation transform of one encoded image.
   *
   * @throws IllegalArgumentException when the bytes do not decode
   */
  public float[] preprocess(byte[] encoded) {
    if (encoded == null) {
      throw new IllegalArgumentException("the image is missing");
    }
    return preprocessor.apply(encoded, null);
  }

  /** Features of encoded images, {@code [n][positions * width]}; every image must decode. */
  public float[][] encode(List<byte[]> encoded) {
    return encodePreprocessed(encoded.stream().map(this::preprocess).toList());
  }

  /** Features of images already through {@link #preprocess}, {@code [n][positions * width]}. */
  public float[][] encodePreprocessed(List<float[]> pixels) {
    INDArray out = forward(pixels);
    if (out == null) {
      return new float[0][];
    }
    return out.reshape('c', pixels.size(), (long) positions() * width()).toFloatMatrix();
  }

  /**
   * Features as P reads them: {@code [n, d]} (pooled) or {@code [n, k, c]} (grid); null for no images.
   */
  public INDArray forward(List<float[]> pixels) {
    int n = pixels.size();
    if (n == 0) {
      return null;
    }
    int side = preprocessor.size();
    int per = 3 * side * side;
    float[] flat = new float[n * per];
    for (int i = 0; i < n; i++) {
      float[] p = pixels.get(i);
      if (p.length != per) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot encode image %d: it has %d values, the model reads 3 x %d x %d = %d", i, p.length, side, side, per));
      }
      System.arraycopy(p, 0, flat, i * per, per);
    }
    INDArray images = Nd4j.createFromArray(flat).reshape('c', n, 3, side, side);
    return mode == FeatureMode.POOLED ? model.encodeImage(images) : model.encodeImageGrid(images);
  }
}
