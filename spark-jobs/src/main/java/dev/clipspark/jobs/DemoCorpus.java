package dev.clipspark.jobs;

import dev.clipspark.dataset.source.SyntheticShapes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The demo's stand-in for Wikipedia: lines that mix descriptions of the synthetic source's coloured
 * shapes with everyday sentences, so that the colour and shape words, a few bigrams and some common
 * words pass the query thresholds while most filler words do not.
 */
final class DemoCorpus {

  private static final String[] FILLER = {
      "the weather was mild for most of the week", "a museum opened a new gallery downtown",
      "the river flows past the old mill", "children played in the park after school",
      "the committee met on tuesday to discuss the budget", "a train left the station at noon",
      "the recipe calls for two cups of flour", "new york is a large city on the east coast",
      "the library lends books and music", "a storm moved across the bay at night",
  };

  private DemoCorpus() {}

  /** Writes {@code lines} lines to {@code file}, the same lines for the same seed. */
  static void write(Path file, int lines, long seed) throws IOException {
    var rnd = new SplittableRandom(seed * 31 + 17);
    var classes = SyntheticShapes.classes();
    try (var w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (int i = 0; i < lines; i++) {
        if (rnd.nextInt(3) == 0) {
          w.write(FILLER[rnd.nextInt(FILLER.length)]);
        } else {
          w.write(SyntheticShapes.caption(classes.get(rnd.nextInt(classes.size())), rnd));
        }
        w.write('\n');
      }
    }
  }
}
