package dev.clipspark.training.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.checkpoint.CommitMode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * {@code metrics.jsonl}: one JSON object per logged step, in step order. The file is rewritten whole on every
 * append, which works on every Hadoop file system including object stores without append, and costs little: a
 * long run logs a few thousand short lines. Where checkpoints commit by rename (local disks, HDFS) the rewrite
 * goes to a temporary file renamed over the old one; where they commit by pointer (object stores, see
 * {@link CommitMode}) it overwrites the file in one create, which an object store replaces atomically and
 * without the copy a rename would be there. A resumed run first drops the records after its checkpoint's step,
 * so the file always describes one continuous run.
 */
public final class MetricsLog {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path path;
  private final FileSystem fs;
  private final List<String> lines = new ArrayList<>();
  private final boolean inPlace;

  MetricsLog(String outDir, String fileName, Configuration conf) {
    this(outDir, fileName, CommitMode.AUTO, conf);
  }

  /** @param commit how checkpoints in {@code outDir} commit: {@link CommitMode#POINTER} rewrites in place */
  public MetricsLog(String outDir, String fileName, CommitMode commit, Configuration conf) {
    this.path = new Path(outDir, fileName);
    this.inPlace = commit.resolve(path, conf) == CommitMode.POINTER;
    try {
      this.fs = path.getFileSystem(conf);
      lines.addAll(readLines(fs, path));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * The records of {@code outDir/fileName} as it is now (none when it does not exist yet); lines that do not
   * parse are left out. For a driver following a run that workers write.
   */
  @SuppressWarnings("unchecked")
  public static List<Map<String, Object>> records(String outDir, String fileName, Configuration conf) {
    Path file = new Path(outDir, fileName);
    var out = new ArrayList<Map<String, Object>>();
    try {
      for (String line : readLines(file.getFileSystem(conf), file)) {
        try {
          out.add(JSON.readValue(line, Map.class));
        } catch (IOException e) {
          // a line cut by a crash: the next rewrite drops it
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file + ": " + e.getMessage(), e);
    }
    return out;
  }

  private static List<String> readLines(FileSystem fs, Path path) throws IOException {
    var lines = new ArrayList<String>();
    if (fs.exists(path)) {
      try (var in = new BufferedReader(new InputStreamReader(fs.open(path), StandardCharsets.UTF_8))) {
        for (String line; (line = in.readLine()) != null; ) {
          if (!line.isBlank()) {
            lines.add(line);
          }
        }
      } catch (java.io.FileNotFoundException e) {
        // replaced between exists and open: the caller reads it next time
      }
    }
    return lines;
  }

  /** Drops records of steps after {@code step} (and unreadable lines a crash may have cut) and rewrites. */
  public void truncateAfter(long step) {
    int before = lines.size();
    lines.removeIf(line -> {
      try {
        var node = JSON.readTree(line);
        return node == null || !node.has("step") || node.get("step").asLong() > step;
      } catch (IOException e) {
        return true;
      }
    });
    if (lines.size() != before || step == 0) {
      write();
    }
  }

  /** Appends one record and rewrites the file. */
  public void append(Map<String, Object> record) {
    lines.add(Trainer.json(record));
    write();
  }

  /** The file's path. */
  String file() {
    return path.toString();
  }

  private void write() {
    Path tmp = inPlace ? path : new Path(path.getParent(), "." + path.getName() + "." + UUID.randomUUID() + ".tmp");
    try {
      fs.mkdirs(path.getParent());
      try (OutputStream out = fs.create(tmp, true)) {
        for (String line : lines) {
          out.write(line.getBytes(StandardCharsets.UTF_8));
          out.write('\n');
        }
      }
      if (inPlace) {
        return;
      }
      if (fs.exists(path) && !fs.delete(path, false)) {
        throw new IOException("cannot replace the old file");
      }
      if (!fs.rename(tmp, path)) {
        throw new IOException("cannot rename " + tmp + " to it");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + path + ": " + e.getMessage(), e);
    }
  }
}
