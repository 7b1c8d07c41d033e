package dev.clipspark.training.limber;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.checkpoint.OptimizerState;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * LiMBeR's checkpoints: ClipSpark checkpoints of kind {@code limber} ({@link CheckpointKind#LIMBER}) holding P's two
 * tensors ({@code proj.weight}, {@code proj.bias}), AdamW's moments and the trainer state, with {@value #LIMBER_JSON}
 * beside them: the CLIP and language-model checkpoints (as given and resolved) and the SHA-256 of each one's
 * {@code checkpoint.json}, the feature mode, k and the widths. Loading verifies that the frozen parts still have
 * those digests and refuses with a message naming the part that changed. Also the loader of the frozen language
 * model, a checkpoint of kind {@code gpt2}.
 */
public final class LimberCheckpoints {

  /** The extra file naming the frozen parts. */
  public static final String LIMBER_JSON = "limber.json";

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private LimberCheckpoints() {}

  /**
   * What a LiMBeR checkpoint was trained with ({@value #LIMBER_JSON}).
   *
   * @param clip the frozen CLIP checkpoint
   * @param lm the frozen language model's checkpoint
   * @param mode the feature mode
   * @param prompts k
   * @param inputWidth the width of what P reads: d (pooled) or c (grid)
   * @param lmWidth the language model's embedding width e
   */
  public record Identity(FrozenCheckpoint clip, FrozenCheckpoint lm, FeatureMode mode, int prompts, int inputWidth,
      int lmWidth) {

    Map<String, Object> json() {
      var m = new LinkedHashMap<String, Object>();
      m.put("clip_checkpoint", clip.directory());
      m.put("clip_location", clip.location());
      m.put("clip_sha256", clip.sha256());
      m.put("lm_checkpoint", lm.directory());
      m.put("lm_location", lm.location());
      m.put("lm_sha256", lm.sha256());
      m.put("features", mode.spelling());
      m.put("prompts", prompts);
      m.put("input_width", inputWidth);
      m.put("lm_width", lmWidth);
      return m;
    }

    static Identity of(Map<String, Object> m) {
      return new Identity(
          new FrozenCheckpoint((String) m.get("clip_location"), (String) m.get("clip_checkpoint"),
              (String) m.get("clip_sha256")),
          new FrozenCheckpoint((String) m.get("lm_location"), (String) m.get("lm_checkpoint"),
              (String) m.get("lm_sha256")),
          FeatureMode.of((String) m.get("features")), ((Number) m.get("prompts")).intValue(),
          ((Number) m.get("input_width")).intValue(), ((Number) m.get("lm_width")).intValue());
    }

    /**
     * Checks that a run about to resume from the checkpoint in {@code directory} (which has this identity) uses the
     * same frozen parts, mode and k.
     *
     * @throws IllegalArgumentException naming what differs
     */
    public void requireSameFrozenParts(Identity now, String directory) {
      if (!clip.sha256().equals(now.clip.sha256())) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot resume from %s with the CLIP checkpoint"
                + " %s (checkpoint.json SHA-256 %s): it was trained with %s (SHA-256 %s); use the same --clip or"
                + " another --out", directory, now.clip.directory(), now.clip.sha256(), clip.directory(),
            clip.sha256()));
      }
      if (!lm.sha256().equals(now.lm.sha256())) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot resume from %s with the language model"
                + " %s (checkpoint.json SHA-256 %s): it was trained with %s (SHA-256 %s); use the same --lm or"
                + " another --out", directory, now.lm.directory(), now.lm.sha256(), lm.directory(), lm.sha256()));
      }
      if (mode != now.mode || prompts != now.prompts) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot resume from %s with %s = %s and k = %d:"
                + " it was trained with %s and k = %d (%s); use the same settings or another --out", directory,
            LimberOptions.FEATURES, now.mode.spelling(), now.prompts, mode.spelling(), prompts,
            LimberOptions.PROMPTS));
      }
    }

    /**
     * Checks that the frozen parts on disk still have the digests this checkpoint was trained with.
     *
     * @throws IllegalArgumentException naming the part that changed or went missing
     */
    public void requireUnchanged(String directory, Configuration conf) {
      check(directory, "CLIP checkpoint", clip, conf);
      check(directory, "language model", lm, conf);
    }

    private static void check(String directory, String what, FrozenCheckpoint part, Configuration conf) {
      String now;
      try {
        now = FrozenCheckpoint.sha256(part.directory(), conf);
      } catch (UncheckedIOException e) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot load the LiMBeR checkpoint %s: its %s"
            + " %s cannot be read (%s)", directory, what, part.directory(), e.getMessage()), e);
      }
      if (!now.equals(part.sha256())) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot load the LiMBeR checkpoint %s: its %s"
                + " %s changed since P was trained (checkpoint.json SHA-256 now %s, trained with %s); P only fits the"
                + " frozen parts it was trained with", directory, what, part.directory(), now, part.sha256()));
      }
    }
  }

  /**
   * A LiMBeR checkpoint read back.
   *
   * @param directory its directory
   * @param step the step it was taken after
   * @param parameters P's parameters
   * @param optimizer AdamW's state (an empty state when loaded without it)
   * @param state the trainer state
   * @param identity its {@value #LIMBER_JSON}
   */
  public record Saved(String directory, long step, ParameterSet parameters, OptimizerState optimizer,
      Map<String, Object> state, Identity identity) {}

  /**
   * The frozen language model of a LiMBeR model.
   *
   * @param model the GPT-2 model (its parameters are never updated here)
   * @param tokenizer its tokenizer
   * @param directory the checkpoint directory read
   */
  public record LanguageModel(Gpt2Model model, Gpt2Tokenizer tokenizer, String directory) {}

  /**
   * Loads the language model of the checkpoint of kind {@code gpt2} in {@code checkpointDir} (a resolved
   * {@code step-*} directory): its architecture ({@code model.conf}), parameters and tokenizer files.
   *
   * @throws IllegalArgumentException if it is not a language-model checkpoint
   */
  public static LanguageModel loadLanguageModel(String checkpointDir, Configuration conf) {
    var loaded = dev.clipspark.training.lm.LmCheckpoints.of(Checkpoints.loadModel(checkpointDir, DataType.FLOAT, conf),
        conf);
    return new LanguageModel(loaded.lm(), loaded.tokenizer(), checkpointDir);
  }


  /**
   * Saves a checkpoint of P under {@code outDir/checkpoints/} (writing {@code outDir/limber.json} first, which the
   * checkpoint copies).
   */
  public static Path save(String outDir, long step, Map<String, Object> state, ParameterSet p, OptimizerState optimizer,
      Identity identity, int keep, Configuration conf) {
    Path limber = new Path(outDir, LIMBER_JSON);
    try (OutputStream out = limber.getFileSystem(conf).create(limber, true)) {
      JSON.writeValue(out, identity.json());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + limber + ": " + e.getMessage(), e);
    }
    String modelConf = String.format(Locale.ROOT, "features = %s%nprompts = %d%ninput_width = %d%nlm_width = %d%n",
        identity.mode().spelling(), identity.prompts(), identity.inputWidth(), identity.lmWidth());
    return Checkpoints.save(outDir, new Checkpoint(step, state, CheckpointKind.LIMBER, modelName(identity), modelConf,
        Map.of(LIMBER_JSON, limber.toString()), p, optimizer), keep, Checkpoints.COMMIT_DEFAULT, conf);
  }

  /** The model name recorded in {@code checkpoint.json}, e.g. {@code limber-pooled-k4}. */
  static String modelName(Identity identity) {
    return "limber-" + identity.mode().spelling() + "-k" + identity.prompts();
  }

  /** The newest complete LiMBeR checkpoint under {@code outDir}, with its optimizer state, to resume from. */
  public static Optional<Saved> loadLatest(String outDir, Configuration conf) {
    return Checkpoints.loadLatest(outDir, DataType.FLOAT, conf).map(c -> saved(c, true, conf));
  }

  /**
   * The LiMBeR checkpoint at {@code location} (a {@code step-*} directory or a {@code train-limber} output
   * directory), without its optimizer state.
   */
  public static Saved load(String location, Configuration conf) {
    String dir = Checkpoints.resolve(location, conf);
    return saved(Checkpoints.loadModel(dir, DataType.FLOAT, conf), false, conf);
  }

  private static Saved saved(LoadedCheckpoint c, boolean withOptimizer, Configuration conf) {
    c.requireKind(CheckpointKind.LIMBER);
    Identity identity = readIdentity(c.file(LIMBER_JSON), conf);
    OptimizerState optimizer = withOptimizer ? c.optimizer().orElseThrow(() -> new IllegalStateException(
        "Cannot resume from " + c.directory() + ": it holds no optimizer state")) : null;
    return new Saved(c.directory(), c.step(), c.parameters(), optimizer, c.trainerState(), identity);
  }

  @SuppressWarnings("unchecked")
  private static Identity readIdentity(String location, Configuration conf) {
    Path path = new Path(location);
    try (InputStream in = path.getFileSystem(conf).open(path)) {
      return Identity.of(JSON.readValue(in, Map.class));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + path + ": " + e.getMessage(), e);
    }
  }
}
