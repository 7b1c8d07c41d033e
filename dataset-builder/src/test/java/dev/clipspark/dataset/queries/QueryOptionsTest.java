package dev.clipspark.dataset.queries;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.queries.QueryOptions.CorpusFormat;
import dev.clipspark.dataset.queries.WordNet.PartOfSpeech;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class QueryOptionsTest {

  static QueryOptions parse(String hocon) {
    return QueryOptions.from(new Settings(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference())));
  }

  @Test
  void defaultsAreReferenceConfAndMatchTheConstants() {
    var d = QueryOptions.defaults();
    assertThat(d).isEqualTo(new QueryOptions(QueryOptions.MIN_COUNT_DEFAULT, QueryOptions.MAX_DEFAULT,
        QueryOptions.MIN_LENGTH_DEFAULT, QueryOptions.CORPUS_FORMAT_DEFAULT, QueryOptions.CORPUS_COLUMN_DEFAULT,
        QueryOptions.BIGRAM_ENABLED_DEFAULT, QueryOptions.BIGRAM_MIN_COUNT_DEFAULT,
        QueryOptions.BIGRAM_MIN_PMI_DEFAULT, QueryOptions.TITLE_MIN_VIEWS_DEFAULT,
        QueryOptions.WORDNET_ENABLED_DEFAULT, QueryOptions.WORDNET_POS_DEFAULT));
    // The paper's numbers.
    assertThat(d.minCount()).isEqualTo(100);
    assertThat(d.max()).isEqualTo(500_000);
  }

  @Test
  void everyKeyOfTheQueriesBlockIsRead() {
    var keys = new Settings(ConfigFactory.defaultReference()).keysUnder("queries");
    assertThat(new HashSet<>(keys)).isEqualTo(QueryOptions.KEYS);
  }

  @Test
  void readsEveryValue() {
    var o = parse("""
        queries { min-count = 7, max = 10000000, min-length = 3
          corpus { format = PARQUET, column = body }
          bigram { enabled = off, min-count = 2, min-pmi = -1.5 }
          title.min-views = 0
          wordnet { enabled = false, pos = [adv, Noun, adv] } }
        """);
    assertThat(o).isEqualTo(new QueryOptions(7, 10_000_000, 3, CorpusFormat.PARQUET, "body", false, 2, -1.5, 0,
        false, List.of(PartOfSpeech.ADV, PartOfSpeech.NOUN)));
  }

  @Test
  void anEmptyPartOfSpeechListIsFineOnlyWithWordNetOff() {
    assertThat(parse("queries.wordnet { enabled = false, pos = [] }").wordnetPos()).isEmpty();
    assertThatThrownBy(() -> parse("queries.wordnet.pos = []"))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set queries.wordnet.pos to []: must name at least one of noun, verb, adj, adv"
            + " (or set queries.wordnet.enabled = false)");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "queries.min-count = 0            | Cannot set queries.min-count to 0: must be between 1 and 9223372036854775807",
      "queries.min-count = many         | Cannot set queries.min-count to \"many\": must be a whole number between 1 and",
      "queries.max = 0                  | Cannot set queries.max to 0: must be between 1 and 10000000",
      "queries.max = 10000001           | Cannot set queries.max to 10000001: must be between 1 and 10000000",
      "queries.min-length = 0           | Cannot set queries.min-length to 0: must be between 1 and 1000",
      "queries.corpus.format = csv      | Cannot set queries.corpus.format to \"csv\": must be one of auto, text, parquet",
      "queries.corpus.column = \" \"    | Cannot set queries.corpus.column to \" \": must not be empty",
      "queries.bigram.enabled = maybe   | Cannot set queries.bigram.enabled to \"maybe\": must be true or false",
      "queries.bigram.min-count = 0     | Cannot set queries.bigram.min-count to 0: must be between 1 and",
      "queries.bigram.min-pmi = NaN     | Cannot set queries.bigram.min-pmi to NaN: must be a finite number",
      "queries.bigram.min-pmi = Infinity | Cannot set queries.bigram.min-pmi to Infinity: must be a finite number",
      "queries.bigram.min-pmi = high    | Cannot set queries.bigram.min-pmi to \"high\": must be a finite number",
      "queries.title.min-views = -1     | Cannot set queries.title.min-views to -1: must be between 0 and",
      "queries.wordnet.enabled = 2      | Cannot set queries.wordnet.enabled to 2: must be true or false",
      "queries.wordnet.pos = [noun, verbs] | Cannot set queries.wordnet.pos to [\"noun\",\"verbs\"]: each value must be one of noun, verb, adj, adv (\"verbs\" is not)",
      "queries.wordnet.pos = noun       | Cannot set queries.wordnet.pos to \"noun\": must be a list of strings",
      "queries.min-cout = 5             | Cannot set queries.min-cout to 5: unknown key; the queries block has queries.bigram.enabled,",
  })
  void refusesBadValuesNamingKeyValueAndWhatIsAllowed(String hocon, String message) {
    assertThatThrownBy(() -> parse(hocon))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageStartingWith(message);
  }

  @Test
  void theConstructorValidatesToo() {
    assertThatThrownBy(() -> new QueryOptions(100, 500_000, 1, CorpusFormat.AUTO, "text", true, 30,
        Double.NEGATIVE_INFINITY, 0, true, List.of(PartOfSpeech.NOUN)))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set queries.bigram.min-pmi to -Infinity: must be a finite number");
    assertThatThrownBy(() -> new QueryOptions(100, 0, 1, CorpusFormat.AUTO, "text", true, 30, 5, 0, true,
        List.of(PartOfSpeech.NOUN)))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set queries.max to 0: must be between 1 and 10000000");
  }
}
