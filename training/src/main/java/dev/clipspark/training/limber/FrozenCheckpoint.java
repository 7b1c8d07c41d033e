package dev.clipspark.training.limber;

import dev.clipspark.training.checkpoint.Checkpoints;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * The identity of a frozen part of a LiMBeR model (the CLIP checkpoint, the language model): the resolved
 * {@code step-*} directory and the SHA-256 of its {@code checkpoint.json}, which lists the size and SHA-256 of every
 * other file of the checkpoint, so one digest covers all of its bytes.
 *
 * @param location as the user gave it (a checkpoint directory or a training output directory)
 * @param directory the resolved checkpoint directory
 * @param sha256 SHA-256 of {@code directory/checkpoint.json}, lower-case hex
 */
public record FrozenCheckpoint(String location, String directory, String sha256) implements java.io.Serializable {

  private static final long serialVersionUID = 1L;

  /**
   * Resolves {@code location} ({@link Checkpoints#resolve}) and digests its {@code checkpoint.json}.
   *
   * @param what what the checkpoint is, for messages ({@code --clip}, {@code --lm})
   * @throws IllegalArgumentException when there is no complete checkpoint at {@code location}
   */
  public static FrozenCheckpoint of(String what, String location, Configuration conf) {
    String dir;
    try {
      dir = Checkpoints.resolve(location, conf);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Cannot use " + what + " " + location + ": " + e.getMessage(), e);
    }
    return new FrozenCheckpoint(location, dir, sha256(dir, conf));
  }

  /** SHA-256 of {@code checkpointDir/checkpoint.json}. */
  public static String sha256(String checkpointDir, Configuration conf) {
    Path manifest = new Path(checkpointDir, Checkpoints.MANIFEST);
    try (InputStream in = manifest.getFileSystem(conf).open(manifest)) {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      byte[] buffer = new byte[1 << 16];
      for (int n; (n = in.read(buffer)) > 0; ) {
        digest.update(buffer, 0, n);
      }
      return HexFormat.of().formatHex(digest.digest());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + manifest + ": " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("Cannot compute SHA-256: this JVM lacks it", e);
    }
  }
}
