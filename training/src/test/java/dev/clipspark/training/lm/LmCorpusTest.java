package dev.clipspark.training.lm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token rows, the seeded epoch order, workers' shares and the text-file reader. */
class LmCorpusTest {

  static Gpt2Tokenizer tokenizer;

  @TempDir
  Path tmp;

  @BeforeAll
  static void tokenizer() throws URISyntaxException {
    Path dir = Paths.get(LmCorpusTest.class.getResource("/gpt2-bpe/vocab.json").toURI()).getParent();
    tokenizer = Gpt2Tokenizer.load(dir.toString(), new Configuration());
  }

  @Test
  void rowsAreEndOfTextTextEndOfTextCutToTheContext() {
    int eot = tokenizer.endOfText();
    int[] ids = tokenizer.encode("a large orange diamond on a purple background");
    assertThat(ids.length).isGreaterThan(6);
    var corpus = LmCorpus.of(List.of("a large orange diamond on a purple background", ""), tokenizer, 64, "texts");
    int[] whole = new int[ids.length + 2];
    whole[0] = eot;
    System.arraycopy(ids, 0, whole, 1, ids.length);
    whole[whole.length - 1] = eot;
    assertThat(corpus.row(0)).containsExactly(whole);
    assertThat(corpus.row(1)).containsExactly(eot, eot);
    assertThat(corpus.tokens()).isEqualTo(whole.length + 2);

    var cut = LmCorpus.of(List.of("a large orange diamond on a purple background"), tokenizer, 5, "texts");
    assertThat(cut.row(0)).containsExactly(Arrays.copyOf(whole, 5));

    assertThatThrownBy(() -> LmCorpus.of(List.of(), tokenizer, 8, "corpus x.txt"))
        .hasMessage("Cannot train a language model on corpus x.txt: it holds no texts");
    assertThatThrownBy(() -> LmCorpus.of(List.of("a"), tokenizer, 1, "x"))
        .hasMessageContaining("context of 1 tokens: at least 2 are needed");
  }

  @Test
  void epochsArePermutationsOfTheSeedAndEpochAndSharesTileTheBatch() {
    var texts = new ArrayList<String>();
    for (int i = 0; i < 50; i++) {
      texts.add("text " + i);
    }
    var corpus = LmCorpus.of(texts, tokenizer, 16, "texts");
    int[] e0 = corpus.order(7, 0);
    assertThat(e0).containsExactlyInAnyOrder(IntStream.range(0, 50).toArray());
    assertThat(corpus.order(7, 0)).containsExactly(e0);
    assertThat(corpus.order(7, 1)).isNotEqualTo(e0);
    assertThat(corpus.order(8, 0)).isNotEqualTo(e0);
    assertThat(corpus.batchesPerEpoch(12)).isEqualTo(4);

    var whole = corpus.share(e0, 2, 12, 0, 1);
    var joined = new ArrayList<int[]>();
    for (int r = 0; r < 3; r++) {
      joined.addAll(corpus.share(e0, 2, 12, r, 3));
    }
    assertThat(joined).containsExactlyElementsOf(whole);
    assertThat(whole).containsExactlyElementsOf(IntStream.range(24, 36).mapToObj(i -> corpus.row(e0[i])).toList());
    assertThatThrownBy(() -> corpus.share(e0, 4, 12, 0, 1)).hasMessageContaining("an epoch holds 4 whole batches");
    assertThatThrownBy(() -> corpus.share(e0, 0, 12, 0, 5)).hasMessageContaining("the workers must divide the batch");
  }

  @Test
  void corpusFilesAreReadLineByLineWithoutBlankLines() throws IOException {
    Path a = Files.writeString(tmp.resolve("a.txt"), "first line\n\n  \nsecond line\n", StandardCharsets.UTF_8);
    Path b = Files.writeString(tmp.resolve("b.txt"), "third\r\nfourth", StandardCharsets.UTF_8);
    assertThat(LmCorpus.lines(List.of(a.toString(), b.toString()), new Configuration()))
        .containsExactly("first line", "second line", "third", "fourth");

    Path latin1 = Files.write(tmp.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xe9, '\n'});
    assertThatThrownBy(() -> LmCorpus.lines(List.of(latin1.toString()), new Configuration()))
        .hasMessageStartingWith("Cannot read corpus file " + latin1)
        .hasMessageEndingWith("(it is not UTF-8 text)");
    assertThatThrownBy(() -> LmCorpus.lines(List.of(tmp.resolve("none.txt").toString()), new Configuration()))
        .hasMessage("Cannot read corpus file " + tmp.resolve("none.txt") + ": it does not exist");
  }
}
