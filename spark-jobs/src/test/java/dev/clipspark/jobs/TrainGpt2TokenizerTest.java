package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clipspark.training.tokenizer.Gpt2BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code clip train-tokenizer --kind gpt2 --corpus FILES}: Spark counts, the driver learns, the files load back. */
class TrainGpt2TokenizerTest {

  @Test
  void learnsFromTextFilesTheVocabularyTheLocalLearnerLearns(@TempDir Path dir) throws Exception {
    List<String> lines = new ArrayList<>();
    String[] colours = {"Red", "green", "blue", "Yellow"};
    String[] shapes = {"circle", "square", "triangle"};
    for (int i = 0; i < 300; i++) {
      lines.add(String.format("A %s %s on a grey background, isn't it? No. %d", colours[i % 4], shapes[i % 3], i % 7));
    }
    Path a = dir.resolve("a.txt");
    Path b = dir.resolve("b.txt");
    Files.write(a, lines.subList(0, 150));
    Files.write(b, lines.subList(150, 300));
    Path out = dir.resolve("tok");
    var printed = new StringWriter();
    TrainLearnsTest.clip(printed, "train-tokenizer", "--kind", "gpt2", "--corpus", a + "," + b, "--out", out.toString(),
        "--set", "lm.tokenizer.vocab-size=300", "--master", "local[2]");
    assertThat(printed.toString()).contains("Wrote a GPT-2-style tokenizer of 300 tokens (asked for 300: 43 merges,"
        + " <|endoftext|> = 299)");
    Gpt2Tokenizer loaded = Gpt2Tokenizer.load(out.toString(), new Configuration());
    Gpt2Tokenizer local = Gpt2BpeTrainer.learn(lines, 300);
    assertThat(loaded.merges()).isEqualTo(local.merges());
    String text = "A Red circle on a grey background, isn't it?";
    assertThat(loaded.encode(text)).containsExactly(local.encode(text));
    assertThat(loaded.decode(loaded.encode(text))).isEqualTo(text);
  }
}
