package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs {@code bench/gpu-check.sh}, the command that proves the CUDA build on a GPU machine, on the CPU backend with
 * small sizes ({@code --cpu --quick}) against the packaged jar, so that every build exercises the script itself:
 * its Maven test run and report parsing, {@code bench train}, the 2-worker training and the PASS/FAIL lines.
 */
class GpuCheckIT {

  static final File ROOT = new File(System.getProperty("user.dir")).getParentFile();

  @TempDir
  Path dir;

  record Run(int code, String output) {}

  static Run gpuCheck(Path dir, String... args) throws Exception {
    var cmd = new ArrayList<String>();
    cmd.add(new File(ROOT, "bench/gpu-check.sh").getPath());
    cmd.addAll(List.of(args));
    Path log = dir.resolve("gpu-check-" + System.nanoTime() + ".log");
    var pb = new ProcessBuilder(cmd).directory(ROOT).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("MVN_ARGS", "-o");
    pb.environment().put("CLIP_DRIVER_MEMORY", "2g");
    Process p = pb.start();
    if (!p.waitFor(10, TimeUnit.MINUTES)) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      throw new AssertionError("bench/gpu-check.sh " + String.join(" ", args) + " did not finish in 10 minutes:\n"
          + Files.readString(log, StandardCharsets.UTF_8));
    }
    return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
  }

  @Test
  void everyPartPassesOnTheCpuBackend() throws Exception {
    Run run = gpuCheck(dir, "--cpu", "--quick", "--no-build", "--out", dir.resolve("out").toString());
    assertThat(run.code()).as(run.output()).isZero();
    assertThat(run.output()).as(run.output())
        .doesNotContain("FAIL ")
        .containsPattern("(?m)^PASS build: clipspark-spark-jobs-.*-app\\.jar, \\d+ MB, CPU backend \\(libnd4jcpu\\.so\\),"
            + " 0 CUDA libraries bundled, existing jar \\(--no-build\\)$")
        .containsPattern("(?m)^PASS layer-gradients: \\d+ tests in 3 classes, 0 skipped, 0 failed \\(ND4J backend:"
            + " CpuBackend; Maven run \\d+ s\\)$")
        .containsPattern("(?m)^PASS sharded-loss: \\d+ tests in 2 classes, 0 skipped, 0 failed")
        .containsPattern("(?m)^PASS host-memory: \\d+ tests in 3 classes, [1-9]\\d* skipped, 0 failed")
        .containsPattern("(?m)^PASS bench-train: tiny-vit batch 16: \\d+\\.\\d{3} s/step, \\d+\\.\\d\\d samples/s, MFU"
            + " \\d\\.\\d{3} of \\d+\\.\\d GFLOP/s GEMM, first loss \\d\\.\\d{4}$")
        .containsPattern("(?m)^PASS train-2-workers: 2 workers on one CPU, loss [0-9.]+ at step 1 -> [0-9.]+ at step"
            + " \\d+, zero-shot top-1 [0-9.]+, top-5 [0-9.]+ \\(chance 0\\.021\\), \\d+ s$")
        .contains("gpu-check: every part passed (CPU backend)");
    assertThat(dir.resolve("out/demo/train/metrics.jsonl")).isRegularFile();
  }

  @Test
  void aFailedPartIsAFailLineAndExitStatusOne() throws Exception {
    // The jar on hand is the CPU build: the GPU check's build part must say so and fail.
    Run run = gpuCheck(dir, "--no-build", "--parts", "build", "--out", dir.resolve("out").toString());
    assertThat(run.code()).as(run.output()).isEqualTo(1);
    assertThat(run.output()).containsPattern("(?m)^FAIL build: .*clipspark-spark-jobs-.*-app\\.jar does not hold"
        + " libnd4jcuda\\.so: it is not the CUDA build \\(--no-build\\)$")
        .contains("gpu-check: some parts FAILED (CUDA backend)");
  }

  @Test
  void badUsageExitsTwoNamingTheParts() throws Exception {
    Run run = gpuCheck(dir, "--parts", "build,warp-drive");
    assertThat(run.code()).isEqualTo(2);
    assertThat(run.output()).contains("gpu-check: unknown part 'warp-drive' in --parts; the parts are build,"
        + "layer-gradients,sharded-loss,host-memory,bench-train,train-2-workers");
  }
}
