package dev.clipspark.jobs;

import java.io.IOException;
import java.nio.file.Path;

/** Lets tests in other packages write the demo's generated corpus. */
public final class DemoCorpusAccess {

  private DemoCorpusAccess() {}

  /** {@link DemoCorpus#write(Path, int, long)}. */
  public static void write(Path file, int lines, long seed) throws IOException {
    DemoCorpus.write(file, lines, seed);
  }
}
