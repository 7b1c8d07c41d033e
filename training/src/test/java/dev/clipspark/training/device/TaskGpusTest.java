package dev.clipspark.training.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.clipspark.training.trainer.Backends;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

class TaskGpusTest {

  private static Map<String, ResourceInformation> gpus(String... addresses) {
    return Map.of("gpu", new ResourceInformation("gpu", addresses));
  }

  @Test
  void theAssignedOrdinalIsBound() {
    assertThat(TaskGpus.chooseOrdinal("rank 1", gpus("1"), 4)).isEqualTo(OptionalInt.of(1));
    assertThat(TaskGpus.chooseOrdinal("rank 0", gpus("0"), 4)).isEqualTo(OptionalInt.of(0));
    assertThat(TaskGpus.chooseOrdinal("rank 3", gpus(" 3 "), 4)).isEqualTo(OptionalInt.of(3));
    // Several GPUs for one task: ND4J runs it on the first.
    assertThat(TaskGpus.chooseOrdinal("rank 0", gpus("2", "3"), 4)).isEqualTo(OptionalInt.of(2));
  }

  @Test
  void noGpuAssignedBindsNothing() {
    assertThat(TaskGpus.chooseOrdinal("embeddings", Map.of(), 2)).isEmpty();
    assertThat(TaskGpus.chooseOrdinal("embeddings",
        Map.of("fpga", new ResourceInformation("fpga", new String[] {"0"})), 2)).isEmpty();
    assertThat(TaskGpus.addresses(gpus("0", "1"))).containsExactly("0", "1");
  }

  @Test
  void anIsolatedProcessUsesItsOnlyGpuWhateverTheAddress() {
    assertThat(TaskGpus.chooseOrdinal("rank 5", gpus("5"), 1)).isEqualTo(OptionalInt.of(0));
  }

  @Test
  void addressesThatAreNoVisibleOrdinalAreClearErrors() {
    assertThatThrownBy(() -> TaskGpus.chooseOrdinal("training rank 2 of 4", gpus("2"), 2))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("Cannot bind training rank 2 of 4 to GPU 2: this process sees 2 GPUs (CUDA ordinals"
            + " 0 to 1)")
        .hasMessageContaining("conf/spark/gpu-discovery.sh");
    assertThatThrownBy(() -> TaskGpus.chooseOrdinal("embeddings", gpus("GPU-8c3f0a"), 2))
        .hasMessage("Cannot bind embeddings to GPU address 'GPU-8c3f0a': Spark's GPU addresses must be CUDA device"
            + " ordinals (0, 1, ...), as conf/spark/gpu-discovery.sh prints them");
    assertThatThrownBy(() -> TaskGpus.chooseOrdinal("embeddings", gpus("0"), 0))
        .hasMessageStartingWith("Cannot bind embeddings to GPU 0: ND4J's CUDA backend sees no GPU in this process");
  }

  @Test
  void devicesAreDescribedFromNd4jsEnvironmentInformation() {
    Map<Object, Object> env = Map.of("cuda.devicesInformation", List.of(
        Map.of("cuda.deviceName", "Tesla T4", "cuda.deviceMajor", 7, "cuda.deviceMinor", 5,
            "cuda.totalMemory", 15_843_721_216L),
        Map.of("cuda.deviceName", "NVIDIA A100-SXM4-40GB", "cuda.deviceMajor", 8, "cuda.deviceMinor", 0)));
    var t4 = TaskGpus.describe(0, env);
    assertThat(t4).isEqualTo(new TaskGpus.Device(0, "Tesla T4", 7, 5, 15_843_721_216L));
    assertThat(t4.computeCapability()).isEqualTo("7.5");
    assertThat(TaskGpus.describe(1, env).computeCapability()).isEqualTo("8.0");
    assertThatThrownBy(() -> TaskGpus.describe(2, env)).isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("Cannot describe GPU 2: ND4J's environment information lists no such device");
    assertThatThrownBy(() -> TaskGpus.describe(0, Map.of("cuda.devicesInformation",
        List.of(Map.of("cuda.deviceName", "X"))))).hasMessageStartingWith(
            "Cannot describe GPU 0: ND4J's environment information has no cuda.deviceMajor");
  }

  @Test
  void onTheCpuBackendBindingIsANoOp() throws InterruptedException {
    assumeTrue(Backends.onClasspath() == Backends.Kind.CPU, "the CPU build");
    int before = Nd4j.getAffinityManager().getDeviceForCurrentThread();
    assertThat(TaskGpus.bind("training rank 0 of 1")).isEmpty();
    assertThat(Nd4j.getAffinityManager().getDeviceForCurrentThread()).isEqualTo(before);

    Runnable same = TaskGpus.sameDeviceInAnotherThread();
    var seen = new AtomicReference<Integer>();
    Thread t = new Thread(() -> {
      same.run();
      seen.set(Nd4j.getAffinityManager().getDeviceForCurrentThread());
    });
    t.start();
    t.join();
    assertThat(seen.get()).isEqualTo(before);
  }

  @Test
  void onTheCudaBackendATaskWithoutGpusKeepsNd4jsDeviceAndDescribesIt() {
    assumeTrue(Backends.onClasspath() == Backends.Kind.CUDA, "the CUDA build (-Pcuda) on a GPU machine");
    int before = Nd4j.getAffinityManager().getDeviceForCurrentThread();
    var device = TaskGpus.bind("a test outside Spark");
    assertThat(device).isPresent();
    assertThat(device.get().ordinal()).isEqualTo(before);
    assertThat(device.get().major()).isBetween(3, 8);
    assertThat(device.get().name()).isNotBlank();
    System.out.println("GPU: " + device.get());
  }
}
