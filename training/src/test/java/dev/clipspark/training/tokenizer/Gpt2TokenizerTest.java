package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks the tokenizer against fixtures made by an independent implementation,
 * {@code tools/reference/gpt2_bpe_reference.py} (OpenAI's {@code encoder.py} and a plain Python BPE learner):
 * a 512-token vocabulary learned from {@code train.txt}, and the ids of 2,500 held-out texts.
 */
class Gpt2TokenizerTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Configuration CONF = new Configuration();

  static Path fixtures() {
    try {
      return Paths.get(Gpt2TokenizerTest.class.getResource("/gpt2-bpe/vocab.json").toURI()).getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static List<String> trainingTexts() throws IOException {
    var texts = new ArrayList<String>();
    for (String line : Files.readAllLines(fixtures().resolve("train.txt"), StandardCharsets.UTF_8)) {
      texts.add(JSON.readValue(line, String.class));
    }
    return texts;
  }

  @Test
  void idsEqualOpenAisEncoderOnTwoAndAHalfThousandTexts() throws IOException {
    Gpt2Tokenizer tokenizer = Gpt2Tokenizer.load(fixtures().toString(), CONF);
    assertThat(tokenizer.vocabSize()).isEqualTo(512);
    assertThat(tokenizer.endOfText()).isEqualTo(511);
    List<String> lines = Files.readAllLines(fixtures().resolve("expected.jsonl"), StandardCharsets.UTF_8);
    assertThat(lines).hasSize(2500);
    int mismatches = 0;
    String first = null;
    for (String line : lines) {
      JsonNode record = JSON.readTree(line);
      String text = record.get("text").asText();
      int[] expected = JSON.convertValue(record.get("ids"), int[].class);
      int[] ids = tokenizer.encode(text);
      if (!java.util.Arrays.equals(ids, expected)) {
        mismatches++;
        if (first == null) {
          first = text + " -> " + java.util.Arrays.toString(ids) + ", expected " + java.util.Arrays.toString(expected);
        }
      }
      assertThat(tokenizer.decode(ids)).isEqualTo(text);
    }
    assertThat(mismatches).as("texts whose ids differ; first: %s", first).isZero();
  }

  @Test
  void learnerLearnsTheReferenceVocabularyAndMerges() throws IOException {
    Gpt2Tokenizer learned = Gpt2BpeTrainer.learn(trainingTexts(), 512);
    Gpt2Tokenizer reference = Gpt2Tokenizer.load(fixtures().toString(), CONF);
    assertThat(learned.merges()).containsExactlyElementsOf(reference.merges());
    for (int id = 0; id < reference.vocabSize(); id++) {
      assertThat(learned.token(id)).as("token %d", id).isEqualTo(reference.token(id));
    }
    assertThat(learned.vocabSize()).isEqualTo(512);
  }

  @Test
  void piecesFollowGpt2sPatternAndKeepCase() {
    assertThat(Gpt2Tokenizer.pieces("Hello world")).containsExactly("Hello", " world");
    assertThat(Gpt2Tokenizer.pieces("I'm  here")).containsExactly("I", "'m", " ", " here");
    assertThat(Gpt2Tokenizer.pieces("DON'T stop")).containsExactly("DON", "'", "T", " stop");
    assertThat(Gpt2Tokenizer.pieces("a\n\n b")).containsExactly("a", "\n\n", " b");
    assertThat(Gpt2Tokenizer.pieces("x  ")).containsExactly("x", "  ");
    assertThat(Gpt2Tokenizer.pieces("café 3.14!!")).containsExactly("café", " 3", ".", "14", "!!");
    assertThat(Gpt2Tokenizer.pieces("tab\there")).containsExactly("tab", "\t", "here");
  }

  @Test
  void writtenFilesLoadBackToTheSameTokenizer(@TempDir Path dir) throws IOException {
    Gpt2Tokenizer learned = Gpt2BpeTrainer.learn(trainingTexts().subList(0, 300), 300);
    learned.write(dir.toString(), CONF);
    assertThat(Gpt2Tokenizer.exists(dir.toString(), CONF)).isTrue();
    Gpt2Tokenizer loaded = Gpt2Tokenizer.load(dir.toString(), CONF);
    assertThat(loaded.merges()).isEqualTo(learned.merges());
    String text = "A Red circle on a blue background, isn't it? 東京 😀";
    assertThat(loaded.encode(text)).containsExactly(learned.encode(text));
    assertThat(loaded.decode(loaded.encode(text))).isEqualTo(text);
    assertThat(Files.readAllLines(dir.resolve("merges.txt")).get(0)).isEqualTo("#version: 0.2");
  }

  @Test
  void badVocabulariesAreNamed(@TempDir Path dir) {
    var vocab = new LinkedHashMap<String, Integer>();
    for (int i = 0; i < 256; i++) {
      vocab.put(String.valueOf(BytesToUnicode.charOf(BytesToUnicode.byteAt(i))), i);
    }
    assertThatThrownBy(() -> Gpt2Tokenizer.of(vocab, List.of())).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot use the vocabulary given: it has no <|endoftext|>");
    vocab.put(Gpt2Tokenizer.END_OF_TEXT, 256);
    assertThatThrownBy(() -> Gpt2Tokenizer.of(vocab, List.of(new BpeMerge("a", "b"))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot use the merges of given: merge 1 (\"a b\") makes \"ab\", which is not in the vocabulary");
    Map<String, Integer> gap = new LinkedHashMap<>(vocab);
    gap.put(Gpt2Tokenizer.END_OF_TEXT, 300);
    assertThatThrownBy(() -> Gpt2Tokenizer.of(gap, List.of())).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("token \"<|endoftext|>\" has id 300, but the ids of its 257 tokens must be 0 to 256");
    assertThatThrownBy(() -> Gpt2Tokenizer.load(dir.toString(), CONF)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Cannot read vocabulary").hasMessageContaining("vocab.json: it does not exist");
    assertThatThrownBy(() -> Gpt2BpeTrainer.learn(List.of("abc"), 257)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot learn a GPT-2 tokenizer of 257 tokens: must be between 258 (256 byte symbols,"
            + " <|endoftext|> and one merge) and 1000000");
  }
}
