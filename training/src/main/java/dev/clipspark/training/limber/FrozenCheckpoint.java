package dev.clipspark.training.limber;

import dev.clipspark.training.checkpoint.CheckpointKind;
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

  /**
   * {@link #of(String, String, Configuration)}, checking that the checkpoint holds a model of {@code kind}.
   *
   * @throws IllegalArgumentException naming the location, its kind and the kind wanted
   */
  public static FrozenCheckpoint of(String what, String location, CheckpointKind kind, Configuration conf) {
    FrozenCheckpoint c = of(what, location, conf);
    CheckpointKind found = kindOf(c.directory(), conf);
    if (found != kind) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "Cannot use %s %s: it holds a %s"
          + " checkpoint (%s), not a %s one", what, location, found.json(), c.directory(), kind.json()));
    }
    return c;
  }

  /** The kind recorded in {@code checkpointDir/checkpoint.json} (absent: clip, as before kinds existed). */
  static CheckpointKind kindOf(String checkpointDir, Configuration conf) {
    var node = manifestField(checkpointDir, "kind", conf);
    return node == null || node.isNull() ? CheckpointKind.CLIP : CheckpointKind.of(node.asText());
  }

  /** The model name recorded in {@code checkpointDir/checkpoint.json}. */
  static String modelName(String checkpointDir, Configuration conf) {
    var node = manifestField(checkpointDir, "model", conf);
    return node == null ? new Path(checkpointDir).getName() : node.asText();
  }

  private static com.fasterxml.jackson.databind.JsonNode manifestField(String checkpointDir, String field,
      Configuration conf) {
    Path manifest = new Path(checkpointDir, Checkpoints.MANIFEST);
    try (InputStream in = manifest.getFileSystem(conf).open(manifest)) {
      return new com.fasterxml.jackson.databind.ObjectMapper().readTree(in).get(field);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + manifest + ": " + e.getMessage(), e);
    }
  }

  /** The text of {@code checkpointDir/model.conf}. */
  static String modelConf(String checkpointDir, Configuration conf) {
    Path file = new Path(checkpointDir, Checkpoints.MODEL_CONF);
    try (InputStream in = file.getFileSystem(conf).open(file)) {
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file + ": " + e.getMessage(), e);
    }
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
