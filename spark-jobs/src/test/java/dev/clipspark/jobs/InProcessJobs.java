package dev.clipspark.jobs;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;

/** Lets tests in other packages run ClipSpark's command line in this JVM and write the demo's corpus. */
public final class InProcessJobs {

  private InProcessJobs() {}

  /** Runs {@code clip args...} in this JVM, failing the test unless it exits with 0; returns its output. */
  public static String clip(String... args) {
    var out = new StringWriter();
    TrainLearnsTest.clip(out, args);
    return out.toString();
  }

  /** {@link DemoCorpus#write(Path, int, long)}. */
  public static void writeDemoCorpus(Path file, int lines, long seed) throws IOException {
    DemoCorpus.write(file, lines, seed);
  }
}
