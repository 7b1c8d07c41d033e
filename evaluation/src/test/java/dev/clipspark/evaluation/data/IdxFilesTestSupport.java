package dev.clipspark.evaluation.data;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Writes MNIST-format IDX files for tests. */
public final class IdxFilesTestSupport {

  private IdxFilesTestSupport() {}

  /** Writes {@code dir/PREFIX-images-idx3-ubyte.gz} and {@code dir/PREFIX-labels-idx1-ubyte.gz}. */
  public static void write(Path dir, String prefix, byte[][] images, int[] labels, int rows, int cols)
      throws IOException {
    try (OutputStream f = new GZIPOutputStream(Files.newOutputStream(dir.resolve(prefix + "-images-idx3-ubyte.gz")));
        DataOutputStream out = new DataOutputStream(f)) {
      out.writeInt(IdxFile.IMAGES_MAGIC);
      out.writeInt(images.length);
      out.writeInt(rows);
      out.writeInt(cols);
      for (byte[] image : images) {
        out.write(image);
      }
    }
    try (OutputStream f = Files.newOutputStream(dir.resolve(prefix + "-labels-idx1-ubyte"));
        DataOutputStream out = new DataOutputStream(f)) {
      out.writeInt(IdxFile.LABELS_MAGIC);
      out.writeInt(labels.length);
      for (int l : labels) {
        out.writeByte(l);
      }
    }
  }
}
