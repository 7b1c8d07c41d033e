package dev.clipspark.dataset.queries;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.clipspark.dataset.Words;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Reads the lemma names of the synsets in a WordNet 3.0 database directory (the {@code data.noun},
 * {@code data.verb}, {@code data.adj} and {@code data.adv} files; Debian's {@code wordnet-base} package
 * installs them under {@code /usr/share/wordnet}).
 *
 * <p>In a data file, lines starting with two spaces are the license header; every other line is a synset:
 * <pre>offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt ...</pre>
 * where {@code w_cnt} is a two-digit hexadecimal count of the (word, lex_id) pairs that follow. A word is
 * turned into a lemma name by {@link #lemmaName(String)}: underscores become spaces, an adjective marker
 * ({@code (a)}, {@code (p)}, {@code (ip)}) at its end is dropped, and the result is normalised with
 * {@link Words#normalize(CharSequence)}.
 *
 * <p>The directory is read through the Hadoop {@link FileSystem} API, so {@code file:}, {@code hdfs:} and
 * {@code s3a:} directories all work. The files are small (about 22 MB together) and are read on the driver.
 */
public final class WordNet {

  /** A part of speech, spelled in config as {@code noun}, {@code verb}, {@code adj} or {@code adv}. */
  public enum PartOfSpeech {
    NOUN, VERB, ADJ, ADV;

    /** The config spelling: {@code noun}, {@code verb}, {@code adj} or {@code adv}. */
    @JsonValue
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The name of this part of speech's data file, e.g. {@code data.noun}. */
    public String dataFile() {
      return "data." + label();
    }

    /** The part of speech spelled {@code label}, or {@code null} if none is. */
    @JsonCreator
    public static PartOfSpeech ofLabel(String label) {
      for (PartOfSpeech p : values()) {
        if (p.label().equals(label)) {
          return p;
        }
      }
      return null;
    }
  }

  /**
   * One synset: its part of speech, its byte offset in its data file (its id within that file), and its
   * distinct non-empty lemma names in file order.
   */
  public record Synset(PartOfSpeech pos, long offset, List<String> lemmas) {
    public Synset {
      lemmas = List.copyOf(lemmas);
    }
  }

  /** Adjective position markers WordNet appends to a word: (a) attributive, (p) predicate, (ip) postnominal. */
  private static final Pattern ADJECTIVE_MARKER = Pattern.compile("\\((?:a|p|ip)\\)$");

  private WordNet() {}

  /**
   * Reads every synset of the given parts of speech from {@code dir}.
   *
   * @throws IllegalArgumentException if {@code dir} does not exist, is not a directory, lacks one of the
   *     requested data files, or holds a line that is not a synset
   */
  public static List<Synset> readSynsets(String dir, Collection<PartOfSpeech> parts, Configuration hadoopConf) {
    var pos = new LinkedHashSet<>(parts);
    if (pos.isEmpty()) {
      throw new IllegalArgumentException("Cannot read WordNet from " + dir + ": no part of speech requested");
    }
    var root = new Path(dir);
    var expected = pos.stream().map(PartOfSpeech::dataFile).collect(Collectors.joining(", "));
    var hint = " (expected " + expected + "; Debian and Ubuntu install them under /usr/share/wordnet with"
        + " `apt-get install wordnet-base`)";
    try {
      FileSystem fs = root.getFileSystem(hadoopConf);
      if (!fs.exists(root)) {
        throw new IllegalArgumentException("Cannot read WordNet from " + dir + ": no such directory" + hint);
      }
      if (!fs.getFileStatus(root).isDirectory()) {
        throw new IllegalArgumentException("Cannot read WordNet from " + dir + ": not a directory" + hint);
      }
      var missing = new ArrayList<String>();
      for (PartOfSpeech p : pos) {
        if (!fs.isFile(new Path(root, p.dataFile()))) {
          missing.add(p.dataFile());
        }
      }
      if (missing.size() == pos.size()) {
        throw new IllegalArgumentException("Cannot read WordNet from " + dir + ": it holds no data files" + hint);
      }
      if (!missing.isEmpty()) {
        throw new IllegalArgumentException("Cannot read WordNet from " + dir + ": " + String.join(", ", missing)
            + " missing" + hint + "; or leave the missing parts of speech out of queries.wordnet.pos");
      }
      var synsets = new ArrayList<Synset>();
      for (PartOfSpeech p : pos) {
        var file = new Path(root, p.dataFile());
        try (var in = new BufferedReader(new InputStreamReader(fs.open(file), StandardCharsets.UTF_8))) {
          String line;
          int lineNo = 0;
          while ((line = in.readLine()) != null) {
            lineNo++;
            if (line.startsWith("  ") || line.isBlank()) {
              continue;
            }
            synsets.add(parseSynset(p, line, file, lineNo));
          }
        }
      }
      return synsets;
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read WordNet from " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * The score of every lemma name: the number of synsets it names, sorted by lemma name. A lemma that
   * appears twice in one synset (after normalisation) counts once.
   */
  public static Map<String, Long> lemmaScores(List<Synset> synsets) {
    var scores = new TreeMap<String, Long>();
    for (Synset s : synsets) {
      for (String lemma : s.lemmas()) {
        scores.merge(lemma, 1L, Long::sum);
      }
    }
    return scores;
  }

  /**
   * The lemma name of a word as written in a data file: {@code hot_dog} is {@code hot dog},
   * {@code galore(ip)} is {@code galore}, {@code Parkinson's_disease} is {@code parkinson's disease};
   * empty if nothing is left.
   */
  public static String lemmaName(String word) {
    String w = ADJECTIVE_MARKER.matcher(word).replaceFirst("");
    return Words.normalize(w.replace('_', ' '));
  }

  private static Synset parseSynset(PartOfSpeech pos, String line, Path file, int lineNo) {
    String[] f = line.split(" ");
    if (f.length < 4) {
      throw malformed(file, lineNo, "fewer than 4 fields");
    }
    long offset;
    int wordCount;
    try {
      offset = Long.parseLong(f[0]);
      wordCount = Integer.parseInt(f[3], 16);
    } catch (NumberFormatException e) {
      throw malformed(file, lineNo, "offset " + f[0] + " or word count " + f[3] + " is not a number");
    }
    if (f.length < 4 + 2 * wordCount) {
      throw malformed(file, lineNo, "word count " + f[3] + " says " + wordCount + " words but the line is shorter");
    }
    var lemmas = new LinkedHashSet<String>();
    for (int i = 0; i < wordCount; i++) {
      String lemma = lemmaName(f[4 + 2 * i]);
      if (!lemma.isEmpty()) {
        lemmas.add(lemma);
      }
    }
    return new Synset(pos, offset, new ArrayList<>(lemmas));
  }

  private static IllegalArgumentException malformed(Path file, int lineNo, String why) {
    return new IllegalArgumentException(
        "Cannot read WordNet file " + file + " line " + lineNo + ": not a synset line (" + why + ")");
  }
}
