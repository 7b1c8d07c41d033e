package dev.clipspark.dataset.queries;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * The settings of the query list build: the {@code queries} block of {@code reference.conf}, read and
 * validated by {@link #from(Settings)}. The compact constructor validates too, so no instance holds a value
 * that {@link #from(Settings)} would refuse; errors are {@link ConfigValueException}s naming the key, the
 * value and what is allowed.
 *
 * @param minCount unigrams: a word must occur at least this many times in the corpus ({@value #MIN_COUNT})
 * @param max the cap on the whole list, 1 to 10,000,000 ({@value #MAX})
 * @param minLength unigrams: a word must have at least this many code points ({@value #MIN_LENGTH})
 * @param corpusFormat how corpus paths are read ({@value #CORPUS_FORMAT})
 * @param corpusColumn the text column of a Parquet corpus ({@value #CORPUS_COLUMN})
 * @param bigramEnabled whether bigrams are added ({@value #BIGRAM_ENABLED})
 * @param bigramMinCount a bigram must occur at least this many times ({@value #BIGRAM_MIN_COUNT})
 * @param bigramMinPmi a bigram's PMI (natural log) must be at least this, a finite number ({@value #BIGRAM_MIN_PMI})
 * @param titleMinViews a title must have at least this many views ({@value #TITLE_MIN_VIEWS})
 * @param wordnetEnabled whether WordNet lemma names are added when a WordNet directory is given
 *     ({@value #WORDNET_ENABLED})
 * @param wordnetPos the parts of speech read from WordNet, distinct, at least one when WordNet is enabled
 *     ({@value #WORDNET_POS})
 */
public record QueryOptions(
    long minCount,
    int max,
    int minLength,
    CorpusFormat corpusFormat,
    String corpusColumn,
    boolean bigramEnabled,
    long bigramMinCount,
    double bigramMinPmi,
    long titleMinViews,
    boolean wordnetEnabled,
    List<WordNet.PartOfSpeech> wordnetPos) {

  /** How corpus paths are read. */
  public enum CorpusFormat {
    /** A path ending in {@code .parquet}, or a directory holding {@code .parquet} files, is Parquet; else text. */
    AUTO,
    /** Plain text, one line at a time. */
    TEXT,
    /** Parquet; the text is in the column {@value QueryOptions#CORPUS_COLUMN}. */
    PARQUET;

    /** The config spelling. */
    @JsonValue
    public String label() {
      return Settings.spell(this);
    }

    /** The format spelled {@code label}. */
    @JsonCreator
    public static CorpusFormat ofLabel(String label) {
      return valueOf(label.toUpperCase(Locale.ROOT));
    }
  }

  /** Unigrams: minimum number of occurrences in the corpus. */
  public static final String MIN_COUNT = "queries.min-count";
  public static final long MIN_COUNT_DEFAULT = 100;
  /** Cap on the number of queries. */
  public static final String MAX = "queries.max";
  public static final int MAX_DEFAULT = 500_000;
  /** The largest cap allowed. */
  public static final int MAX_LIMIT = 10_000_000;
  /** Unigrams: minimum length in code points. */
  public static final String MIN_LENGTH = "queries.min-length";
  public static final int MIN_LENGTH_DEFAULT = 1;
  /** The largest minimum length allowed. */
  public static final int MIN_LENGTH_LIMIT = 1000;
  /** How corpus paths are read: auto, text or parquet. */
  public static final String CORPUS_FORMAT = "queries.corpus.format";
  public static final CorpusFormat CORPUS_FORMAT_DEFAULT = CorpusFormat.AUTO;
  /** The text column of a Parquet corpus. */
  public static final String CORPUS_COLUMN = "queries.corpus.column";
  public static final String CORPUS_COLUMN_DEFAULT = "text";
  /** Whether bigrams are added. */
  public static final String BIGRAM_ENABLED = "queries.bigram.enabled";
  public static final boolean BIGRAM_ENABLED_DEFAULT = true;
  /** Bigrams: minimum number of occurrences. */
  public static final String BIGRAM_MIN_COUNT = "queries.bigram.min-count";
  public static final long BIGRAM_MIN_COUNT_DEFAULT = 30;
  /** Bigrams: minimum pointwise mutual information, natural log. */
  public static final String BIGRAM_MIN_PMI = "queries.bigram.min-pmi";
  public static final double BIGRAM_MIN_PMI_DEFAULT = 5.0;
  /** Titles: minimum views. */
  public static final String TITLE_MIN_VIEWS = "queries.title.min-views";
  public static final long TITLE_MIN_VIEWS_DEFAULT = 10_000;
  /** Whether WordNet lemma names are added. */
  public static final String WORDNET_ENABLED = "queries.wordnet.enabled";
  public static final boolean WORDNET_ENABLED_DEFAULT = true;
  /** The parts of speech read from WordNet. */
  public static final String WORDNET_POS = "queries.wordnet.pos";
  public static final List<WordNet.PartOfSpeech> WORDNET_POS_DEFAULT = List.of(WordNet.PartOfSpeech.values());

  /** Every key of the {@code queries} block. */
  public static final Set<String> KEYS = Set.of(MIN_COUNT, MAX, MIN_LENGTH, CORPUS_FORMAT, CORPUS_COLUMN,
      BIGRAM_ENABLED, BIGRAM_MIN_COUNT, BIGRAM_MIN_PMI, TITLE_MIN_VIEWS, WORDNET_ENABLED, WORDNET_POS);

  private static final String POS_ALLOWED = "each value must be one of noun, verb, adj, adv";

  /** Validates every field; see the class comment. */
  public QueryOptions {
    check(MIN_COUNT, minCount, 1, Long.MAX_VALUE);
    check(MAX, max, 1, MAX_LIMIT);
    check(MIN_LENGTH, minLength, 1, MIN_LENGTH_LIMIT);
    if (corpusFormat == null) {
      throw new ConfigValueException(CORPUS_FORMAT, "nothing", "must be one of " + Settings.allowed(CorpusFormat.class));
    }
    if (corpusColumn == null || corpusColumn.isBlank()) {
      throw new ConfigValueException(CORPUS_COLUMN, "\"" + corpusColumn + "\"", "must not be empty");
    }
    check(BIGRAM_MIN_COUNT, bigramMinCount, 1, Long.MAX_VALUE);
    if (!Double.isFinite(bigramMinPmi)) {
      throw new ConfigValueException(BIGRAM_MIN_PMI, bigramMinPmi, "must be a finite number");
    }
    check(TITLE_MIN_VIEWS, titleMinViews, 0, Long.MAX_VALUE);
    if (wordnetPos == null || wordnetPos.stream().anyMatch(Objects::isNull)) {
      throw new ConfigValueException(WORDNET_POS, wordnetPos, POS_ALLOWED);
    }
    wordnetPos = List.copyOf(new LinkedHashSet<>(wordnetPos));
    if (wordnetEnabled && wordnetPos.isEmpty()) {
      throw new ConfigValueException(WORDNET_POS, "[]",
          "must name at least one of noun, verb, adj, adv (or set " + WORDNET_ENABLED + " = false)");
    }
  }

  /**
   * Reads and validates every {@code queries.*} key. A key under {@code queries} that is not one of
   * {@link #KEYS} (a typo) is refused too.
   *
   * @throws ConfigValueException naming the key, the value and what is allowed
   */
  public static QueryOptions from(Settings s) {
    for (String key : s.keysUnder("queries")) {
      if (!KEYS.contains(key)) {
        throw new ConfigValueException(key, render(s, key),
            "unknown key; the queries block has " + String.join(", ", KEYS.stream().sorted().toList()));
      }
    }
    return new QueryOptions(
        s.longIn(MIN_COUNT, 1, Long.MAX_VALUE),
        s.intIn(MAX, 1, MAX_LIMIT),
        s.intIn(MIN_LENGTH, 1, MIN_LENGTH_LIMIT),
        s.enumOf(CORPUS_FORMAT, CorpusFormat.class),
        s.nonEmptyString(CORPUS_COLUMN),
        s.bool(BIGRAM_ENABLED),
        s.longIn(BIGRAM_MIN_COUNT, 1, Long.MAX_VALUE),
        s.finiteDouble(BIGRAM_MIN_PMI),
        s.longIn(TITLE_MIN_VIEWS, 0, Long.MAX_VALUE),
        s.bool(WORDNET_ENABLED),
        partsOfSpeech(s, WORDNET_POS));
  }

  /** The defaults: {@code reference.conf} as {@code ConfigFactory.load()} sees it, without overrides. */
  public static QueryOptions defaults() {
    return from(new Settings(ConfigFactory.defaultReference()));
  }

  private static void check(String key, long v, long min, long max) {
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }

  private static List<WordNet.PartOfSpeech> partsOfSpeech(Settings s, String key) {
    var parts = new ArrayList<WordNet.PartOfSpeech>();
    List<String> values = s.stringList(key);
    for (String v : values) {
      var p = WordNet.PartOfSpeech.ofLabel(v.trim().toLowerCase(Locale.ROOT));
      if (p == null) {
        throw new ConfigValueException(key, render(s, key), POS_ALLOWED + " (\"" + v + "\" is not)");
      }
      parts.add(p);
    }
    return parts;
  }

  private static String render(Settings s, String key) {
    return s.config().getValue(key).render(ConfigRenderOptions.concise());
  }
}
