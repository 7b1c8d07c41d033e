package dev.clipspark.evaluation.caption;

import dev.clipspark.training.lm.Gpt2Model;
import java.io.Serializable;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What captioning needs from a LiMBeR model: the frozen image encoder's preprocessing and features, the map P from
 * features to soft prompts, the frozen language model and its tokenizer's end token and decoding. Not thread-safe
 * (layers keep per-call state): {@link Loader}s give each executor thread its own instance over parameters read
 * once per JVM.
 */
public interface CaptionModel {

  /** Where the model was read from (a checkpoint directory). */
  String directory();

  /** A short description for reports, e.g. the language model's name and k. */
  String name();

  /** The training step P was saved after (0 when unknown). */
  long step();

  /**
   * The image encoder's input for one encoded image.
   *
   * @throws IllegalArgumentException when the bytes do not decode as an image
   */
  float[] preprocess(byte[] image);

  /** Image features of preprocessed images: {@code [n, d]} (pooled) or {@code [n, k, c]} (grid). */
  INDArray features(List<float[]> pixels);

  /** The soft prompts {@code [n, k, n_embd]} of features as {@link #features} returns them. */
  INDArray prompts(INDArray features);

  /** The frozen language model. */
  Gpt2Model languageModel();

  /** {@code <|endoftext|>}'s id. */
  int endOfText();

  /** The text of generated token ids. */
  String decode(int[] tokens);

  /** Reads a model; must be serialisable (it is shipped to executors) and should cache per JVM. */
  @FunctionalInterface
  interface Loader extends Serializable {
    /**
     * The model at {@code location} for the calling thread.
     *
     * @throws IllegalArgumentException when there is no model there
     */
    CaptionModel load(String location, Configuration conf);

    /**
     * What reports say about the model at {@code location} ({@code directory}, {@code step}, {@code model}), read on
     * the driver before any task starts, so a wrong location fails fast. By default the model itself is loaded.
     *
     * @throws IllegalArgumentException when there is no model there
     */
    default java.util.Map<String, Object> describe(String location, Configuration conf) {
      CaptionModel m = load(location, conf);
      var out = new java.util.LinkedHashMap<String, Object>();
      out.put("directory", m.directory());
      out.put("step", m.step());
      out.put("model", m.name());
      return out;
    }
  }
}
