package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

class TokenizerOptionsTest {

  static TokenizerOptions options(String hocon) {
    return TokenizerOptions.from(new Settings(
        ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference()).resolve()));
  }

  @Test
  void referenceConfMatchesTheDefaults() {
    assertThat(options("")).isEqualTo(TokenizerOptions.defaults());
    assertThat(TokenizerOptions.defaults().vocabSize()).isEqualTo(49408);
    assertThat(TokenizerOptions.defaults().contextLength()).isEqualTo(77);
    assertThat(TokenizerOptions.defaults().minWordCount()).isEqualTo(2);
    assertThat(TokenizerOptions.defaults().merges()).isEmpty();
    assertThat(TokenizerOptions.defaults().mergeCount()).isEqualTo(48894);
  }

  @Test
  void readsOverrides() {
    var o = options("tokenizer { vocab-size = 1000, context-length = 32, min-word-count = 5, merges = \" /tmp/m.txt.gz \" }");
    assertThat(o).isEqualTo(new TokenizerOptions(1000, 32, 5, "/tmp/m.txt.gz"));
    assertThat(o.withVocabSize(600).vocabSize()).isEqualTo(600);
    assertThat(o.withMerges("").merges()).isEmpty();
  }

  @Test
  void badValuesNameTheKey() {
    assertThatThrownBy(() -> options("tokenizer.vocab-size = 514"))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set tokenizer.vocab-size to 514: must be between 515 and 1000000");
    assertThatThrownBy(() -> options("tokenizer.vocab-size = lots"))
        .hasMessage("Cannot set tokenizer.vocab-size to \"lots\": must be a whole number between 515 and 1000000");
    assertThatThrownBy(() -> options("tokenizer.context-length = 1"))
        .hasMessage("Cannot set tokenizer.context-length to 1: must be between 2 and 65536");
    assertThatThrownBy(() -> options("tokenizer.min-word-count = 0"))
        .hasMessage("Cannot set tokenizer.min-word-count to 0: must be between 1 and 9223372036854775807");
    assertThatThrownBy(() -> new TokenizerOptions(49408, 77, 2, null))
        .hasMessage("Cannot set tokenizer.merges to nothing: must be a path or URI, or empty for none");
  }

  @Test
  void loadingNeedsAMergesFile() {
    assertThatThrownBy(() -> ClipTokenizer.load(TokenizerOptions.defaults(), new Configuration()))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set tokenizer.merges to \"\": must name a merges file to load a tokenizer from "
            + "(OpenAI's bpe_simple_vocab_16e6.txt.gz or one written by BpeTrainer)");
  }
}
