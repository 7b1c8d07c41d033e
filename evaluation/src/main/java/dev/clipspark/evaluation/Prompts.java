package dev.clipspark.evaluation;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * Class-name lists and prompt-template lists: small text files users edit, one entry per line, blank lines and
 * lines starting with {@code #} ignored. A name without a slash or dot picks a list shipped in the jar (the
 * files of {@code conf/templates/} and {@code conf/classes/}); anything else is a file (local path or Hadoop URI).
 *
 * <p>Shipped templates: {@code imagenet} (CLIP's 80 ImageNet templates), {@code default} ({@code a photo of a {}.}),
 * {@code fashion-mnist}, {@code shapes} (the demo's coloured shapes). Shipped class lists: {@code fashion-mnist}, {@code mnist}.
 */
public final class Prompts {

  /** Shipped template lists. */
  public static final List<String> SHIPPED_TEMPLATES = List.of("default", "imagenet", "fashion-mnist", "shapes");
  /** Shipped class lists. */
  public static final List<String> SHIPPED_CLASSES = List.of("fashion-mnist", "mnist");
  /** CLIP's single template. */
  public static final String DEFAULT_TEMPLATE = "a photo of a {}.";

  /**
   * A loaded list.
   *
   * @param source the shipped name or the file it came from
   * @param entries the entries in file order
   */
  public record TextList(String source, List<String> entries) {
    /** Copies the entries. */
    public TextList {
      entries = List.copyOf(entries);
    }
  }

  private Prompts() {}

  /** Templates by shipped name or file; each must contain {@code {}}. */
  public static TextList templates(String nameOrFile) {
    return templates(nameOrFile, new Configuration());
  }

  /** Templates by shipped name or file; each must contain {@code {}}. */
  public static TextList templates(String nameOrFile, Configuration conf) {
    TextList list = load("templates", nameOrFile, SHIPPED_TEMPLATES, conf);
    for (String t : list.entries()) {
      if (!t.contains("{}")) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot use the template \"%s\" of %s: a template needs {} where the class name goes", t, list.source()));
      }
    }
    return list;
  }

  /** Class names by shipped name or file, in label order. */
  public static TextList classes(String nameOrFile) {
    return classes(nameOrFile, new Configuration());
  }

  /** Class names by shipped name or file, in label order; no duplicates. */
  public static TextList classes(String nameOrFile, Configuration conf) {
    TextList list = load("classes", nameOrFile, SHIPPED_CLASSES, conf);
    var seen = new java.util.HashSet<String>();
    for (String c : list.entries()) {
      if (!seen.add(c)) {
        throw new IllegalArgumentException("Cannot use the class list " + list.source() + ": \"" + c
            + "\" appears twice");
      }
    }
    return list;
  }

  /** Whether {@code nameOrFile} names a shipped list rather than a file. */
  static boolean isShippedName(String nameOrFile) {
    return !nameOrFile.contains("/") && !nameOrFile.contains(".") && !nameOrFile.contains(":");
  }

  private static TextList load(String kind, String nameOrFile, List<String> shipped, Configuration conf) {
    if (nameOrFile == null || nameOrFile.isBlank()) {
      throw new IllegalArgumentException("Cannot load " + kind + ": no name or file given");
    }
    List<String> lines;
    if (isShippedName(nameOrFile)) {
      if (!shipped.contains(nameOrFile)) {
        throw new IllegalArgumentException(String.format(Locale.ROOT,
            "Cannot load the %s list \"%s\": shipped lists are %s; or give a file, one entry per line", kind, nameOrFile,
            String.join(", ", shipped)));
      }
      String resource = "clipspark/" + kind + "/" + nameOrFile + ".txt";
      try (InputStream in = Prompts.class.getClassLoader().getResourceAsStream(resource)) {
        if (in == null) {
          throw new IllegalStateException("Cannot find " + resource + " in the jar");
        }
        lines = read(in);
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read " + resource + ": " + e.getMessage(), e);
      }
    } else {
      Path path = new Path(nameOrFile);
      try (InputStream in = path.getFileSystem(conf).open(path)) {
        lines = read(in);
      } catch (java.io.FileNotFoundException e) {
        throw new IllegalArgumentException("Cannot read the " + kind + " file " + nameOrFile + ": it does not exist", e);
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read the " + kind + " file " + nameOrFile + ": " + e.getMessage(), e);
      }
    }
    if (lines.isEmpty()) {
      throw new IllegalArgumentException("Cannot use the " + kind + " list " + nameOrFile + ": it has no entries");
    }
    return new TextList(nameOrFile, lines);
  }

  private static List<String> read(InputStream in) throws IOException {
    var out = new ArrayList<String>();
    try (var reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = reader.readLine()) != null) {
        String t = line.strip();
        if (!t.isEmpty() && !t.startsWith("#")) {
          out.add(t);
        }
      }
    }
    return out;
  }
}
