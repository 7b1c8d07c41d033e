package dev.clipspark.dataset.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.dataset.Words;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

class QueryMatcherTest {

  private static QueryMatcher matcher(String... queries) {
    return QueryMatcher.build(List.of(queries));
  }

  @Test
  void matchesWholeWordsOnly() {
    var m = matcher("cat", "dog");
    assertThat(m.match("concatenate the cats")).isEmpty();
    assertThat(m.match("a cat and a hotdog")).containsExactly("cat");
    assertThat(m.matchIds("Cat")).containsExactly(0);
  }

  @Test
  void ignoresCase() {
    var m = matcher("Eiffel Tower", "paris");
    assertThat(m.matchIds("the EIFFEL tower in PaRiS")).containsExactly(0, 1);
    assertThat(m.match("the EIFFEL tower in PaRiS")).containsExactly("eiffel tower", "paris");
  }

  @Test
  void multiWordQueriesNeedTheWholeRun() {
    var m = matcher("new york", "york");
    assertThat(m.match("I love New York!")).containsExactly("new york", "york");
    assertThat(m.match("a new yorker cartoon")).isEmpty();
    assertThat(m.match("new, york")).containsExactly("new york", "york");
    assertThat(m.match("new big york")).containsExactly("york");
    assertThat(m.match("York new")).containsExactly("york");
  }

  @Test
  void overlappingQueriesAllMatch() {
    var m = matcher("new york city", "new", "york", "new york", "york city", "city");
    assertThat(m.matchIds("New York City at night")).containsExactly(0, 1, 2, 3, 4, 5);
    assertThat(m.matchIds("new york")).containsExactly(1, 2, 3);
    assertThat(m.matchIds("new new york york city")).containsExactly(1, 2, 3, 4, 5);
    assertThat(m.matchIds("york new new york city york")).containsExactly(0, 1, 2, 3, 4, 5);
  }

  @Test
  void reportsRepeatedOccurrencesOnce() {
    var m = matcher("b", "a", "a b");
    assertThat(m.matchIds("a b a b a b b b a")).containsExactly(0, 1, 2);
    assertThat(m.match("a b a b")).containsExactly("b", "a", "a b");
  }

  @Test
  void punctuationHyphensAndUnderscoresSeparateWords() {
    var m = matcher("state of the art", "art", "e mail");
    assertThat(m.matchIds("state-of-the-art design")).containsExactly(0, 1);
    assertThat(m.matchIds("(state) of_the \"art\"...")).containsExactly(0, 1);
    assertThat(m.matchIds("E-Mail")).containsExactly(2);
    assertThat(m.matchIds("email")).isEmpty();
  }

  @Test
  void apostrophesStayInsideWords() {
    var m = matcher("don't", "don", "t", "rock'n'roll", "dogs");
    assertThat(m.match("I don't know")).containsExactly("don't");
    assertThat(m.match("I don\u2019t know")).containsExactly("don't");
    assertThat(m.match("don 't")).containsExactly("don", "t");
    assertThat(m.match("don' t")).containsExactly("don", "t");
    assertThat(m.match("ROCK\u2019N'ROLL")).containsExactly("rock'n'roll");
    assertThat(m.match("the dogs' bowls")).containsExactly("dogs");
    assertThat(m.match("'dogs'")).containsExactly("dogs");
    assertThat(m.match("don''t")).containsExactly("don", "t");
  }

  @Test
  void rightSingleQuotationMarkInQueriesIsAnApostrophe() {
    var m = matcher("o\u2019clock");
    assertThat(m.query(0)).isEqualTo("o'clock");
    assertThat(m.matchIds("Five O'Clock tea")).containsExactly(0);
    assertThat(m.matchIds("five o\u2019clock")).containsExactly(0);
  }

  @Test
  void accentsAndCyrillic() {
    var m = matcher("café", "Москва", "ÉCOLE normale", "naïve");
    assertThat(m.matchIds("Un CAFÉ à Paris")).containsExactly(0);
    assertThat(m.matchIds("cafe")).isEmpty();
    assertThat(m.matchIds("Вид на МОСКВА-реку")).containsExactly(1);
    assertThat(m.matchIds("l'école normale supérieure")).isEmpty();
    assertThat(m.matchIds("l école normale")).containsExactly(2);
    assertThat(m.matchIds("so naïve!")).containsExactly(3);
    // A decomposed "e" + combining acute is another spelling, and the mark stays inside the word.
    assertThat(m.matchIds("cafe\u0301")).isEmpty();
    assertThat(matcher("cafe\u0301").matchIds("CAFE\u0301 noir")).containsExactly(0);
  }

  @Test
  void ideographsAreWordsOfTheirOwn() {
    var m = matcher("北京", "京", "東京タワー", "𠀀");
    assertThat(m.query(0)).isEqualTo("北 京");
    assertThat(m.matchIds("我爱北京天安门")).containsExactly(0, 1);
    assertThat(m.matchIds("北 京")).containsExactly(0, 1);
    assertThat(m.matchIds("東京タワーの夜景")).containsExactly(1);
    assertThat(m.matchIds("東京タワー")).containsExactly(1, 2);
    assertThat(m.matchIds("a𠀀b")).containsExactly(3);
  }

  @Test
  void longAndNonLatinWordsAreComparedExactly() {
    var m = matcher("abcdefgh", "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq", "Pneumonoultramicroscopic");
    assertThat(m.matchIds("ABCDEFGH abcdefghi")).containsExactly(0, 1);
    assertThat(m.matchIds("abcdefghijklmnop")).containsExactly(2);
    assertThat(m.matchIds("abcdefghijklmnopq")).containsExactly(3);
    assertThat(m.matchIds("abcdefghijklmnopqr abcdefghijklmno")).isEmpty();
    assertThat(m.matchIds("PNEUMONOULTRAMICROSCOPIC")).containsExactly(4);
  }

  @Test
  void emptyAndUnmatchedCaptions() {
    var m = matcher("cat");
    assertThat(m.matchIds("")).isEmpty();
    assertThat(m.matchIds(null)).isEmpty();
    assertThat(m.match("")).isEmpty();
    assertThat(m.matchIds("   ...!!  ")).isEmpty();
    assertThat(m.matchIds("a photo of a dog")).isEmpty();
  }

  @Test
  void acceptsAnyCharSequence() {
    var m = matcher("new york");
    assertThat(m.matchIds(new StringBuilder("NEW YORK"))).containsExactly(0);
  }

  @Test
  void duplicateAndEmptyQueriesKeepTheFirstId() {
    var m = matcher("", "Cat", "  ", "cat", "CAT!", "dog", "...", "new  york", "New-York");
    assertThat(m.size()).isEqualTo(3);
    assertThat(m.matchIds("cat dog new york")).containsExactly(1, 5, 7);
    assertThat(m.query(1)).isEqualTo("cat");
    assertThat(m.query(7)).isEqualTo("new york");
    assertThatThrownBy(() -> m.query(3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot look up query 3: that input was empty or repeated an earlier query after normalisation");
    assertThatThrownBy(() -> m.query(9))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot look up query 9: ids lie in [0, 9), the positions of the input list");
    assertThatThrownBy(() -> m.query(-1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void emptyQueryListMatchesNothing() {
    var m = QueryMatcher.build(List.of());
    assertThat(m.size()).isZero();
    assertThat(m.matchIds("anything at all")).isEmpty();
    var blank = matcher("", "!!");
    assertThat(blank.size()).isZero();
    assertThat(blank.matchIds("anything")).isEmpty();
  }

  @Test
  void rejectsNullQueries() {
    assertThatThrownBy(() -> QueryMatcher.build(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot build a query matcher: the query list is null");
    assertThatThrownBy(() -> QueryMatcher.build(Arrays.asList("cat", null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot build a query matcher: query 1 is null");
  }

  @Test
  void longCaptionsGrowTheBuffers() {
    var m = matcher("needle in", "haystack");
    var caption = new StringBuilder();
    for (int i = 0; i < 5_000; i++) {
      caption.append("hay ");
    }
    caption.append("Needle in a Haystack ").append("x".repeat(70_000));
    assertThat(m.matchIds(caption)).containsExactly(0, 1);
    assertThat(m.matchIds("needle in")).containsExactly(0);
  }

  @Test
  void manyMatchesInOneCaption() {
    var queries = new ArrayList<String>();
    var caption = new StringBuilder();
    for (int i = 0; i < 100; i++) {
      queries.add("w" + (99 - i));
      caption.append("W").append(i).append(' ');
    }
    int[] ids = QueryMatcher.build(queries).matchIds(caption);
    assertThat(ids).hasSize(100);
    for (int i = 0; i < 100; i++) {
      assertThat(ids[i]).isEqualTo(i);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The scanner against Words.tokenize

  @Test
  void scannerTokenisesEveryBmpCharAsWordsDoes() {
    for (int c = 0; c <= 0xFFFF; c++) {
      String ch = String.valueOf((char) c);
      for (String text : List.of(ch, "a" + ch + "b", "x'" + ch, "x\u2019" + ch + ch, ch + "'y", "中" + ch + "z")) {
        assertThat(WordAutomaton.scanWords(text)).as("U+%04X in \"%s\"", c, text).isEqualTo(Words.tokenize(text));
      }
    }
  }

  @Test
  void scannerTokenisesSupplementaryCodePointsAsWordsDoes() {
    var random = new Random(11);
    for (int i = 0; i < 20_000; i++) {
      int cp = 0x10000 + random.nextInt(Character.MAX_CODE_POINT - 0x10000 + 1);
      String ch = new String(Character.toChars(cp));
      for (String text : List.of(ch, "a" + ch + "b", "x'" + ch, ch + "'y" + ch)) {
        assertThat(WordAutomaton.scanWords(text)).as("U+%X", cp).isEqualTo(Words.tokenize(text));
      }
    }
    for (int cp : new int[] {0x10400, 0x10428, 0x1D400, 0x20000, 0x2A6D6, 0x1F600, 0x1E900}) {
      String text = "A" + new String(Character.toChars(cp)) + "'" + new String(Character.toChars(cp)) + "b";
      assertThat(WordAutomaton.scanWords(text)).isEqualTo(Words.tokenize(text));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Randomised comparison with a reference built directly on Words.tokenize

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3})
  void agreesWithTheNaiveReference(long seed) {
    var random = new Random(seed);
    var generator = new TextGenerator(random);
    var queries = new ArrayList<String>();
    for (int i = 0; i < 1_500; i++) {
      queries.add(generator.query());
    }
    var captions = new ArrayList<String>();
    for (int i = 0; i < 2_500; i++) {
      captions.add(generator.caption());
    }
    var reference = new Reference(queries);
    var matcher = QueryMatcher.build(queries);
    assertThat(matcher.size()).isEqualTo(reference.size());
    long matched = 0;
    long multiWord = 0;
    for (String caption : captions) {
      int[] expected = reference.matchIds(caption);
      assertThat(matcher.matchIds(caption)).as("caption \"%s\"", caption).containsExactly(expected);
      matched += expected.length;
      for (int id : expected) {
        if (Words.tokenize(queries.get(id)).size() > 1) {
          multiWord++;
        }
      }
    }
    // The generator must exercise the matcher: many matches, multi-word ones among them.
    assertThat(matched).isGreaterThan(captions.size());
    assertThat(multiWord).isGreaterThan(captions.size() / 10);
    for (int id = 0; id < queries.size(); id++) {
      if (reference.hasId(id)) {
        assertThat(matcher.query(id)).isEqualTo(Words.normalize(queries.get(id)));
      }
    }
  }

  /** Captions and queries over a small vocabulary of awkward spellings, so that they meet often. */
  static final class TextGenerator {
    private static final String[] WORDS = {
      "cat", "new", "york", "city", "don't", "o\u2019clock", "café", "cafe\u0301", "straße", "STRASSE",
      "naïve", "Москва", "река", "Ελλάδα", "ΣΊΣΥΦΟΣ", "北京", "東京タワー", "𠀀", "İstanbul", "KELVIN",
      "\u212Aelvin", "x²", "Ⅻ", "𐐀𐐨", "𝐀𝐁", "rock'n'roll", "abcdefghijklmnop", "abcdefghijklmnopq",
      "pneumonoultramicroscopic", "a", "b", "I", "the", "of", "déjà", "vu", "42", "2024", "e", "mail",
      "ÆON", "œuvre", "ǅungla", "ﬁsh", "Ǆ", "ÿ", "Ÿ", "é\u0301", "\u0301", "日本", "語", "ก", "ไทย", "ℵ"
    };
    private static final String[] SEPARATORS = {
      " ", " ", " ", ", ", "-", "_", "...", "\t", "/", "'", "\u2019", " '", "' ", "''", "!", "(", ")",
      "\"", "\u00A0", "\u3000", "\u0000", "—", "·", "\uD800", "\uDC00", "''s ", "'s ", "😀"
    };
    private final Random random;
    private final List<String> recent = new ArrayList<>();

    TextGenerator(Random random) {
      this.random = random;
    }

    String word() {
      double kind = random.nextDouble();
      String word;
      if (kind < 0.85) {
        word = WORDS[random.nextInt(WORDS.length)];
      } else if (kind < 0.95) {
        var junk = new StringBuilder();
        for (int k = 1 + random.nextInt(4); k > 0; k--) {
          junk.appendCodePoint(random.nextInt(4) == 0 ? random.nextInt(0x30000) : 0x20 + random.nextInt(0x600));
        }
        word = junk.toString();
      } else {
        word = Integer.toString(random.nextInt(1000));
      }
      return recase(word);
    }

    private String recase(String word) {
      var out = new StringBuilder();
      word.codePoints().forEach(cp -> out.appendCodePoint(switch (random.nextInt(6)) {
        case 0 -> Character.toUpperCase(cp);
        case 1 -> Character.toTitleCase(cp);
        default -> cp;
      }));
      return out.toString();
    }

    String separator() {
      return SEPARATORS[random.nextInt(SEPARATORS.length)];
    }

    String caption() {
      var caption = new StringBuilder();
      if (random.nextInt(10) == 0) {
        caption.append(separator());
      }
      for (int t = 1 + random.nextInt(15); t > 0; t--) {
        caption.append(word());
        if (t > 1 || random.nextBoolean()) {
          caption.append(separator());
        }
      }
      String text = caption.toString();
      recent.add(text);
      if (recent.size() > 50) {
        recent.remove(0);
      }
      return text;
    }

    String query() {
      double kind = random.nextDouble();
      if (kind < 0.45) {
        var query = new StringBuilder(word());
        for (int k = random.nextInt(4); k > 0; k--) {
          query.append(random.nextBoolean() ? " " : separator()).append(word());
        }
        return query.toString();
      }
      String caption = recent.isEmpty() || kind < 0.55 ? caption() : recent.get(random.nextInt(recent.size()));
      if (kind < 0.8) {
        var words = Words.tokenize(caption);
        if (words.isEmpty()) {
          return caption;
        }
        int from = random.nextInt(words.size());
        int to = Math.min(words.size(), from + 1 + random.nextInt(4));
        return recase(String.join(separator(), words.subList(from, to)));
      }
      if (kind < 0.95) {
        int from = random.nextInt(caption.length() + 1);
        int to = Math.min(caption.length(), from + random.nextInt(20));
        return caption.substring(from, to);
      }
      return random.nextBoolean() ? "" : separator();
    }
  }

  /** The contract, spelled out with Words.tokenize and List.indexOfSubList. */
  static final class Reference {
    private final List<List<String>> words = new ArrayList<>();
    private final List<Integer> ids = new ArrayList<>();

    Reference(List<String> queries) {
      var seen = new HashSet<List<String>>();
      for (int id = 0; id < queries.size(); id++) {
        var tokens = Words.tokenize(queries.get(id));
        if (!tokens.isEmpty() && seen.add(tokens)) {
          words.add(tokens);
          ids.add(id);
        }
      }
    }

    int size() {
      return ids.size();
    }

    boolean hasId(int id) {
      return ids.contains(id);
    }

    int[] matchIds(String caption) {
      var tokens = Words.tokenize(caption);
      var matched = new ArrayList<Integer>();
      for (int q = 0; q < words.size(); q++) {
        if (Collections.indexOfSubList(tokens, words.get(q)) >= 0) {
          matched.add(ids.get(q));
        }
      }
      return matched.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Serialisation

  @Test
  void javaSerialisationGivesAnEqualMatcher() throws Exception {
    var random = new Random(7);
    var generator = new TextGenerator(random);
    var queries = new ArrayList<String>();
    for (int i = 0; i < 800; i++) {
      queries.add(generator.query());
    }
    var original = QueryMatcher.build(queries);
    var bytes = new ByteArrayOutputStream();
    try (var out = new ObjectOutputStream(bytes)) {
      out.writeObject(original);
    }
    QueryMatcher copy;
    try (var in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      copy = (QueryMatcher) in.readObject();
    }
    assertThat(bytes.size()).isEqualTo(MatcherBenchmark.serializedSize(original));
    assertSameBehaviour(original, copy, queries, generator);
  }

  @Test
  void sparkKryoSerialisationGivesAnEqualMatcher() {
    var generator = new TextGenerator(new Random(8));
    var queries = new ArrayList<String>();
    for (int i = 0; i < 800; i++) {
      queries.add(generator.query());
    }
    var original = QueryMatcher.build(queries);
    SerializerInstance kryo = new KryoSerializer(new SparkConf()).newInstance();
    ClassTag<QueryMatcher> tag = ClassTag$.MODULE$.apply(QueryMatcher.class);
    QueryMatcher copy = kryo.deserialize(kryo.serialize(original, tag), tag);
    assertSameBehaviour(original, copy, queries, generator);
  }

  private static void assertSameBehaviour(QueryMatcher original, QueryMatcher copy, List<String> queries,
      TextGenerator generator) {
    assertThat(copy.size()).isEqualTo(original.size());
    assertThat(copy.toString()).isEqualTo(original.toString());
    for (int id = 0; id < queries.size(); id++) {
      String expected;
      try {
        expected = original.query(id);
      } catch (IllegalArgumentException e) {
        final int missing = id;
        assertThatThrownBy(() -> copy.query(missing)).hasMessage(e.getMessage());
        continue;
      }
      assertThat(copy.query(id)).isEqualTo(expected);
    }
    long matched = 0;
    for (int i = 0; i < 2_000; i++) {
      String caption = generator.caption();
      int[] ids = original.matchIds(caption);
      matched += ids.length;
      assertThat(copy.matchIds(caption)).containsExactly(ids);
      assertThat(copy.match(caption)).isEqualTo(original.match(caption));
    }
    assertThat(matched).isGreaterThan(1_000);
  }

  @Test
  void readingACorruptFormFailsWithAReason() throws Exception {
    var bytes = new ByteArrayOutputStream();
    try (var out = new ObjectOutputStream(bytes)) {
      out.writeObject(matcher("zebra", "zebrb yak"));
    }
    byte[] data = bytes.toByteArray();
    // The vocabulary "zebra zebrb yak" becomes "zebra zebra yak".
    data[indexOf(data, "zebrb".getBytes(StandardCharsets.UTF_8)) + 4] = 'a';
    assertThatThrownBy(() -> {
      try (var in = new ObjectInputStream(new ByteArrayInputStream(data))) {
        in.readObject();
      }
    }).isInstanceOf(InvalidObjectException.class)
        .hasMessage("Cannot read QueryMatcher: vocabulary word 'zebra' appears twice");
  }

  private static int indexOf(byte[] data, byte[] part) throws IOException {
    outer:
    for (int i = 0; i + part.length <= data.length; i++) {
      for (int k = 0; k < part.length; k++) {
        if (data[i + k] != part[k]) {
          continue outer;
        }
      }
      return i;
    }
    throw new IOException("pattern not found");
  }

  @Test
  void decodeRejectsInconsistentForms() {
    byte[] vocabulary = "cat dog".getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> WordAutomaton.decode(2, vocabulary, 1, new byte[] {0, 1, 5}))
        .hasMessage("query 0 uses word 5 of 2");
    assertThatThrownBy(() -> WordAutomaton.decode(2, vocabulary, 1, new byte[] {0, 1, 0, 7}))
        .hasMessage("query data has 1 bytes after the last query");
    assertThatThrownBy(() -> WordAutomaton.decode(2, vocabulary, 2, new byte[] {0, 1, 0, 0, 1, 0}))
        .hasMessage("query 1 repeats query 0");
    assertThatThrownBy(() -> WordAutomaton.decode(2, vocabulary, 1, new byte[] {4, 1, 0}))
        .hasMessage("query 0 has id 4, outside [0, 2)");
    assertThatThrownBy(() -> WordAutomaton.decode(2, "cat cat".getBytes(StandardCharsets.UTF_8), 0, new byte[0]))
        .hasMessage("vocabulary word 'cat' appears twice");
    assertThatThrownBy(() -> WordAutomaton.decode(2, vocabulary, 1, new byte[] {0, 1, (byte) 0x80}))
        .hasMessage("query data ends inside a number at byte 3");
  }
}
