package dev.clipspark.dataset.source;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;

/** Reads whole files and streams with a size limit, so one huge file cannot exhaust an executor. */
final class BoundedRead {

  private BoundedRead() {}

  /** Thrown when a file or member is larger than the limit. */
  static final class TooLargeException extends IOException {
    private static final long serialVersionUID = 1L;

    TooLargeException(String what, long limit) {
      super(String.format("Cannot read %s: larger than the limit of %d bytes", what, limit));
    }
  }

  static byte[] file(String pathOrUri, Configuration conf, long maxBytes) throws IOException {
    if (maxBytes < 0) {
      throw new IllegalArgumentException("maxBytes must be >= 0, got " + maxBytes);
    }
    var path = new Path(pathOrUri);
    try (FSDataInputStream in = path.getFileSystem(conf).open(path)) {
      return stream(in, maxBytes, pathOrUri);
    }
  }

  /** All bytes of {@code in}, failing with {@link TooLargeException} past {@code maxBytes}. */
  static byte[] stream(InputStream in, long maxBytes, String what) throws IOException {
    var out = new ByteArrayOutputStream((int) Math.min(maxBytes + 1, 64 * 1024));
    byte[] buf = new byte[64 * 1024];
    long total = 0;
    int n;
    while ((n = in.read(buf)) != -1) {
      total += n;
      if (total > maxBytes) {
        throw new TooLargeException(what, maxBytes);
      }
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }
}
