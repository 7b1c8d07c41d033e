package dev.clipspark.training.limber;

import dev.clipspark.dataset.source.SyntheticShapes;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.tokenizer.Gpt2BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;

/** Test helpers: the frozen parts of a LiMBeR model, saved as the real checkpoints the job reads. */
final class LimberFixtures {

  private LimberFixtures() {}

  /** A randomly initialised tiny-vit CLIP saved as a checkpoint (kind clip) under {@code dir}; returns dir. */
  static String clipCheckpoint(Path dir, long seed) throws IOException {
    ModelConfig config = ModelConfigs.load("tiny-vit");
    Files.createDirectories(dir);
    Path merges = dir.resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\n");
    Checkpoints.save(dir.toString(), new Checkpoint(0, Map.of("tokenizer_vocab_size", 515L), config,
        merges.toString(), ClipParameters.initialize(config, seed, DataType.FLOAT), null), new Configuration());
    return dir.toString();
  }

  /** Synthetic coloured-shape captions. */
  static List<String> captions(long seed, int n) {
    var rnd = new SplittableRandom(seed);
    var out = new ArrayList<String>();
    for (int i = 0; i < n; i++) {
      out.add(SyntheticShapes.caption(SyntheticShapes.classOf(rnd.nextInt(1 << 20)), rnd));
    }
    return out;
  }

  /**
   * A small GPT-2 (width 32, 2 layers, {@code nCtx} positions) with a 300-token tokenizer learned from coloured-shape
   * captions, saved as a checkpoint of kind gpt2 under {@code dir}; returns dir.
   */
  static String lmCheckpoint(Path dir, int nCtx, long seed) throws IOException {
    return lmCheckpoint(dir, nCtx, seed, 60);
  }

  /** {@link #lmCheckpoint(Path, int, long)} with {@code steps} of pre-training (0: a random model). */
  static String lmCheckpoint(Path dir, int nCtx, long seed, int steps) throws IOException {
    Gpt2Tokenizer tokenizer = Gpt2BpeTrainer.learn(captions(seed, 500), 300);
    Path tok = dir.resolve("tokenizer");
    Files.createDirectories(tok);
    tokenizer.write(tok.toString(), new Configuration());
    var config = new LmConfig("gpt2-test", tokenizer.vocabSize(), nCtx, 32, 2, 4, 1e-5);
    String conf = String.format(java.util.Locale.ROOT, "vocab_size = %d%nn_ctx = %d%nn_embd = 32%nn_layer = 2%n"
        + "n_head = 4%nlayer_norm_epsilon = 1e-5%n", tokenizer.vocabSize(), nCtx);
    Checkpoints.save(dir.toString(), new Checkpoint(0, Map.of(), CheckpointKind.GPT2, config.name(), conf,
        Map.of(Gpt2Tokenizer.VOCAB_FILE, tok.resolve(Gpt2Tokenizer.VOCAB_FILE).toString(),
            Gpt2Tokenizer.MERGES_FILE, tok.resolve(Gpt2Tokenizer.MERGES_FILE).toString()),
        pretrained(config, tokenizer, seed, steps).parameters(), null), new Configuration());
    return dir.toString();
  }

  /**
   * The model trained briefly on {@code <|endoftext|> caption <|endoftext|>} rows (60 AdamW steps of 16 captions), so
   * it writes caption-like text and P has a language model to steer (a random one's logits are all near 0: no map can
   * lower its loss much).
   */
  static Gpt2Model pretrained(LmConfig config, Gpt2Tokenizer tokenizer, long seed, int steps) {
    Gpt2Model model = Gpt2Model.initialize(config, seed, DataType.FLOAT);
    var optimizer = new dev.clipspark.training.optim.AdamW(model.parameters(),
        dev.clipspark.training.optim.AdamW.decayedNames(dev.clipspark.training.lm.Gpt2Parameters.specs(config)), 0.9,
        0.98, 1e-6, 0.01);
    List<String> texts = captions(seed + 1, 960);
    if (steps == 0) {
      return model;
    }
    var schedule = dev.clipspark.training.optim.LearningRateSchedule.cosine(5e-3, 6, steps);
    for (int step = 0; step < steps; step++) {
      int[][] rows = new int[16][];
      int t = 0;
      for (int i = 0; i < 16; i++) {
        int[] ids = tokenizer.encode(texts.get(step * 16 + i));
        int[] row = new int[Math.min(ids.length + 2, config.nCtx())];
        row[0] = tokenizer.endOfText();
        System.arraycopy(ids, 0, row, 1, Math.min(ids.length, row.length - 1));
        row[row.length - 1] = tokenizer.endOfText();
        rows[i] = row;
        t = Math.max(t, row.length);
      }
      int[][] tokens = new int[16][t];
      int[] lengths = new int[16];
      for (int i = 0; i < 16; i++) {
        System.arraycopy(rows[i], 0, tokens[i], 0, rows[i].length);
        lengths[i] = rows[i].length;
      }
      model.parameters().zeroGradients();
      model.forwardBackward(tokens, lengths);
      dev.clipspark.training.optim.GradientClipping.clipByGlobalNorm(model.parameters(), 1.0);
      optimizer.step(schedule.at(step));
    }
    model.parameters().zeroGradients();
    return model;
  }

  /** Copies a directory tree. */
  static void copy(Path from, Path to) throws IOException {
    try (var files = Files.walk(from)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }
}
