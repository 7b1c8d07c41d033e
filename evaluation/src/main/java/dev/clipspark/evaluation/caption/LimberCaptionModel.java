package dev.clipspark.evaluation.caption;

import dev.clipspark.training.limber.LimberCheckpoints;
import dev.clipspark.training.limber.LimberModel;
import dev.clipspark.training.lm.Gpt2Model;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The {@link CaptionModel} of a trained LiMBeR checkpoint ({@code train-limber}'s output): the adapter between
 * captioning and {@link LimberModel}, the only class of this package that knows how LiMBeR models are stored.
 */
public final class LimberCaptionModel implements CaptionModel {

  /**
   * Reads LiMBeR models: {@link LimberModel#cached} (the checkpoints read and verified once per JVM, one set of
   * layers per thread); {@code describe} reads only P's checkpoint and its {@code limber.json}.
   */
  public static final CaptionModel.Loader LOADER = new LimberLoader();

  private static final class LimberLoader implements CaptionModel.Loader {
    private static final long serialVersionUID = 1L;

    @Override
    public CaptionModel load(String location, Configuration conf) {
      return new LimberCaptionModel(LimberModel.cached(location, conf));
    }

    @Override
    public Map<String, Object> describe(String location, Configuration conf) {
      LimberCheckpoints.Saved saved = LimberCheckpoints.load(location, conf);
      saved.identity().requireUnchanged(saved.directory(), conf);
      LimberCheckpoints.Identity id = saved.identity();
      var out = new LinkedHashMap<String, Object>();
      out.put("directory", saved.directory());
      out.put("step", saved.step());
      out.put("model", name(id));
      out.put("clip_checkpoint", id.clip().directory());
      out.put("lm_checkpoint", id.lm().directory());
      out.put("features", id.mode().spelling());
      out.put("prompts", id.prompts());
      return out;
    }
  }

  private final LimberModel model;

  private LimberCaptionModel(LimberModel model) {
    this.model = model;
  }

  private static String name(LimberCheckpoints.Identity id) {
    return String.format(java.util.Locale.ROOT, "LiMBeR (%s features, k = %d)", id.mode().spelling(), id.prompts());
  }

  @Override
  public String directory() {
    return model.directory();
  }

  @Override
  public String name() {
    return name(model.identity()) + " on " + model.languageModel().config().name();
  }

  @Override
  public long step() {
    return model.step();
  }

  @Override
  public float[] preprocess(byte[] image) {
    return model.preprocess(image);
  }

  @Override
  public INDArray features(List<float[]> pixels) {
    return model.featuresPreprocessed(pixels);
  }

  @Override
  public INDArray prompts(INDArray features) {
    return model.prompts(features);
  }

  @Override
  public Gpt2Model languageModel() {
    return model.languageModel();
  }

  @Override
  public int endOfText() {
    return model.tokenizer().endOfText();
  }

  @Override
  public String decode(int[] tokens) {
    return model.tokenizer().decode(tokens);
  }
}
