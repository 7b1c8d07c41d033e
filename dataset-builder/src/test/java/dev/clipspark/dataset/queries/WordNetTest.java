package dev.clipspark.dataset.queries;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.dataset.Words;
import dev.clipspark.dataset.queries.WordNet.PartOfSpeech;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WordNetTest {

  private static final Path REAL = Path.of("/usr/share/wordnet");
  private static final List<PartOfSpeech> ALL = List.of(PartOfSpeech.values());

  @TempDir Path tmp;

  private final Configuration conf = new Configuration();

  @Test
  void lemmaNamesFollowTheDataFileConventions() {
    assertThat(WordNet.lemmaName("hot_dog")).isEqualTo("hot dog");
    assertThat(WordNet.lemmaName("galore(ip)")).isEqualTo("galore");
    assertThat(WordNet.lemmaName("elect(p)")).isEqualTo("elect");
    assertThat(WordNet.lemmaName("beaten(a)")).isEqualTo("beaten");
    assertThat(WordNet.lemmaName("Parkinson's_disease")).isEqualTo("parkinson's disease");
    assertThat(WordNet.lemmaName("St._Louis")).isEqualTo(Words.normalize("st louis"));
    // A marker only counts at the end; a lone marker leaves nothing.
    assertThat(WordNet.lemmaName("(a)")).isEmpty();
    assertThat(WordNet.lemmaName("a(p)b")).isEqualTo("a p b");
  }

  @Test
  void readsEverySynsetOfTheFixture() throws IOException {
    var dir = WordNetFixture.write(tmp.resolve("wn"));

    var synsets = WordNet.readSynsets(dir.toUri().toString(), ALL, conf);

    assertThat(synsets).extracting(WordNet.Synset::offset)
        .containsExactly(2084071L, 7697537L, 10183757L, 14501726L, 2005948L, 14358L, 1499999L, 4722L);
    assertThat(synsets.get(0)).isEqualTo(
        new WordNet.Synset(PartOfSpeech.NOUN, 2084071L, List.of("dog", "domestic dog", "canis familiaris")));
    assertThat(synsets.get(4).pos()).isEqualTo(PartOfSpeech.VERB);
    assertThat(synsets.get(5).lemmas()).containsExactly("abounding", "galore");
    assertThat(synsets.get(7).lemmas()).containsExactly("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l");

    Map<String, Long> scores = WordNet.lemmaScores(synsets);
    assertThat(scores).containsEntry("dog", 2L).containsEntry("hot dog", 2L).containsEntry("hotdog", 2L)
        .containsEntry("red hot", 1L).containsEntry("parkinson's disease", 1L).containsEntry("galore", 1L)
        .containsEntry("elect", 1L).hasSize(12 + 12);
  }

  @Test
  void readsOnlyTheRequestedPartsOfSpeech() throws IOException {
    var dir = WordNetFixture.write(tmp.resolve("wn"));

    var scores = WordNet.lemmaScores(WordNet.readSynsets(dir.toString(), List.of(PartOfSpeech.NOUN), conf));

    assertThat(scores).containsEntry("dog", 1L).doesNotContainKeys("chase", "galore", "a");
  }

  @Test
  void aMissingDirectoryIsAClearError() {
    var dir = tmp.resolve("nowhere").toString();
    assertThatThrownBy(() -> WordNet.readSynsets(dir, ALL, conf))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Cannot read WordNet from " + dir + ": no such directory")
        .hasMessageContaining("data.noun, data.verb, data.adj, data.adv")
        .hasMessageContaining("wordnet-base");
  }

  @Test
  void aDirectoryWithoutDataFilesIsAClearError() throws IOException {
    var dir = Files.createDirectories(tmp.resolve("empty"));
    Files.writeString(dir.resolve("index.noun"), "not a data file\n");
    assertThatThrownBy(() -> WordNet.readSynsets(dir.toString(), ALL, conf))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Cannot read WordNet from " + dir + ": it holds no data files")
        .hasMessageContaining("expected data.noun, data.verb, data.adj, data.adv");
  }

  @Test
  void aMissingRequestedFileIsNamed() throws IOException {
    var dir = Files.createDirectories(tmp.resolve("nouns-only"));
    WordNetFixture.write(dir.resolve("data.noun"), WordNetFixture.NOUN);
    assertThatThrownBy(() -> WordNet.readSynsets(dir.toString(), ALL, conf))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(dir + ": data.verb, data.adj, data.adv missing")
        .hasMessageContaining("queries.wordnet.pos");
    assertThat(WordNet.readSynsets(dir.toString(), List.of(PartOfSpeech.NOUN), conf)).hasSize(4);
  }

  @Test
  void aLineThatIsNotASynsetNamesFileAndLine() throws IOException {
    var dir = Files.createDirectories(tmp.resolve("bad"));
    WordNetFixture.write(dir.resolve("data.noun"), List.of(WordNetFixture.NOUN.get(0), "02084071 05 n 05 dog 0 cat 0 001"));
    assertThatThrownBy(() -> WordNet.readSynsets(dir.toString(), List.of(PartOfSpeech.NOUN), conf))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("data.noun line " + (WordNetFixture.HEADER.size() + 2))
        .hasMessageContaining("says 5 words");
  }

  /** The real database of Debian's wordnet-base package; its index files give the expected synset counts. */
  @Test
  void readsTheRealWordNetDatabase() throws IOException {
    assertThat(REAL.resolve("data.noun"))
        .as("WordNet 3.0 must be installed for this test: apt-get install wordnet-base (puts data.noun, "
            + "data.verb, data.adj, data.adv under " + REAL + ")")
        .isRegularFile();

    var synsets = WordNet.readSynsets(REAL.toString(), ALL, conf);
    Map<String, Long> scores = WordNet.lemmaScores(synsets);

    assertThat(synsets).hasSize(117_659); // WordNet 3.0's synset count
    assertThat(scores).containsKeys("dog", "hot dog", "new york", "parkinson's disease", "galore");
    assertThat(scores.size()).isGreaterThan(140_000);
    // "hot dog" is hot_dog (3 noun synsets) and the verb hot-dog (1): Words reads a hyphen as a space.
    assertThat(scores).containsEntry("hot dog", 4L);
    for (String lemma : List.of("dog", "hot dog", "run", "good", "quickly", "bank", "new york")) {
      assertThat(scores.get(lemma)).as("synsets of %s", lemma).isEqualTo(synsetCountFromIndexFiles(lemma));
    }
  }

  /**
   * The sum of synset_cnt (the third field) over the lines of index.noun/verb/adj/adv whose lemma (the first
   * field) normalises to {@code lemma}.
   */
  private static long synsetCountFromIndexFiles(String lemma) throws IOException {
    long n = 0;
    for (String pos : List.of("noun", "verb", "adj", "adv")) {
      for (String line : Files.readAllLines(REAL.resolve("index." + pos), StandardCharsets.UTF_8)) {
        if (line.startsWith("  ")) {
          continue;
        }
        String[] f = line.split(" ");
        if (Words.normalize(f[0].replace('_', ' ')).equals(lemma)) {
          n += Long.parseLong(f[2]);
        }
      }
    }
    return n;
  }
}
