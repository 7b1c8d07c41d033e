package dev.clipspark.training.trainer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Which ND4J backend the classpath holds, and whether this machine can run it. The {@code cuda} Maven
 * profile swaps {@code nd4j-native} for {@code nd4j-cuda-11.6}, whose kernels are compiled for compute
 * capabilities 3.7 to 8.6 without PTX: on a Hopper GPU (9.0) or newer they cannot launch and ND4J fails
 * deep inside native code. {@link #check()} runs before ND4J initialises and turns that into a clear
 * error.
 */
public final class Backends {

  /** ND4J's CUDA backend class, present only in the {@code cuda} build. */
  static final String CUDA_BACKEND_CLASS = "org.nd4j.linalg.jcublas.JCublasBackend";
  /**
   * The first compute capability {@code nd4j-cuda-11.6} 1.0.0-M2.1 cannot run: its kernels are built for
   * 3.7 to 8.6 without PTX, and a kernel binary runs only on GPUs of its own major version.
   */
  static final double FIRST_UNSUPPORTED = 9.0;
  /** The oldest compute capability the kernels are built for (the Tesla K80's). */
  static final double OLDEST_SUPPORTED = 3.7;

  /** The backend the classpath selects. */
  public enum Kind {
    /** {@code nd4j-native}: CPU. */
    CPU,
    /** {@code nd4j-cuda-11.6}. */
    CUDA
  }

  private Backends() {}

  /** Sets the threads of ND4J's element-wise (OpenMP) kernels; 0 leaves ND4J's default. */
  public static void setThreads(int threads) {
    if (threads > 0) {
      org.nd4j.linalg.factory.Nd4j.getEnvironment().setMaxThreads(threads);
      org.nd4j.linalg.factory.Nd4j.getEnvironment().setMaxMasterThreads(threads);
    }
  }

  /** The backend on the classpath, found without initialising ND4J. */
  public static Kind onClasspath() {
    try {
      Class.forName(CUDA_BACKEND_CLASS, false, Backends.class.getClassLoader());
      return Kind.CUDA;
    } catch (ClassNotFoundException e) {
      return Kind.CPU;
    }
  }

  /**
   * Fails before ND4J starts when the CUDA backend is on the classpath but a visible GPU is too new for
   * it (or no GPU can be queried); does nothing for the CPU backend.
   *
   * @throws IllegalStateException naming the GPU, its compute capability and what is supported
   */
  public static void check() {
    if (onClasspath() != Kind.CUDA) {
      return;
    }
    List<String> gpus = queryGpus();
    if (gpus.isEmpty()) {
      throw new IllegalStateException("Cannot start ND4J's CUDA backend: nvidia-smi lists no GPU on this machine;"
          + " run the CPU build (without -Pcuda) here");
    }
    for (String line : gpus) {
      requireSupported(line);
    }
  }

  /**
   * Checks one {@code nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader} line.
   *
   * @throws IllegalStateException if the compute capability is {@value #FIRST_UNSUPPORTED} or newer, or older
   *     than {@value #OLDEST_SUPPORTED}
   */
  static void requireSupported(String nvidiaSmiLine) {
    int comma = nvidiaSmiLine.lastIndexOf(',');
    String name = comma < 0 ? "GPU" : nvidiaSmiLine.substring(0, comma).strip();
    requireSupported(name, nvidiaSmiLine.substring(comma + 1).strip());
  }

  /**
   * Checks a GPU's compute capability ({@code major.minor}, as nvidia-smi or ND4J's environment information give
   * it) against what the CUDA build can run.
   *
   * @throws IllegalStateException naming the GPU if the compute capability is below {@value #OLDEST_SUPPORTED},
   *     {@value #FIRST_UNSUPPORTED} or newer, or cannot be read
   */
  public static void requireSupported(String name, String cap) {
    double value;
    try {
      value = Double.parseDouble(cap);
    } catch (NumberFormatException e) {
      throw new IllegalStateException("Cannot read the compute capability of " + name + " from nvidia-smi: '" + cap
          + "'", e);
    }
    if (value >= FIRST_UNSUPPORTED || value < OLDEST_SUPPORTED) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "Cannot run ND4J's CUDA backend on %s: its compute capability %s is not supported; nd4j-cuda-11.6"
              + " 1.0.0-M2.1 has kernels for compute capability 3.7 to 8.x only (Hopper and newer GPUs cannot run"
              + " them). Use GPUs such as V100, T4, A100, A10 or L4, or the CPU build (without -Pcuda)", name, cap));
    }
  }

  private static List<String> queryGpus() {
    var command = List.of("nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader");
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      var lines = new ArrayList<String>();
      try (var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = in.readLine()) != null; ) {
          if (!line.isBlank()) {
            lines.add(line);
          }
        }
      }
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("Cannot query GPUs: " + String.join(" ", command) + " failed: "
            + String.join("; ", lines));
      }
      return lines;
    } catch (IOException e) {
      return List.of(); // no nvidia-smi: no NVIDIA driver on this machine
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Cannot query GPUs: interrupted", e);
    }
  }
}
