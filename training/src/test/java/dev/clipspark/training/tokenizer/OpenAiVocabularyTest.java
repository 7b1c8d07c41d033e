package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Parity with OpenAI CLIP's ids, run only where OpenAI's {@code bpe_simple_vocab_16e6.txt.gz} is at hand
 * (it cannot be fetched by the build): set the system property {@code clipspark.openai.bpe} or the environment
 * variable {@code CLIPSPARK_OPENAI_BPE} to its path. The expected ids are those OpenAI's
 * {@code simple_tokenizer.py} (with ftfy) gives for the same texts.
 */
class OpenAiVocabularyTest {

  static String vocabFile() {
    String path = System.getProperty("clipspark.openai.bpe", System.getenv("CLIPSPARK_OPENAI_BPE"));
    assumeTrue(path != null && Files.isRegularFile(Path.of(path)),
        "set clipspark.openai.bpe or CLIPSPARK_OPENAI_BPE to OpenAI's bpe_simple_vocab_16e6.txt.gz");
    return path;
  }

  @Test
  void idsAreOpenAis() {
    ClipTokenizer tok = ClipTokenizer.load(vocabFile(), ClipTokenizer.OPENAI_VOCAB_SIZE);
    assertThat(tok.vocabSize()).isEqualTo(49408);
    assertThat(tok.sotTokenId()).isEqualTo(49406);
    assertThat(tok.eotTokenId()).isEqualTo(49407);
    assertThat(tok.encode("a photo of a cat")).containsExactly(320, 1125, 539, 320, 2368);
    assertThat(tok.encode("A diagram of CLIP&#39;s contrastive pre-training, 2021.")).containsExactly(
        320, 22697, 539, 9289, 568, 9880, 22426, 2900, 268, 2199, 267, 273, 271, 273, 272, 269);
    assertThat(tok.encode("Don’t panic: ﬁsh &amp; chips cost £12.50 at the café 😀")).containsExactly(
        847, 713, 14124, 281, 2759, 261, 8855, 4713, 1950, 272, 273, 269, 276, 271, 536, 518, 15304, 7334);
    assertThat(tok.encode("東京タワーの夜景 — Ωmega ΣΟΦΙΑΣ")).containsExactly(
        48338, 21078, 105, 34941, 2429, 107, 13457, 21575, 23170, 250, 48132, 363, 2005, 139, 231, 9068, 139, 225,
        138, 123, 139, 228, 138, 117, 138, 109, 139, 480);
    assertThat(tok.tokenize(List.of("a photo of a cat"))[0]).startsWith(49406, 320, 1125, 539, 320, 2368, 49407, 0);
  }
}
