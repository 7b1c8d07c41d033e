package dev.clipspark.dataset.match;

import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;

/**
 * Measures {@link QueryMatcher} on a generated workload that resembles query lists and alt-text.
 *
 * <p>The workload, fully determined by the seed:
 * <ul>
 *   <li>a vocabulary of {@code max(2 * queries, 2,000)} generated words, ranked by a Zipf law (exponent
 *       1); frequent words are short, as in natural language; about 3% carry accented Latin letters, 2% are
 *       Cyrillic and 0.5% contain an apostrophe;</li>
 *   <li>queries: 75% unigrams (the most frequent words, like "words occurring at least 100 times"), 20%
 *       bigrams and 5% three- or four-word titles of Zipf-drawn words, all distinct after normalisation,
 *       in shuffled order;</li>
 *   <li>captions of 5 to 15 tokens: Zipf-drawn words (88%), out-of-vocabulary words (8%) and numbers
 *       (4%), with capitals, commas, hyphens, colons, parentheses, possessives and full stops; 30% of
 *       captions contain a multi-word query. At most {@value #CAPTION_POOL} distinct captions are generated
 *       and the timed loop cycles through them.</li>
 * </ul>
 * Matching ({@link QueryMatcher#matchIds(CharSequence)}, one caption per call, as a Spark task would call
 * it) is timed on the calling thread after a warm-up of two passes over the caption pool, in
 * {@value #ROUNDS} rounds; the median round's rate is reported. Run it pinned to one core (e.g.
 * {@code taskset -c 0}) for a per-core figure.
 */
public final class MatcherBenchmark {

  /** Most distinct captions generated; longer runs cycle through them. */
  static final int CAPTION_POOL = 250_000;
  /** Timed rounds; the median round's rate is reported, so one disturbed round does not skew it. */
  static final int ROUNDS = 5;

  private static final String CONSONANTS = "bcdfghjklmnprstvwzxq";
  private static final String VOWELS = "aeiouy";
  private static final String ACCENTED = "éèáíóúüöäñçøåàêô";
  private static final String CYRILLIC_CONSONANTS = "бвгджзклмнпрстфхцчшщ";
  private static final String CYRILLIC_VOWELS = "аеёиоуыэюя";

  /**
   * One benchmark result.
   *
   * @param captionsPerSecond captions matched per second on the calling thread (median of the rounds)
   * @param queries number of queries the matcher was built from
   * @param captions number of captions timed
   * @param buildSeconds time {@link QueryMatcher#build} took, in seconds
   * @param serializedBytes size of the matcher in Java serialisation, in bytes
   * @param meanMatchesPerCaption mean number of matched query ids per timed caption
   */
  public record Result(
      double captionsPerSecond,
      int queries,
      int captions,
      double buildSeconds,
      long serializedBytes,
      double meanMatchesPerCaption) {

    @Override
    public String toString() {
      return String.format(Locale.ROOT,
          "%,.0f captions/s (%,d queries, %,d captions, %.1f matches/caption), build %.2f s, serialised %,d bytes",
          captionsPerSecond, queries, captions, meanMatchesPerCaption, buildSeconds, serializedBytes);
    }
  }

  /** The generated query list and caption pool. */
  record Workload(List<String> queries, String[] captions) {}

  private MatcherBenchmark() {}

  /**
   * Generates a workload, builds a matcher and times matching on the calling thread.
   *
   * @param queries number of queries, at least 1
   * @param captions number of captions to time, at least 1
   * @param seed seed of the generated workload
   * @return the measurements
   * @throws IllegalArgumentException when {@code queries} or {@code captions} is below 1
   */
  public static Result run(int queries, int captions, long seed) {
    Workload workload = workload(queries, Math.min(captions, CAPTION_POOL), seed);
    long buildStart = System.nanoTime();
    QueryMatcher matcher = QueryMatcher.build(workload.queries());
    double buildSeconds = (System.nanoTime() - buildStart) / 1e9;
    long serializedBytes = serializedSize(matcher);

    String[] pool = workload.captions();
    long sink = 0;
    for (int pass = 0; pass < 2; pass++) {
      for (String caption : pool) {
        sink += matcher.matchIds(caption).length;
      }
    }
    long matches = 0;
    double[] rates = new double[Math.min(ROUNDS, captions)];
    for (int round = 0, p = 0; round < rates.length; round++) {
      int count = captions / rates.length + (round < captions % rates.length ? 1 : 0);
      long start = System.nanoTime();
      for (int i = 0; i < count; i++) {
        matches += matcher.matchIds(pool[p]).length;
        if (++p == pool.length) {
          p = 0;
        }
      }
      rates[round] = count * 1e9 / Math.max(1, System.nanoTime() - start);
    }
    if (sink < 0) {
      throw new IllegalStateException("Cannot happen: negative match count " + sink);
    }
    Arrays.sort(rates);
    return new Result(rates[rates.length / 2], queries, captions, buildSeconds, serializedBytes,
        (double) matches / captions);
  }

  /** Size of {@code matcher} in Java serialisation. */
  static long serializedSize(QueryMatcher matcher) {
    var counter = new OutputStream() {
      long bytes;

      @Override
      public void write(int b) {
        bytes++;
      }

      @Override
      public void write(byte[] b, int off, int len) {
        bytes += len;
      }
    };
    try (var out = new ObjectOutputStream(counter)) {
      out.writeObject(matcher);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot serialise the query matcher: " + e.getMessage(), e);
    }
    return counter.bytes;
  }

  /** Generates {@code queries} distinct queries and {@code captions} captions from {@code seed}. */
  static Workload workload(int queries, int captions, long seed) {
    if (queries < 1) {
      throw new IllegalArgumentException("Cannot run the matcher benchmark with " + queries
          + " queries: must be at least 1");
    }
    if (captions < 1) {
      throw new IllegalArgumentException("Cannot run the matcher benchmark with " + captions
          + " captions: must be at least 1");
    }
    var random = new Random(seed);
    int vocabularySize = Math.max(2 * queries, 2_000);
    var taken = new HashSet<String>(vocabularySize * 2);
    String[] vocabulary = new String[vocabularySize];
    for (int rank = 0; rank < vocabularySize; rank++) {
      vocabulary[rank] = newWord(random, rank, taken);
    }
    var zipf = new Zipf(vocabularySize);

    int unigrams = (int) Math.round(queries * 0.75);
    int bigrams = (int) Math.round(queries * 0.20);
    var seen = new HashSet<String>(queries * 2);
    var list = new ArrayList<String>(queries);
    var phrases = new ArrayList<String>();
    for (int rank = 0; rank < unigrams; rank++) {
      seen.add(vocabulary[rank]);
      list.add(vocabulary[rank]);
    }
    while (list.size() < queries) {
      boolean bigram = list.size() < unigrams + bigrams;
      int length = bigram ? 2 : 3 + random.nextInt(2);
      var phrase = new StringBuilder();
      for (int k = 0; k < length; k++) {
        String word = vocabulary[zipf.sample(random)];
        phrase.append(k == 0 ? "" : " ").append(bigram ? word : capitalize(word));
      }
      String text = phrase.toString();
      if (seen.add(text.toLowerCase(Locale.ROOT))) {
        list.add(text);
        phrases.add(text);
      }
    }
    shuffle(list, random);

    String[] outOfVocabulary = new String[Math.max(1_000, Math.min(100_000, vocabularySize / 10))];
    for (int k = 0; k < outOfVocabulary.length; k++) {
      outOfVocabulary[k] = newWord(random, vocabularySize + random.nextInt(vocabularySize), taken);
    }
    String[] pool = new String[captions];
    var caption = new StringBuilder();
    for (int c = 0; c < captions; c++) {
      caption.setLength(0);
      int tokens = 5 + random.nextInt(11);
      int phraseAt = !phrases.isEmpty() && random.nextDouble() < 0.3 ? random.nextInt(tokens) : -1;
      boolean open = false;
      for (int t = 0; t < tokens; t++) {
        String token;
        double kind = random.nextDouble();
        if (t == phraseAt) {
          token = phrases.get(random.nextInt(phrases.size()));
        } else if (kind < 0.88) {
          token = vocabulary[zipf.sample(random)];
        } else if (kind < 0.96) {
          token = outOfVocabulary[random.nextInt(outOfVocabulary.length)];
        } else {
          token = Integer.toString(random.nextInt(random.nextBoolean() ? 100 : 2100));
        }
        double style = random.nextDouble();
        if (t == 0 || style < 0.10) {
          token = capitalize(token);
        } else if (style < 0.11) {
          token = token.toUpperCase(Locale.ROOT);
        } else if (style < 0.14) {
          token = token + "'s";
        }
        if (t > 0) {
          double separator = random.nextDouble();
          caption.append(separator < 0.05 ? ", " : separator < 0.07 ? " - " : separator < 0.09 ? "-"
              : separator < 0.10 ? ": " : " ");
        }
        if (!open && random.nextDouble() < 0.03) {
          caption.append('(');
          open = true;
        }
        caption.append(token);
        if (open && random.nextDouble() < 0.3) {
          caption.append(')');
          open = false;
        }
      }
      if (open) {
        caption.append(')');
      }
      if (random.nextDouble() < 0.3) {
        caption.append('.');
      }
      pool[c] = caption.toString();
    }
    return new Workload(List.copyOf(list), pool);
  }

  /** A new lower-case word not in {@code taken}; frequent ranks get shorter words. */
  private static String newWord(Random random, int rank, Set<String> taken) {
    int minSyllables = rank < 100 ? 1 : rank < 5_000 ? 1 : 2;
    int maxSyllables = rank < 100 ? 1 : rank < 5_000 ? 2 : 4;
    var word = new StringBuilder();
    while (true) {
      word.setLength(0);
      int syllables = minSyllables + random.nextInt(maxSyllables - minSyllables + 1);
      double script = random.nextDouble();
      boolean cyrillic = script < 0.02;
      for (int s = 0; s < syllables; s++) {
        if (cyrillic) {
          word.append(pick(random, CYRILLIC_CONSONANTS)).append(pick(random, CYRILLIC_VOWELS));
        } else {
          word.append(pick(random, CONSONANTS)).append(pick(random, VOWELS));
        }
        if (random.nextInt(4) == 0) {
          word.append(pick(random, cyrillic ? CYRILLIC_CONSONANTS : CONSONANTS));
        }
      }
      if (script >= 0.02 && script < 0.05) {
        word.setCharAt(random.nextInt(word.length()), pick(random, ACCENTED));
      } else if (script >= 0.05 && script < 0.055 && word.length() > 2) {
        word.insert(1 + random.nextInt(word.length() - 2), '\'');
      }
      String text = word.toString();
      if (taken.add(text)) {
        return text;
      }
      minSyllables = Math.min(minSyllables + 1, 6);
      maxSyllables = Math.max(maxSyllables, minSyllables);
    }
  }

  private static char pick(Random random, String letters) {
    return letters.charAt(random.nextInt(letters.length()));
  }

  private static String capitalize(String word) {
    return word.isEmpty() ? word : word.substring(0, 1).toUpperCase(Locale.ROOT) + word.substring(1);
  }

  private static <T> void shuffle(List<T> list, Random random) {
    for (int i = list.size() - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      T t = list.get(i);
      list.set(i, list.get(j));
      list.set(j, t);
    }
  }

  /** Zipf(1) ranks by inversion of the cumulative distribution. */
  private static final class Zipf {
    private final double[] cumulative;

    Zipf(int size) {
      cumulative = new double[size];
      double sum = 0;
      for (int rank = 0; rank < size; rank++) {
        sum += 1.0 / (rank + 1);
        cumulative[rank] = sum;
      }
      for (int rank = 0; rank < size; rank++) {
        cumulative[rank] /= sum;
      }
    }

    int sample(Random random) {
      double u = random.nextDouble();
      int lo = 0;
      int hi = cumulative.length - 1;
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (cumulative[mid] < u) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      return lo;
    }
  }
}
