package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTokenizerTest {

  /** Five merges, worked through by hand below. */
  static final String MERGES = "#version: 0.2\nh e\nl l\nl o</w>\nhe ll\nhell o</w>\n";

  @TempDir static Path dir;
  static ClipTokenizer tok;

  @BeforeAll
  static void load() throws Exception {
    Path file = dir.resolve("merges.txt");
    Files.writeString(file, MERGES);
    tok = ClipTokenizer.load(file.toString(), 514 + 5);
  }

  /** Id of a printable ASCII byte symbol: '!' (33) is the first entry of the table order. */
  static int sym(char c) {
    return c - '!';
  }

  /** Id of a printable ASCII byte symbol with {@code </w>}: the second block of 256. */
  static int end(char c) {
    return 256 + c - '!';
  }

  @Test
  void vocabularyOrderAndIds() {
    assertThat(tok.vocabSize()).isEqualTo(519);
    assertThat(tok.token(0)).isEqualTo("!");
    assertThat(tok.token(187)).isEqualTo("ÿ");
    assertThat(tok.token(188)).isEqualTo("Ā");
    assertThat(tok.token(256)).isEqualTo("!</w>");
    assertThat(tok.token(256 + 188)).isEqualTo("Ā</w>");
    assertThat(tok.token(sym('h'))).isEqualTo("h");
    assertThat(tok.token(512)).isEqualTo("he");
    assertThat(tok.token(513)).isEqualTo("ll");
    assertThat(tok.token(514)).isEqualTo("lo</w>");
    assertThat(tok.token(515)).isEqualTo("hell");
    assertThat(tok.token(516)).isEqualTo("hello</w>");
    assertThat(tok.sotTokenId()).isEqualTo(517);
    assertThat(tok.eotTokenId()).isEqualTo(518);
    assertThat(tok.token(517)).isEqualTo("<|startoftext|>");
    assertThat(tok.id("hello</w>")).isEqualTo(516);
    assertThat(tok.id("Ġ")).isEqualTo(188 + 32);
    assertThat(tok.id("nope")).isEqualTo(-1);
    assertThat(tok.merges()).containsExactly(new BpeMerge("h", "e"), new BpeMerge("l", "l"),
        new BpeMerge("l", "o</w>"), new BpeMerge("he", "ll"), new BpeMerge("hell", "o</w>"));
  }

  @Test
  void encodesByMergeRank() {
    // h e l l o</w> -> (h,e) rank 0 -> he l l o</w> -> (l,l) rank 1 -> he ll o</w> -> (he,ll) rank 3
    // -> hell o</w> -> (hell,o</w>) rank 4 -> hello</w>
    assertThat(tok.encode("hello")).containsExactly(516);
    assertThat(tok.encode("  HELLO   hello ")).containsExactly(516, 516);
    // y e l l o w</w>: only (l,l) has a rank
    assertThat(tok.encode("yellow")).containsExactly(sym('y'), sym('e'), 513, sym('o'), end('w'));
    // l o</w> -> lo</w>
    assertThat(tok.encode("lo")).containsExactly(514);
    // h e l l</w> -> he l l</w>: (l, l</w>) is not a merge
    assertThat(tok.encode("hell")).containsExactly(512, sym('l'), end('l'));
    // pieces: hello , world !
    assertThat(tok.encode("Hello, World!")).containsExactly(
        516, end(','), sym('w'), sym('o'), sym('r'), sym('l'), end('d'), end('!'));
    // single-byte words get the </w> symbol; a space inside a piece cannot happen
    assertThat(tok.encode("a 1")).containsExactly(end('a'), end('1'));
    // two-byte é: C3 A9 -> Ã then ©</w>, ids by table order (0xC3 is entry 106 + 0x15, 0xA9 is entry 94 + 8)
    assertThat(tok.encode("é")).containsExactly(106 + (0xC3 - 0xAE), 256 + 94 + (0xA9 - 0xA1));
    assertThat(tok.encode("")).isEmpty();
  }

  @Test
  void specialTokensInTextAreSpecialAsInClip() {
    assertThat(tok.encode("<|startoftext|>hello<|endoftext|>")).containsExactly(517, 516, 518);
  }

  @Test
  void decodeJoinsAndTurnsEndOfWordIntoSpace() {
    assertThat(tok.decode(new int[] {516, end(','), sym('w'), sym('o'), sym('r'), sym('l'), end('d')}))
        .isEqualTo("hello , world ");
    assertThat(tok.decode(new int[] {517, 516, 518})).isEqualTo("<|startoftext|>hello <|endoftext|>");
    assertThat(tok.decode(new int[] {})).isEmpty();
    assertThatThrownBy(() -> tok.decode(new int[] {519}))
        .hasMessage("Cannot decode token id 519: the vocabulary has ids 0 to 518");
  }

  @Test
  void roundTripOfVariedTextGivesTheCleanedText() {
    var texts = List.of(
        "A photo of a cat on the mat.",
        "Crème brûlée at the Café de Flore, Paris",
        "Ærøskøbing — naïve façade",
        "😀 🎉 👍🏽 party time",
        "東京タワーの夜景 and 北京",
        "한국어 텍스트 мир Ωmega",
        "Fish &amp; chips, £12.50!!!");
    // merges learned from the texts themselves, so that multi-byte symbols get merged too
    var counts = BpeTrainer.countWords(Collections.nCopies(3, texts).stream().flatMap(List::stream).toList());
    var learned = ClipTokenizer.of(BpeLearner.learn(counts, 400));
    assertThat(learned.vocabSize()).isGreaterThan(514 + 50);
    for (ClipTokenizer t : List.of(learned, tok)) {
      for (String text : texts) {
        String clean = TextCleaner.clean(text);
        String decoded = t.decode(t.encode(text));
        assertThat(decoded.replace(" ", "")).isEqualTo(clean.replace(" ", ""));
        // pieces are re-joined with a space after each
        assertThat(decoded).isEqualTo(String.join(" ", PreTokenizer.split(clean)) + " ");
      }
      String spaced = "crème brûlée 東京タワー 😀 мир";
      assertThat(t.decode(t.encode(spaced)).strip()).isEqualTo(spaced);
    }
    assertThat(learned.encode("brûlée").length).isLessThan("brûlée".getBytes(StandardCharsets.UTF_8).length);
  }

  @Test
  void tokenizePadsWithZerosBetweenStartAndEnd() {
    int[][] rows = tok.tokenize(List.of("hello", "", "hello yellow"));
    assertThat(rows).hasNumberOfRows(3);
    assertThat(rows[0]).hasSize(77);
    assertThat(rows[0][0]).isEqualTo(517);
    assertThat(rows[0][1]).isEqualTo(516);
    assertThat(rows[0][2]).isEqualTo(518);
    assertThat(java.util.Arrays.copyOfRange(rows[0], 3, 77)).containsOnly(0);
    assertThat(java.util.Arrays.copyOf(rows[1], 3)).containsExactly(517, 518, 0);
    assertThat(java.util.Arrays.copyOf(rows[2], 9)).containsExactly(517, 516, sym('y'), sym('e'), 513, sym('o'),
        end('w'), 518, 0);
  }

  @Test
  void truncationKeepsTheEndTokenLast() {
    String longText = String.join(" ", Collections.nCopies(100, "hello"));
    int[] row = get(tok.tokenize(List.of(longText)), 0);
    assertThat(row).hasSize(77);
    assertThat(row[0]).isEqualTo(517);
    assertThat(java.util.Arrays.copyOfRange(row, 1, 76)).containsOnly(516);
    assertThat(row[76]).isEqualTo(518);
    // exactly 75 words fit without cutting
    int[] fits = get(tok.tokenize(List.of(String.join(" ", Collections.nCopies(75, "hello")))), 0);
    assertThat(fits[76]).isEqualTo(518);
    assertThat(fits[75]).isEqualTo(516);
    int[] shortRow = tok.tokenize(List.of(longText), 4, true)[0];
    assertThat(shortRow).containsExactly(517, 516, 516, 518);
    assertThatThrownBy(() -> tok.tokenize(List.of("ok", longText), 77, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot tokenize text 1 (\"hello hello")
        .hasMessageEndingWith("it has 102 tokens with the start and end tokens, more than the context length 77; "
            + "tokenize with truncate=true to cut it");
    assertThatThrownBy(() -> tok.tokenize(List.of("x"), 1, true))
        .hasMessage("Cannot tokenize with a context length of 1: it must be at least 2, for the start and end tokens");
  }

  private static <T> T get(T[] array, int i) {
    return array[i];
  }

  @Test
  void loadsGzipByMagicBytesAndFromUris() throws Exception {
    Path gz = dir.resolve("merges.gz");
    Path disguised = dir.resolve("merges-gzipped.txt");
    for (Path p : List.of(gz, disguised)) {
      try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
        out.write(MERGES.getBytes(StandardCharsets.UTF_8));
      }
    }
    for (String location : List.of(gz.toString(), disguised.toString(), dir.resolve("merges.txt").toUri().toString())) {
      ClipTokenizer t = ClipTokenizer.load(location, 519, new Configuration());
      assertThat(t.merges()).isEqualTo(tok.merges());
      assertThat(t.encode("hello yellow")).isEqualTo(tok.encode("hello yellow"));
    }
    // a smaller vocabulary takes the first merges only
    assertThat(ClipTokenizer.load(gz.toString(), 516).merges()).hasSize(2);
    assertThat(ClipTokenizer.load(gz.toString(), 516).encode("hello")).containsExactly(512, 513, end('o'));
  }

  @Test
  void loadErrorsNameTheFileAndTheCounts() {
    String file = dir.resolve("merges.txt").toString();
    assertThatThrownBy(() -> ClipTokenizer.load(file, 49408))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot load merges file " + file + ": it has 5 merges, but a vocabulary of 49408 tokens needs "
            + "48894 (512 byte symbols + 48894 merges + 2 special tokens); use a vocabulary size of at most 519");
    assertThatThrownBy(() -> ClipTokenizer.load(file, 514))
        .hasMessage("Cannot load merges file " + file + " for a vocabulary of 514 tokens: the size must be between "
            + "515 (512 byte symbols, 2 special tokens, 1 merge) and 1000000");
    String missing = dir.resolve("missing.txt").toString();
    assertThatThrownBy(() -> ClipTokenizer.load(missing, 519))
        .hasMessage("Cannot read merges file " + missing + ": it does not exist");
  }

  @Test
  void badMergesAreRefused() throws Exception {
    Path threeParts = dir.resolve("three.txt");
    Files.writeString(threeParts, "#version: 0.2\nh e\na b c\n");
    assertThatThrownBy(() -> ClipTokenizer.load(threeParts.toString(), 516))
        .hasMessage("Cannot read merges file " + threeParts + ": line 3 (\"a b c\") is not two symbols separated by a space");
    Path unknown = dir.resolve("unknown.txt");
    Files.writeString(unknown, "#version: 0.2\nh e\nhe xy\n");
    assertThatThrownBy(() -> ClipTokenizer.load(unknown.toString(), 516))
        .hasMessage("Cannot build a tokenizer: merge 2 (\"he xy\") uses the symbol \"xy\", which is neither a byte "
            + "symbol nor made by an earlier merge");
    Path gap = dir.resolve("gap.txt");
    Files.writeString(gap, "#version: 0.2\nh e\n\nl l\n");
    assertThatThrownBy(() -> ClipTokenizer.load(gap.toString(), 516))
        .hasMessage("Cannot read merges file " + gap + ": line 3 is empty, but merges follow it");
    Path latin1 = dir.resolve("latin1.txt");
    Files.write(latin1, new byte[] {'#', '\n', (byte) 0xE9, ' ', 'e', '\n'});
    assertThatThrownBy(() -> ClipTokenizer.load(latin1.toString(), 515))
        .hasMessage("Cannot read merges file " + latin1 + ": it is not UTF-8 text");
    assertThatThrownBy(() -> new BpeMerge("a", ""))
        .hasMessage("Cannot make a BPE merge: the right symbol is empty");
  }

  @Test
  void serialisesAsItsMerges() throws Exception {
    var bytes = new ByteArrayOutputStream();
    try (var out = new ObjectOutputStream(bytes)) {
      out.writeObject(tok);
    }
    ClipTokenizer copy;
    try (var in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      copy = (ClipTokenizer) in.readObject();
    }
    assertThat(copy.merges()).isEqualTo(tok.merges());
    assertThat(copy.encode("hello, yellow world")).isEqualTo(tok.encode("hello, yellow world"));
  }

  @Test
  void wordCacheStaysBounded() {
    ClipTokenizer t = ClipTokenizer.of(tok.merges());
    var words = new ArrayList<String>();
    for (int i = 0; i < ClipTokenizer.CACHE_LIMIT + 10; i++) {
      var w = new StringBuilder();
      for (int n = i; n > 0 || w.length() == 0; n /= 26) {
        w.append((char) ('a' + n % 26));
      }
      words.add(w.toString());
    }
    assertThat(new java.util.HashSet<>(words)).hasSize(words.size());
    for (String w : words) {
      t.encode(w);
      assertThat(t.cacheSize()).isLessThanOrEqualTo(ClipTokenizer.CACHE_LIMIT);
    }
    assertThat(t.cacheSize()).isPositive();
  }
}
