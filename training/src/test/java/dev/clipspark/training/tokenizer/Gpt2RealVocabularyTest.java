package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

/**
 * Opt-in: with OpenAI's GPT-2 {@code vocab.json} (or {@code encoder.json} renamed) and {@code merges.txt} in the
 * directory named by the system property {@value #PROPERTY} or the environment variable {@value #ENV}, checks ids
 * that GPT-2's tokenizer is documented to produce. Skipped when neither is set (the files are not redistributed
 * here).
 */
class Gpt2RealVocabularyTest {

  static final String PROPERTY = "clipspark.gpt2.vocab-dir";
  static final String ENV = "CLIPSPARK_GPT2_VOCAB_DIR";

  @Test
  void encodesAsGpt2() {
    String dir = System.getProperty(PROPERTY, System.getenv(ENV));
    assumeTrue(dir != null && !dir.isBlank(), "set -D" + PROPERTY + "=DIR or " + ENV + " to run");
    Path path = Paths.get(dir);
    assertThat(Files.isRegularFile(path.resolve("vocab.json"))).as(path + "/vocab.json").isTrue();
    Gpt2Tokenizer t = Gpt2Tokenizer.load(dir, new Configuration());
    assertThat(t.vocabSize()).isEqualTo(50257);
    assertThat(t.endOfText()).isEqualTo(50256);
    assertThat(t.merges()).hasSize(50000);
    // Hugging Face's documented examples for "gpt2".
    assertThat(t.encode("Hello world")).containsExactly(15496, 995);
    assertThat(t.encode(" Hello world")).containsExactly(18435, 995);
    assertThat(t.encode("Hello, my dog is cute")).containsExactly(15496, 11, 616, 3290, 318, 13779);
    String mixed = "Ærøskøbing's café, 東京 — 3.14 😀\n\n  end";
    assertThat(t.decode(t.encode(mixed))).isEqualTo(mixed);
  }
}
