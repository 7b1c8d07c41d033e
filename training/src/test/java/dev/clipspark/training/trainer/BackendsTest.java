package dev.clipspark.training.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BackendsTest {

  @Test
  void theDefaultBuildIsTheCpuBackendAndNeedsNoGpu() {
    assertThat(Backends.onClasspath()).isEqualTo(Backends.Kind.CPU);
    assertThatCode(Backends::check).doesNotThrowAnyException();
  }

  @Test
  void hopperIsRefusedWithTheGpuAndItsCapability() {
    assertThatThrownBy(() -> Backends.requireSupported("NVIDIA H100 80GB HBM3, 9.0"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("NVIDIA H100 80GB HBM3")
        .hasMessageContaining("compute capability 9.0 is not supported")
        .hasMessageContaining("3.7 to 8.x");
    assertThatThrownBy(() -> Backends.requireSupported("NVIDIA B200, 10.0"))
        .hasMessageContaining("10.0");
  }

  @Test
  void keplersOlderThanTheK80AreRefusedToo() {
    assertThatThrownBy(() -> Backends.requireSupported("Tesla K40m, 3.5"))
        .hasMessageContaining("Tesla K40m: its compute capability 3.5 is not supported")
        .hasMessageContaining("3.7 to 8.x");
    assertThatCode(() -> Backends.requireSupported("Tesla K80, 3.7")).doesNotThrowAnyException();
    assertThatCode(() -> Backends.requireSupported("Tesla T4", "7.5")).doesNotThrowAnyException();
  }

  @Test
  void amperesAndAdasRunTheSm86Kernels() {
    assertThatCode(() -> Backends.requireSupported("NVIDIA A100-SXM4-40GB, 8.0")).doesNotThrowAnyException();
    assertThatCode(() -> Backends.requireSupported("NVIDIA L4, 8.9")).doesNotThrowAnyException();
    assertThatCode(() -> Backends.requireSupported("Tesla V100-SXM2-16GB, 7.0")).doesNotThrowAnyException();
  }

  @Test
  void anUnreadableCapabilityIsAClearError() {
    assertThatThrownBy(() -> Backends.requireSupported("Some GPU, [N/A]"))
        .hasMessage("Cannot read the compute capability of Some GPU from nvidia-smi: '[N/A]'");
  }
}
