package dev.clipspark.training.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Scans of every module's main Java sources for calls a rule forbids (tests that keep code off an engine defect). */
public final class MainSources {

  private MainSources() {}

  /**
   * The lines of main code, outside files {@code exempt} accepts, that {@code offending} finds, as
   * {@code file:line: text}; fails if the scan did not see every module with main code (a wrong root would pass
   * vacuously).
   */
  public static List<String> offenders(Predicate<Path> exempt, Function<Path, List<String>> offending)
      throws IOException {
    Path root = repositoryRoot();
    var scanned = new TreeSet<String>();
    var out = new ArrayList<String>();
    try (Stream<Path> files = Files.walk(root)) {
      files.filter(p -> p.toString().endsWith(".java"))
          .filter(p -> root.relativize(p).toString().replace('\\', '/').matches("[^/]+/src/main/java/.*"))
          .forEach(p -> {
            scanned.add(root.relativize(p).getName(0).toString());
            if (!exempt.test(p)) {
              out.addAll(offending.apply(p));
            }
          });
    }
    assertThat(scanned).contains("training", "evaluation", "spark-jobs", "dataset-builder");
    return out;
  }

  /** The code lines of {@code file} (comment lines skipped) that {@code line} accepts, as {@code file:line: text}. */
  public static List<String> lines(Path file, Predicate<String> line) {
    List<String> all;
    try {
      all = Files.readAllLines(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    var out = new ArrayList<String>();
    for (int i = 0; i < all.size(); i++) {
      String l = all.get(i).strip();
      if (l.startsWith("//") || l.startsWith("*") || l.startsWith("/*")) {
        continue;
      }
      if (line.test(l)) {
        out.add(file + ":" + (i + 1) + ": " + l);
      }
    }
    return out;
  }

  /** The code lines of {@code file} where {@code pattern} is found. */
  public static List<String> matching(Path file, Pattern pattern) {
    return lines(file, l -> pattern.matcher(l).find());
  }

  /** The checkout's root: the nearest directory above the working directory whose pom lists modules. */
  public static Path repositoryRoot() throws IOException {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path pom = p.resolve("pom.xml");
      if (Files.isRegularFile(pom) && Files.readString(pom).contains("<module>training</module>")) {
        return p;
      }
    }
    throw new IllegalStateException("Cannot find the repository root above " + Path.of("").toAbsolutePath());
  }
}
