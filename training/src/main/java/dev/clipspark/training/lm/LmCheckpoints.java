package dev.clipspark.training.lm;

import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.CheckpointException;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.checkpoint.OptimizerState;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Language-model checkpoints: ordinary ClipSpark checkpoints ({@link Checkpoints}) of kind
 * {@link CheckpointKind#GPT2}, whose {@code model.conf} holds the {@link LmConfig} keys (Hugging Face's
 * {@code GPT2Config} names, as in {@code conf/models/lm/NAME.conf}) and which carry the GPT-2 tokenizer's
 * {@value Gpt2Tokenizer#VOCAB_FILE} and {@value Gpt2Tokenizer#MERGES_FILE}. {@code bin/clip train-lm} writes them
 * while training and {@code bin/clip import-weights} for GPT-2 files writes one at step 0; {@link #load} is how
 * any other component (LiMBeR training, captioning) reads the language model back.
 */
public final class LmCheckpoints {

  /** Trainer-state key of the tokenizer's vocabulary size. */
  public static final String TOKENIZER_VOCAB_SIZE = "tokenizer_vocab_size";

  private LmCheckpoints() {}

  /**
   * A language model read from a checkpoint.
   *
   * @param directory    the checkpoint's directory
   * @param step         the training step it was taken after (0 for imported weights)
   * @param model        the architecture
   * @param parameters   the parameters, with Hugging Face's {@code GPT2Model} names ({@link Gpt2Parameters})
   * @param tokenizer    the checkpoint's GPT-2 tokenizer (its vocabulary is at most {@code model.vocabSize()})
   * @param trainerState the trainer's state (for imported weights: where they came from)
   */
  public record Loaded(String directory, long step, LmConfig model, ParameterSet parameters, Gpt2Tokenizer tokenizer,
      Map<String, Object> trainerState) {

    /** The model over these parameters. */
    public Gpt2Model lm() {
      return Gpt2Model.create(model, parameters);
    }
  }

  /**
   * A checkpoint to hand to {@link Checkpoints#save}.
   *
   * @param tokenizerDir the folder with the tokenizer's {@code vocab.json} and {@code merges.txt} (local path or
   *                     Hadoop URI), copied into the checkpoint
   * @param optimizer    null for a model-only checkpoint
   */
  public static Checkpoint checkpoint(long step, Map<String, Object> trainerState, LmConfig model,
      String tokenizerDir, ParameterSet parameters, OptimizerState optimizer) {
    var files = new LinkedHashMap<String, String>();
    files.put(Gpt2Tokenizer.VOCAB_FILE, new Path(tokenizerDir, Gpt2Tokenizer.VOCAB_FILE).toString());
    files.put(Gpt2Tokenizer.MERGES_FILE, new Path(tokenizerDir, Gpt2Tokenizer.MERGES_FILE).toString());
    return new Checkpoint(step, trainerState, CheckpointKind.GPT2, model.name(), render(model), files, parameters,
        optimizer);
  }

  /**
   * Reads the language model at {@code location}: a checkpoint directory, or a {@code train-lm} /
   * {@code import-weights} output directory (its newest complete checkpoint, {@link Checkpoints#resolve}).
   *
   * @param dataType floating-point tensors are cast to it; null keeps the stored types (float32)
   * @throws IllegalArgumentException if there is no complete checkpoint there
   * @throws CheckpointException if the checkpoint does not verify, holds another kind of model, or its model or
   *     tokenizer does not read
   */
  public static Loaded load(String location, DataType dataType, Configuration conf) {
    String dir = Checkpoints.resolve(location, conf);
    return of(Checkpoints.loadModel(dir, dataType, conf), conf);
  }

  /**
   * The language model of a loaded checkpoint (as {@link Checkpoints#loadLatest} returns it when resuming).
   *
   * @throws CheckpointException if it is not a {@link CheckpointKind#GPT2} checkpoint or its files do not read
   */
  public static Loaded of(LoadedCheckpoint c, Configuration conf) {
    c.requireKind(CheckpointKind.GPT2);
    LmConfig model = model(c);
    Gpt2Tokenizer tokenizer;
    try {
      tokenizer = Gpt2Tokenizer.load(c.file(Gpt2Tokenizer.VOCAB_FILE), c.file(Gpt2Tokenizer.MERGES_FILE), conf);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException("Cannot load checkpoint " + c.directory() + ": its tokenizer does not read: "
          + e.getMessage(), e);
    }
    if (tokenizer.vocabSize() > model.vocabSize()) {
      throw new CheckpointException(String.format(Locale.ROOT, "Cannot load checkpoint %s: its tokenizer has %d"
          + " tokens, more than the model's vocab_size %d", c.directory(), tokenizer.vocabSize(), model.vocabSize()),
          null);
    }
    try {
      Gpt2Model.create(model, c.parameters());
    } catch (IllegalArgumentException e) {
      throw new CheckpointException("Cannot load checkpoint " + c.directory() + ": its parameters do not fit its"
          + " model: " + e.getMessage(), e);
    }
    return new Loaded(c.directory(), c.step(), model, c.parameters(), tokenizer, c.trainerState());
  }

  /** The architecture in a GPT-2 checkpoint's {@code model.conf}. */
  public static LmConfig model(LoadedCheckpoint c) {
    c.requireKind(CheckpointKind.GPT2);
    try {
      return LmConfigs.parse(c.modelName(), ConfigFactory.parseString(c.modelConf()),
          new Path(c.directory(), Checkpoints.MODEL_CONF).toString());
    } catch (IllegalArgumentException | ConfigException e) {
      throw new CheckpointException("Cannot load checkpoint " + c.directory() + ": " + Checkpoints.MODEL_CONF
          + " is not a valid language model: " + e.getMessage(), e);
    }
  }

  /** The model as the text of a {@code conf/models/lm/NAME.conf} file, every key explicit. */
  public static String render(LmConfig model) {
    return String.format(Locale.ROOT, "# Language model %s, saved with a ClipSpark checkpoint.%n%s = %d%n%s = %d%n"
            + "%s = %d%n%s = %d%n%s = %d%n%s = %s%n", model.name(), LmConfig.VOCAB_SIZE, model.vocabSize(),
        LmConfig.N_CTX, model.nCtx(), LmConfig.N_EMBD, model.nEmbd(), LmConfig.N_LAYER, model.nLayer(),
        LmConfig.N_HEAD, model.nHead(), LmConfig.LAYER_NORM_EPSILON, Double.toString(model.layerNormEpsilon()));
  }
}
