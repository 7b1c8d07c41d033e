package dev.clipspark.evaluation.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * MNIST's IDX format (big-endian magic {@code 0x00000803} for unsigned-byte images {@code [n, rows, cols]},
 * {@code 0x00000801} for unsigned-byte labels {@code [n]}), plain or gzip-compressed (by the {@code .gz} name).
 */
final class IdxFile {

  static final int IMAGES_MAGIC = 0x00000803;
  static final int LABELS_MAGIC = 0x00000801;

  /** The header of an IDX file: item count and, for images, rows and columns. */
  record Header(int count, int rows, int cols) {}

  private IdxFile() {}

  static DataInputStream open(String file, Configuration conf) throws IOException {
    Path path = new Path(file);
    FileSystem fs = path.getFileSystem(conf);
    InputStream in = new BufferedInputStream(fs.open(path), 1 << 16);
    if (file.endsWith(".gz")) {
      in = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
    }
    return new DataInputStream(in);
  }

  static Header header(DataInputStream in, String file, boolean images) throws IOException {
    int magic;
    try {
      magic = in.readInt();
    } catch (EOFException e) {
      throw new IllegalArgumentException("Cannot read the IDX file " + file + ": it is empty", e);
    }
    int expected = images ? IMAGES_MAGIC : LABELS_MAGIC;
    if (magic != expected) {
      throw new IllegalArgumentException(String.format(
          "Cannot read the IDX file %s: its magic number is 0x%08x, expected 0x%08x (unsigned-byte %s)", file, magic,
          expected, images ? "images [n, rows, cols]" : "labels [n]"));
    }
    int count = in.readInt();
    int rows = images ? in.readInt() : 1;
    int cols = images ? in.readInt() : 1;
    if (count < 0 || rows < 1 || cols < 1 || (long) rows * cols > 1 << 24) {
      throw new IllegalArgumentException(String.format(
          "Cannot read the IDX file %s: its header says %d items of %d x %d", file, count, rows, cols));
    }
    return new Header(count, rows, cols);
  }

  /** Skips exactly {@code bytes} bytes or fails naming the file. */
  static void skip(DataInputStream in, long bytes, String file) throws IOException {
    long left = bytes;
    while (left > 0) {
      long s = in.skip(left);
      if (s <= 0) {
        if (in.read() < 0) {
          throw new IllegalArgumentException("Cannot read the IDX file " + file + ": it is truncated");
        }
        s = 1;
      }
      left -= s;
    }
  }

  static void readFully(DataInputStream in, byte[] buffer, String file) throws IOException {
    try {
      in.readFully(buffer);
    } catch (EOFException e) {
      throw new IllegalArgumentException("Cannot read the IDX file " + file + ": it is truncated", e);
    }
  }
}
