package dev.clipspark.training.checkpoint;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Saves and loads training checkpoints under {@code OUT/checkpoints/} on any Hadoop file system; see the
 * package documentation for the layout and the atomicity argument.
 *
 * <p>Every load verifies the size and SHA-256 of each file it reads against {@code checkpoint.json} while
 * reading it (one pass), so a torn, truncated or bit-flipped checkpoint never loads.
 */
public final class Checkpoints {

  /** Folder under the output directory that holds the checkpoints. */
  public static final String CHECKPOINTS_DIR = "checkpoints";
  /** Pointer file holding the newest checkpoint directory's name. */
  public static final String LATEST = "latest";
  /** Prefix of checkpoint directories, followed by the step in 10 digits. */
  public static final String STEP_PREFIX = "step-";
  /** Prefix of unfinished (temporary) directories and files; they are never loaded. */
  public static final String TMP_PREFIX = "_tmp-";
  /** The manifest, written last: a checkpoint without it is incomplete. */
  public static final String MANIFEST = "checkpoint.json";
  /** Parameters then buffers. */
  public static final String MODEL = "model.bin";
  /** Optimiser moments. */
  public static final String OPTIMIZER = "optimizer.bin";
  /** Step, optimiser step count and trainer state. */
  public static final String STATE = "state.json";
  /** The files every checkpoint has, which an extra file cannot be named. */
  public static final java.util.Set<String> OWN_FILES = java.util.Set.of("checkpoint.json", "model.bin",
      "optimizer.bin", "state.json", "model.conf");
  /** The model architecture as HOCON. */
  public static final String MODEL_CONF = "model.conf";
  /** The tokenizer's merges file. */
  public static final String TOKENIZER = "tokenizer.txt";
  /** Default retention: keep every checkpoint. */
  public static final int KEEP_DEFAULT = 0;
  /** Default commit mode: by the file system's scheme. */
  public static final CommitMode COMMIT_DEFAULT = CommitMode.AUTO;

  private static final Logger LOG = LoggerFactory.getLogger(Checkpoints.class);
  private static final Pattern STEP_DIR = Pattern.compile(Pattern.quote(STEP_PREFIX) + "(\\d{1,19})");

  private Checkpoints() {}

  /** The directory name of the checkpoint of {@code step}: {@code step-0000000123}. */
  public static String directoryName(long step) {
    return String.format("%s%010d", STEP_PREFIX, step);
  }

  /** Saves {@code checkpoint} under {@code outDir} keeping every older checkpoint; see {@link #save(String, Checkpoint, int, CommitMode, Configuration)}. */
  public static Path save(String outDir, Checkpoint checkpoint, Configuration conf) {
    return save(outDir, checkpoint, KEEP_DEFAULT, COMMIT_DEFAULT, conf);
  }

  /** Saves {@code checkpoint} committing it as its file system needs; see {@link #save(String, Checkpoint, int, CommitMode, Configuration)}. */
  public static Path save(String outDir, Checkpoint checkpoint, int keep, Configuration conf) {
    return save(outDir, checkpoint, keep, COMMIT_DEFAULT, conf);
  }

  /**
   * Saves {@code checkpoint} to {@code outDir/checkpoints/step-NNNNNNNNNN/} atomically (replacing an existing
   * checkpoint of the same step), then deletes complete checkpoints beyond the newest {@code keep} (0 keeps all)
   * and unfinished step directories older than this one. How it commits depends on {@code mode}, resolved
   * by {@link CommitMode#resolve}:
   * <ul>
   *   <li>{@link CommitMode#RENAME}: writes every file into a temporary sibling directory,
   *       {@code checkpoint.json} last, re-reads every file against it, renames the directory into place and
   *       points {@code latest} at it by writing a temporary file and renaming it;
   *   <li>{@link CommitMode#POINTER}: writes every file straight into the step directory (deleting what an
   *       earlier attempt at this step left there first), {@code checkpoint.json} last, re-reads every file
   *       against it, then publishes it by overwriting {@code latest} in one create; nothing is renamed.
   * </ul>
   *
   * @return the checkpoint's directory, qualified with its file system's scheme
   * @throws UncheckedIOException naming the step and the directory if writing fails (what was written is
   *     then deleted where possible, and the previous checkpoints and pointer are untouched)
   * @throws IllegalArgumentException if {@code keep} is negative or {@code mode} is null
   */
  public static Path save(String outDir, Checkpoint checkpoint, int keep, CommitMode mode, Configuration conf) {
    return CheckpointWriter.save(outDir, checkpoint, keep, mode, conf);
  }

  /**
   * Whether {@code outDir} holds a complete checkpoint (a {@code step-*} directory with its {@code checkpoint.json}),
   * so a run there would resume; reads no tensors and deletes nothing.
   */
  public static boolean hasComplete(String outDir, Configuration conf) {
    Path root = new Path(outDir, CHECKPOINTS_DIR);
    try {
      FileSystem fs = root.getFileSystem(conf);
      return fs.exists(root) && stepDirs(fs, root).stream().anyMatch(d -> hasManifest(fs, d));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot list the checkpoints in " + root + ": " + e.getMessage(), e);
    }
  }

  /** {@link #loadLatest(String, DataType, Configuration)} keeping the stored data types. */
  public static Optional<LoadedCheckpoint> loadLatest(String outDir, Configuration conf) {
    return loadLatest(outDir, null, conf);
  }

  /**
   * The newest complete checkpoint under {@code outDir}, to resume from: the one {@code latest} names if
   * it verifies, else the newest {@code step-*} directory that verifies (a warning is logged for each one
   * skipped). Directories without {@code checkpoint.json} are ignored: a save that did not finish leaves them
   * (in {@link CommitMode#POINTER} mode, or by hand), and the pointer still names the previous checkpoint, which
   * therefore wins over any newer step directory. Temporary {@code _tmp-*} leftovers of crashed saves are
   * deleted (do not call this while another process saves to the same directory).
   *
   * @param dataType floating-point tensors are cast to it; null keeps the stored types
   * @return empty if there is no complete checkpoint
   * @throws CheckpointException if there are complete checkpoints but none verifies
   */
  public static Optional<LoadedCheckpoint> loadLatest(String outDir, DataType dataType, Configuration conf) {
    Path root = new Path(outDir, CHECKPOINTS_DIR);
    FileSystem fs;
    List<StepDir> dirs;
    try {
      fs = root.getFileSystem(conf);
      if (!fs.exists(root)) {
        return Optional.empty();
      }
      deleteLeftovers(fs, root);
      dirs = stepDirs(fs, root);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot list the checkpoints in " + root + ": " + e.getMessage(), e);
    }
    dirs.sort(Comparator.comparingLong(StepDir::step).reversed());
    CheckpointException newestProblem = null;
    int complete = 0;
    String pointed = readPointer(fs, root);
    if (pointed != null) {
      StepDir target = dirs.stream().filter(d -> d.path().getName().equals(pointed)).findFirst().orElse(null);
      if (target == null) {
        LOG.warn("Checkpoint pointer {} names {}, which does not exist; looking for the newest complete checkpoint",
            new Path(root, LATEST), pointed);
      } else {
        try {
          return Optional.of(load(target.path().toString(), dataType, conf));
        } catch (CheckpointException e) {
          LOG.warn("Skipping the checkpoint {} names: {}", LATEST, e.getMessage());
          dirs.remove(target);
          if (hasManifest(fs, target)) {
            complete++;
            newestProblem = e;
          }
        }
      }
    }
    for (StepDir d : dirs) {
      if (!hasManifest(fs, d)) {
        LOG.warn("Ignoring the incomplete checkpoint {}: it has no {} (a save that did not finish)", d.path(),
            MANIFEST);
        continue;
      }
      complete++;
      try {
        return Optional.of(load(d.path().toString(), dataType, conf));
      } catch (CheckpointException e) {
        LOG.warn("Skipping a checkpoint that does not verify (a save that did not finish, or a damaged file): {}",
            e.getMessage());
        newestProblem = newestProblem == null ? e : newestProblem;
      }
    }
    if (newestProblem != null) {
      throw new CheckpointException(String.format("Cannot resume from %s: none of its %d complete checkpoints "
          + "verifies; the newest: %s", root, complete, newestProblem.getMessage()), newestProblem);
    }
    return Optional.empty();
  }

  /**
   * The checkpoint directory an evaluation of {@code location} should read, without changing anything (safe
   * while training writes to it): {@code location} itself when it holds {@code checkpoint.json}, else the
   * {@code step-*} directory that {@code location/checkpoints/latest} names, else the newest {@code step-*}
   * directory there with a {@code checkpoint.json}.
   *
   * @throws IllegalArgumentException when {@code location} holds no complete checkpoint
   */
  public static String resolve(String location, Configuration conf) {
    Path given = new Path(location);
    try {
      FileSystem fs = given.getFileSystem(conf);
      if (fs.exists(new Path(given, MANIFEST))) {
        return given.toString();
      }
      Path root = new Path(given, CHECKPOINTS_DIR);
      if (fs.exists(root)) {
        List<StepDir> dirs = stepDirs(fs, root);
        String pointed = readPointer(fs, root);
        for (StepDir d : dirs) {
          if (d.path().getName().equals(pointed) && hasManifest(fs, d)) {
            return d.path().toString();
          }
        }
        dirs.sort(Comparator.comparingLong(StepDir::step).reversed());
        for (StepDir d : dirs) {
          if (hasManifest(fs, d)) {
            return d.path().toString();
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot look for a checkpoint in " + location + ": " + e.getMessage(), e);
    }
    throw new IllegalArgumentException("Cannot find a checkpoint in " + location + ": it is neither a checkpoint"
        + " directory (with " + MANIFEST + ") nor a training output directory with a complete checkpoint under "
        + CHECKPOINTS_DIR + "/");
  }

  /** {@link #load(String, DataType, Configuration)} keeping the stored data types. */
  public static LoadedCheckpoint load(String checkpointDir, Configuration conf) {
    return load(checkpointDir, null, conf);
  }

  /**
   * Loads and verifies the checkpoint in {@code checkpointDir} (a {@code step-*} directory), optimiser
   * state included.
   *
   * @param dataType floating-point tensors are cast to it; null keeps the stored types
   * @throws CheckpointException naming the directory and the problem if it is incomplete, corrupt or
   *     unreadable
   */
  public static LoadedCheckpoint load(String checkpointDir, DataType dataType, Configuration conf) {
    return CheckpointReader.load(checkpointDir, dataType, true, conf);
  }

  /**
   * Loads and verifies only what evaluation needs: the model config, parameters and buffers, trainer state
   * and tokenizer; {@code optimizer.bin} (twice the model's size) is not read.
   *
   * @param dataType floating-point tensors are cast to it; null keeps the stored types
   * @throws CheckpointException naming the directory and the problem if it is incomplete, corrupt or
   *     unreadable
   */
  public static LoadedCheckpoint loadModel(String checkpointDir, DataType dataType, Configuration conf) {
    return CheckpointReader.load(checkpointDir, dataType, false, conf);
  }

  /** A {@code step-*} directory and its step. */
  record StepDir(Path path, long step) {}

  /** The {@code step-*} directories under {@code root}, complete or not, in no particular order. */
  static List<StepDir> stepDirs(FileSystem fs, Path root) throws IOException {
    var out = new ArrayList<StepDir>();
    for (FileStatus status : fs.listStatus(root)) {
      Matcher m = STEP_DIR.matcher(status.getPath().getName());
      if (status.isDirectory() && m.matches()) {
        try {
          out.add(new StepDir(status.getPath(), Long.parseLong(m.group(1))));
        } catch (NumberFormatException e) {
          LOG.warn("Ignoring {}: its step is out of range", status.getPath());
        }
      }
    }
    return out;
  }

  private static boolean hasManifest(FileSystem fs, StepDir dir) {
    try {
      return fs.exists(new Path(dir.path(), MANIFEST));
    } catch (IOException e) {
      LOG.warn("Cannot check {} for {}: {}", dir.path(), MANIFEST, e.getMessage());
      return false;
    }
  }

  private static void deleteLeftovers(FileSystem fs, Path root) throws IOException {
    for (FileStatus status : fs.listStatus(root)) {
      if (status.getPath().getName().startsWith(TMP_PREFIX)) {
        LOG.info("Deleting {}, left by a save that did not finish", status.getPath());
        fs.delete(status.getPath(), true);
      }
    }
  }

  /** The directory name in {@code latest}, or null if it is missing, unreadable or not a step directory. */
  private static String readPointer(FileSystem fs, Path root) {
    Path latest = new Path(root, LATEST);
    try {
      if (!fs.exists(latest)) {
        return null;
      }
      String name;
      try (InputStream in = fs.open(latest)) {
        name = new String(in.readNBytes(256), UTF_8).trim();
      }
      if (!STEP_DIR.matcher(name).matches()) {
        LOG.warn("Ignoring the checkpoint pointer {}: '{}' is not a checkpoint directory name", latest, name);
        return null;
      }
      return name;
    } catch (IOException e) {
      LOG.warn("Ignoring the checkpoint pointer {}: {}", latest, e.getMessage());
      return null;
    }
  }
}
