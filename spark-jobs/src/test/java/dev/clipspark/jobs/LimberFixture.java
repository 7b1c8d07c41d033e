package dev.clipspark.jobs;

import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.limber.FeatureMode;
import dev.clipspark.training.limber.FrozenCheckpoint;
import dev.clipspark.training.limber.LimberCheckpoints;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.SoftPromptMap;
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
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A real, untrained LiMBeR model for the captioning tests: a tiny-vit CLIP checkpoint ({@code DIR/clip}), a 1-layer
 * GPT-2 checkpoint with a tokenizer learned from the given captions ({@code DIR/lm}), and P (k = 2, pooled features)
 * saved by {@link LimberCheckpoints} under {@code DIR/limber}, with the frozen parts' digests.
 */
final class LimberFixture {

  private LimberFixture() {}

  /** Writes the three checkpoints under {@code dir}; returns the LiMBeR output directory. */
  static String checkpoint(Path dir, List<String> captions) throws IOException {
    var conf = new Configuration();
    ModelConfig clipConfig = ModelConfigs.load("tiny-vit");
    String clipDir = dir.resolve("clip").toString();
    Files.createDirectories(dir.resolve("clip"));
    Path merges = dir.resolve("clip").resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\n");
    Checkpoints.save(clipDir, new Checkpoint(0, Map.of("tokenizer_vocab_size", 515L), clipConfig, merges.toString(),
        ClipParameters.initialize(clipConfig, 1, DataType.FLOAT), null), conf);
    var texts = new ArrayList<String>();
    for (int i = 0; i < 40; i++) {
      texts.addAll(captions);
    }
    Gpt2Tokenizer tokenizer = Gpt2BpeTrainer.learn(texts, 280);
    Path tok = Files.createDirectories(dir.resolve("tokenizer"));
    tokenizer.write(tok.toString(), conf);
    var lmConfig = new LmConfig("gpt2-test", tokenizer.vocabSize(), 24, 32, 1, 4, 1e-5);
    String lmDir = dir.resolve("lm").toString();
    Checkpoints.save(lmDir, new Checkpoint(0, Map.of(), CheckpointKind.GPT2, lmConfig.name(),
        String.format(Locale.ROOT, "vocab_size = %d%nn_ctx = 24%nn_embd = 32%nn_layer = 1%nn_head = 4%n",
            tokenizer.vocabSize()),
        Map.of(Gpt2Tokenizer.VOCAB_FILE, tok.resolve(Gpt2Tokenizer.VOCAB_FILE).toString(),
            Gpt2Tokenizer.MERGES_FILE, tok.resolve(Gpt2Tokenizer.MERGES_FILE).toString()),
        Gpt2Model.initialize(lmConfig, 2, DataType.FLOAT).parameters(), null), conf);
    var identity = new LimberCheckpoints.Identity(FrozenCheckpoint.of("--clip", clipDir, conf),
        FrozenCheckpoint.of("--lm", lmDir, conf), FeatureMode.POOLED, 2, clipConfig.embedDim(), 32);
    String limber = dir.resolve("limber").toString();
    LimberCheckpoints.save(limber, 5, Map.of(), SoftPromptMap.initialize(clipConfig.embedDim(), 2, 32, 3,
        DataType.FLOAT), null, identity, 0, conf);
    return limber;
  }
}
