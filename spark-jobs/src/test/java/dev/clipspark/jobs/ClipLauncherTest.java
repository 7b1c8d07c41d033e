package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher, {@code bin/clip}, on a copy of the tree with nothing built, as a new user meets it: it must say
 * that nothing is built (with {@code CLIP_NO_BUILD=1}), or build and then run the command, or say that the build
 * failed and where its log is. Maven and Java are stand-in scripts on {@code PATH}, so no real build runs here
 * ({@code .ci/run} runs the real one on the clean checkout).
 */
class ClipLauncherTest {

  static final Path LAUNCHER = new File(System.getProperty("user.dir")).getParentFile().toPath().resolve("bin/clip");

  @TempDir
  Path dir;

  Path tree;
  Path tools;

  record Run(int code, String output) {}

  @BeforeEach
  void copyTree() throws Exception {
    tree = dir.resolve("clone");
    Files.createDirectories(tree.resolve("bin"));
    Files.createDirectories(tree.resolve("spark-jobs/src/main"));
    Files.writeString(tree.resolve("pom.xml"), "<project/>");
    Files.copy(LAUNCHER, tree.resolve("bin/clip"));
    tools = Files.createDirectories(dir.resolve("tools"));
  }

  private void script(String name, String body) throws Exception {
    Path p = tools.resolve(name);
    Files.writeString(p, "#!/usr/bin/env bash\n" + body + "\n");
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private Run clip(Map<String, String> env, String... args) throws Exception {
    var cmd = new java.util.ArrayList<String>();
    cmd.add(tree.resolve("bin/clip").toString());
    cmd.addAll(List.of(args));
    Path log = dir.resolve("out-" + System.nanoTime() + ".log");
    var pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().remove("CLIP_NO_BUILD");
    pb.environment().put("PATH", tools + File.pathSeparator + System.getenv("PATH"));
    pb.environment().putAll(env);
    Process p = pb.start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("bin/clip did not finish in 60 s");
    }
    return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
  }

  @Test
  void withNothingBuiltAndNoBuildAllowedItSaysSoAndExits2() throws Exception {
    script("mvn", "echo called > \"" + dir.resolve("mvn-called") + "\"; exit 1");
    Run run = clip(Map.of("CLIP_NO_BUILD", "1"), "--version");
    assertThat(run.code()).as(run.output()).isEqualTo(2);
    assertThat(run.output()).contains("no application jar in " + tree.resolve("spark-jobs/target"))
        .contains("CLIP_NO_BUILD=1").contains("mvn -DskipTests package");
    assertThat(dir.resolve("mvn-called")).doesNotExist();
  }

  @Test
  void withNothingBuiltItBuildsThenRunsTheCommand() throws Exception {
    // A stand-in Maven that records where and how it ran and leaves what the real build leaves.
    script("mvn", String.join("\n",
        "echo \"$PWD $*\" > \"" + dir.resolve("mvn-called") + "\"",
        "mkdir -p spark-jobs/target/spark-lib",
        "touch spark-jobs/target/clipspark-spark-jobs-9.9-app.jar",
        "echo '[INFO] BUILD SUCCESS'"));
    script("java", "echo \"java ran: $*\"");
    Run run = clip(Map.of("JAVA", tools.resolve("java").toString()), "demo", "--out", "x");
    assertThat(run.code()).as(run.output()).isZero();
    assertThat(Files.readString(dir.resolve("mvn-called"))).startsWith(tree + " ").contains("-DskipTests package");
    assertThat(run.output()).contains("bin/clip: building the application jar")
        .contains("log: " + tree.resolve("target/bin-clip-build.log"))
        .contains("bin/clip: built " + tree.resolve("spark-jobs/target/clipspark-spark-jobs-9.9-app.jar"))
        .contains("java ran: ").contains("dev.clipspark.jobs.Main demo --out x");
    assertThat(Files.readString(tree.resolve("target/bin-clip-build.log"))).contains("BUILD SUCCESS");
  }

  @Test
  void aFailedBuildSaysSoAndWhereItsLogIs() throws Exception {
    script("mvn", "echo '[INFO] compiling'; echo '[ERROR] COMPILATION ERROR: Foo.java:[3,1] expected'; exit 1");
    script("java", "echo \"java ran: $*\"");
    Run run = clip(Map.of("JAVA", tools.resolve("java").toString()), "--version");
    assertThat(run.code()).as(run.output()).isEqualTo(1);
    assertThat(run.output()).contains("bin/clip: the build failed")
        .contains("[ERROR] COMPILATION ERROR: Foo.java:[3,1] expected")
        .contains("full build log: " + tree.resolve("target/bin-clip-build.log"))
        .doesNotContain("java ran");
  }
}
