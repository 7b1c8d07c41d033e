package dev.clipspark.training.checkpoint;

import static dev.clipspark.training.checkpoint.CheckpointsTest.MICRO;
import static dev.clipspark.training.checkpoint.CheckpointsTest.assertSameTensors;
import static dev.clipspark.training.checkpoint.CheckpointsTest.model;
import static dev.clipspark.training.checkpoint.CheckpointsTest.names;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The two commit protocols of {@link CommitMode}, {@code pointer} on {@link ObjectStoreFileSystem}: a local
 * stand-in for an object store that counts and can forbid renames and fails the Nth file creation.
 */
class CheckpointCommitTest {

  /** Files a save without optimiser state creates: model.bin, state.json, model.conf, tokenizer.txt,
   * checkpoint.json, then the pointer. */
  private static final int CREATES_PER_SAVE = 6;

  private Configuration conf;

  @TempDir
  Path tmp;

  private Path local;
  private String out;
  private Path merges;

  @BeforeEach
  void setUp() throws IOException {
    conf = ObjectStoreFileSystem.configure();
    local = tmp.resolve("run");
    out = ObjectStoreFileSystem.uri(local);
    merges = tmp.resolve("merges.txt");
    Files.write(merges, "#version: 0.2\nh e\nl l\nhe ll\n\u00e9 t\n".getBytes(UTF_8));
  }

  @AfterEach
  void tearDown() {
    ObjectStoreFileSystem.reset();
  }

  @Test
  void autoChoosesPointerForObjectStoresAndRenameElsewhere() {
    var plain = new Configuration(false);
    assertThat(resolve(CommitMode.AUTO, "s3a://bucket/runs/b32", plain)).isEqualTo(CommitMode.POINTER);
    assertThat(resolve(CommitMode.AUTO, "S3A://bucket/runs/b32", plain)).isEqualTo(CommitMode.POINTER);
    assertThat(resolve(CommitMode.AUTO, "gs://bucket/runs/b32", plain)).isEqualTo(CommitMode.POINTER);
    assertThat(resolve(CommitMode.AUTO, "abfss://c@acct.dfs.core.windows.net/runs", plain))
        .isEqualTo(CommitMode.POINTER);
    assertThat(resolve(CommitMode.AUTO, "hdfs://nn:8020/runs/b32", plain)).isEqualTo(CommitMode.RENAME);
    assertThat(resolve(CommitMode.AUTO, "viewfs://cluster/runs/b32", plain)).isEqualTo(CommitMode.RENAME);
    assertThat(resolve(CommitMode.AUTO, "file:/runs/b32", plain)).isEqualTo(CommitMode.RENAME);
    assertThat(resolve(CommitMode.AUTO, tmp.resolve("b32").toString(), plain)).isEqualTo(CommitMode.RENAME);
    assertThat(resolve(CommitMode.AUTO, out, plain)).isEqualTo(CommitMode.RENAME);
    // A path without a scheme is on the default file system.
    var onS3 = new Configuration(false);
    onS3.set("fs.defaultFS", "s3a://bucket");
    assertThat(resolve(CommitMode.AUTO, "/runs/b32", onS3)).isEqualTo(CommitMode.POINTER);
    assertThat(resolve(CommitMode.AUTO, "runs/b32", onS3)).isEqualTo(CommitMode.POINTER);
    // An explicit mode is kept.
    assertThat(resolve(CommitMode.RENAME, "s3a://bucket/runs", plain)).isEqualTo(CommitMode.RENAME);
    assertThat(resolve(CommitMode.POINTER, "/runs/b32", plain)).isEqualTo(CommitMode.POINTER);
    // The list is the documented one, and it is what decides.
    assertThat(CommitMode.OBJECT_STORE_SCHEMES).containsExactlyInAnyOrder(
        "s3a", "s3", "s3n", "gs", "oss", "cosn", "wasb", "wasbs", "abfs", "abfss");
    assertThat(CommitMode.AUTO.resolve(new org.apache.hadoop.fs.Path(out), plain, Set.of("objstore")))
        .isEqualTo(CommitMode.POINTER);
  }

  @Test
  void pointerModeNeverRenamesAndWritesWhatRenameModeWrites() throws IOException {
    var model = model(1);
    var adam = new AdamW(model, AdamW.decayedNames(ClipParameters.specs(MICRO)));
    for (String name : model.names()) {
      model.gradient(name).assign(0.5);
    }
    adam.step(1e-3);
    var checkpoint = new Checkpoint(42, Map.of("epoch", 3L, "rng", -7L), MICRO, merges.toString(), model,
        OptimizerState.of(adam));
    ObjectStoreFileSystem.forbidRename();

    var saved = Checkpoints.save(out, checkpoint, 0, CommitMode.POINTER, conf);

    assertThat(ObjectStoreFileSystem.RENAMES).hasValue(0);
    assertThat(saved.toString()).isEqualTo(out + "/checkpoints/step-0000000042");
    assertThat(names(local.resolve("checkpoints"))).containsExactlyInAnyOrder("latest", "step-0000000042");
    assertThat(Files.readString(local.resolve("checkpoints/latest"))).isEqualTo("step-0000000042\n");

    // Byte for byte what the rename protocol writes on the local file system.
    var reference = Checkpoints.save(tmp.resolve("reference").toString(), checkpoint, 0, CommitMode.RENAME,
        new Configuration());
    Path referenceDir = Path.of(reference.toUri());
    Path dir = local.resolve("checkpoints/step-0000000042");
    var files = names(dir);
    assertThat(files).containsExactlyInAnyOrderElementsOf(
        names(referenceDir).stream().filter(n -> !n.endsWith(".crc")).toList());
    for (String file : files) {
      assertThat(Files.readAllBytes(dir.resolve(file))).as(file).isEqualTo(Files.readAllBytes(referenceDir.resolve(file)));
    }

    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(42);
    assertThat(loaded.trainerState()).isEqualTo(checkpoint.trainerState());
    assertSameTensors(loaded.parameters(), model);
    OptimizerState moments = loaded.optimizer().orElseThrow();
    assertThat(moments.stepCount()).isEqualTo(1);
    for (String name : model.names()) {
      assertThat(moments.firstMoments().get(name).dup('c').data().asBytes()).as(name)
          .isEqualTo(adam.firstMoment(name).dup('c').data().asBytes());
      assertThat(moments.secondMoments().get(name).dup('c').data().asBytes()).as(name)
          .isEqualTo(adam.secondMoment(name).dup('c').data().asBytes());
    }
    assertThat(ObjectStoreFileSystem.RENAMES).hasValue(0);
  }

  @Test
  void theTestFileSystemDoesSeeTheRenamesOfRenameMode() {
    save(1, model(2), 0, CommitMode.RENAME);
    assertThat(ObjectStoreFileSystem.RENAMES).hasValue(2); // the directory, then the pointer

    ObjectStoreFileSystem.forbidRename();
    assertThatThrownBy(() -> save(2, model(3), 0, CommitMode.RENAME))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("rename is forbidden on objstore");
    // AUTO does not know the made-up scheme, so it renames too.
    assertThatThrownBy(() -> save(2, model(3), 0, CommitMode.AUTO))
        .hasMessageContaining("rename is forbidden on objstore");
    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(1);
  }

  @Test
  void pointerModeRetentionKeepsTheNewestNWithoutRenaming() throws IOException {
    Path stale = Files.createDirectories(local.resolve("checkpoints/step-0000000000"));
    ObjectStoreFileSystem.forbidRename();
    for (long step = 1; step <= 5; step++) {
      save(step, model((int) step), 2, CommitMode.POINTER);
    }
    assertThat(ObjectStoreFileSystem.RENAMES).hasValue(0);
    assertThat(names(local.resolve("checkpoints")))
        .containsExactlyInAnyOrder("latest", "step-0000000004", "step-0000000005");
    assertThat(stale).doesNotExist();
    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(5);
    assertSameTensors(loaded.parameters(), model(5));
  }

  @ParameterizedTest(name = "failing create {0}")
  @ValueSource(ints = {1, 2, 3, 4, 5, 6})
  void aPointerSaveThatFailsMidwayLeavesThePreviousCheckpoint(int failingCreate) throws IOException {
    ObjectStoreFileSystem.forbidRename();
    save(1, model(4), 0, CommitMode.POINTER);
    assertThat(ObjectStoreFileSystem.CREATES).hasValue(CREATES_PER_SAVE);

    ObjectStoreFileSystem.failAtCreate(failingCreate, false);
    assertThatThrownBy(() -> save(2, model(5), 0, CommitMode.POINTER))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageStartingWith("Cannot save the checkpoint of step 2 to " + out + "/checkpoints/step-0000000002: ")
        .hasMessageContaining("injected failure creating");

    assertThat(Files.readString(local.resolve("checkpoints/latest"))).isEqualTo("step-0000000001\n");
    // What was written is cleaned up.
    assertThat(names(local.resolve("checkpoints"))).containsExactlyInAnyOrder("latest", "step-0000000001");
    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(1);
    assertSameTensors(loaded.parameters(), model(4));
  }

  @ParameterizedTest(name = "crash at create {0}")
  @ValueSource(ints = {1, 2, 3, 4, 5, 6})
  void aCrashedPointerSaveIsSkippedAndTheNextSaveOfThatStepReplacesIt(int failingCreate) throws IOException {
    ObjectStoreFileSystem.forbidRename();
    save(1, model(6), 0, CommitMode.POINTER);
    ObjectStoreFileSystem.failAtCreate(failingCreate, true);
    assertThatThrownBy(() -> save(2, model(7), 0, CommitMode.POINTER))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("injected failure creating");
    ObjectStoreFileSystem.reset();
    ObjectStoreFileSystem.forbidRename();

    // The crash left step-0000000002 behind: without checkpoint.json, or (crashing at the pointer) complete
    // but never published. The pointer still names step 1, and that is what loads.
    Path leftover = local.resolve("checkpoints/step-0000000002");
    assertThat(leftover).isDirectory();
    assertThat(leftover.resolve("checkpoint.json").toFile().exists()).isEqualTo(failingCreate == CREATES_PER_SAVE);
    assertThat(Files.readString(local.resolve("checkpoints/latest"))).isEqualTo("step-0000000001\n");
    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(1);
    assertSameTensors(loaded.parameters(), model(6));
    assertThat(leftover).isDirectory(); // loading changes nothing on an object store

    // The resumed run saves step 2 again: the leftover directory goes first, so nothing of it survives.
    Files.write(leftover.resolve("stray.bin"), new byte[] {1, 2, 3});
    save(2, model(8), 0, CommitMode.POINTER);
    assertThat(leftover.resolve("stray.bin")).doesNotExist();
    loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(2);
    assertSameTensors(loaded.parameters(), model(8));
    assertThat(ObjectStoreFileSystem.RENAMES).hasValue(0);
  }

  @Test
  void aStalePointerWinsOverANewerCheckpointThatDoesNotVerify() throws IOException {
    save(1, model(9), 0, CommitMode.POINTER);
    save(2, model(10), 0, CommitMode.POINTER);
    save(3, model(11), 0, CommitMode.POINTER);
    // As if step 3's files were torn and its pointer never published.
    Files.writeString(local.resolve("checkpoints/latest"), "step-0000000002\n");
    Path model3 = local.resolve("checkpoints/step-0000000003/model.bin");
    byte[] bytes = Files.readAllBytes(model3);
    bytes[100] ^= 0x01;
    Files.write(model3, bytes);

    assertThat(Checkpoints.loadLatest(out, conf).orElseThrow().step()).isEqualTo(2);
    // Without the pointer, the scan skips step 3, which does not verify.
    Files.delete(local.resolve("checkpoints/latest"));
    LoadedCheckpoint loaded = Checkpoints.loadLatest(out, conf).orElseThrow();
    assertThat(loaded.step()).isEqualTo(2);
    assertSameTensors(loaded.parameters(), model(10));
  }

  private static CommitMode resolve(CommitMode mode, String dir, Configuration conf) {
    return mode.resolve(new org.apache.hadoop.fs.Path(dir), conf);
  }

  private org.apache.hadoop.fs.Path save(long step, ParameterSet model, int keep, CommitMode mode) {
    return Checkpoints.save(out, new Checkpoint(step, Map.of("epoch", step), MICRO, merges.toString(), model, null),
        keep, mode, conf);
  }
}
