package dev.clipspark.training.device;

import dev.clipspark.training.trainer.Backends;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts a Spark task on the GPU Spark assigned it. Spark hands every task the addresses of its GPUs
 * ({@code TaskContext.resources().get("gpu")}, from {@code spark.task.resource.gpu.amount} and the executor's
 * discovery script); ND4J knows nothing of them and runs a thread's work on its own choice of device. {@link #bind}
 * makes the calling task thread use the assigned GPU (ND4J's {@code AffinityManager.unsafeSetDevice}) and logs the
 * device's name and compute capability, refusing a GPU the CUDA build cannot run (Hopper and newer) with
 * {@link Backends}' message.
 *
 * <p>Addresses are CUDA device ordinals of the executor's process, as {@code conf/spark/gpu-discovery.sh} prints
 * them (it renumbers through {@code CUDA_VISIBLE_DEVICES}). A process that sees exactly one GPU uses it whatever
 * the address: the isolation of YARN, Kubernetes or {@code CUDA_VISIBLE_DEVICES} has already chosen it, which is
 * the alternative to binding (one GPU per executor).
 *
 * <p>On the CPU backend (the default build) there is nothing to bind: {@link #bind} returns at once without
 * touching ND4J.
 */
public final class TaskGpus {

  /** Spark's resource name for GPUs. */
  public static final String GPU = "gpu";

  private static final Logger LOG = LoggerFactory.getLogger(TaskGpus.class);
  private static final boolean CUDA = Backends.onClasspath() == Backends.Kind.CUDA;
  private static volatile boolean checked;

  /** The device a task was bound to: its CUDA ordinal, name and compute capability. */
  public record Device(int ordinal, String name, int major, int minor, long totalBytes) {
    /** {@code major.minor}. */
    public String computeCapability() {
      return major + "." + minor;
    }
  }

  private TaskGpus() {}

  /**
   * Binds the calling thread, a Spark task's, to the GPU Spark assigned the task, and logs it; does nothing on the
   * CPU backend or outside a Spark task.
   *
   * @param task what the task does, for the log and messages ("training rank 1", "embeddings")
   * @return the device bound, or empty when nothing was bound
   * @throws IllegalStateException if the assigned address is not a GPU this process can use, or the GPU is too
   *     new for the CUDA build
   */
  public static Optional<Device> bind(String task) {
    if (!CUDA) {
      return Optional.empty();
    }
    requireSupportedGpusOnce();
    TaskContext context = TaskContext.get();
    Map<String, ResourceInformation> resources = context == null ? Map.of() : context.resourcesJMap();
    int visible = Nd4j.getAffinityManager().getNumberOfDevices();
    OptionalInt ordinal = chooseOrdinal(task, resources, visible);
    if (ordinal.isPresent()) {
      Nd4j.getAffinityManager().unsafeSetDevice(ordinal.getAsInt());
    } else {
      LOG.warn("{}: Spark assigned this task no GPU (spark.task.resource.gpu.amount is not set), so ND4J uses its"
          + " default, GPU {} of the {} this process sees", task, Nd4j.getAffinityManager()
          .getDeviceForCurrentThread(), visible);
    }
    int used = Nd4j.getAffinityManager().getDeviceForCurrentThread();
    Device device = describe(used);
    Backends.requireSupported(device.name(), device.computeCapability());
    LOG.info("{}: ND4J's CUDA backend on GPU {} of {} ({}, compute capability {}, {} MiB){}", task, used, visible,
        device.name(), device.computeCapability(), device.totalBytes() >> 20,
        resources.containsKey(GPU) ? ", Spark's address " + String.join(",", addresses(resources)) : "");
    return Optional.of(device);
  }

  /**
   * A task that makes the thread running it use the calling thread's GPU: for helper threads that create ND4J
   * arrays for the caller. A no-op on the CPU backend.
   */
  public static Runnable sameDeviceInAnotherThread() {
    if (!CUDA) {
      return () -> { };
    }
    int device = Nd4j.getAffinityManager().getDeviceForCurrentThread();
    return () -> Nd4j.getAffinityManager().unsafeSetDevice(device);
  }

  /**
   * The CUDA ordinal to bind for the task's resources: empty when Spark assigned no GPU; 0 when the process sees
   * a single GPU; otherwise the first assigned address, which must be an ordinal below {@code visible}.
   *
   * @throws IllegalStateException naming the task, the address and what is allowed
   */
  static OptionalInt chooseOrdinal(String task, Map<String, ResourceInformation> resources, int visible) {
    List<String> addresses = addresses(resources);
    if (addresses.isEmpty()) {
      return OptionalInt.empty();
    }
    if (visible < 1) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "Cannot bind %s to GPU %s: ND4J's CUDA backend sees no GPU in this process (CUDA_VISIBLE_DEVICES=%s)",
          task, addresses.get(0), System.getenv().getOrDefault("CUDA_VISIBLE_DEVICES", "<unset>")));
    }
    if (addresses.size() > 1) {
      LOG.warn("{}: Spark assigned GPUs {}; ND4J runs a task on one GPU, so only {} is used (set"
          + " spark.task.resource.gpu.amount to 1 or less)", task, String.join(",", addresses), addresses.get(0));
    }
    String address = addresses.get(0).strip();
    int ordinal;
    try {
      ordinal = Integer.parseInt(address);
    } catch (NumberFormatException e) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "Cannot bind %s to GPU address '%s': Spark's GPU addresses must be CUDA device ordinals (0, 1, ...), as"
              + " conf/spark/gpu-discovery.sh prints them", task, address), e);
    }
    if (visible == 1) {
      return OptionalInt.of(0); // isolated: the only GPU this process can open is the one it was given
    }
    if (ordinal < 0 || ordinal >= visible) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "Cannot bind %s to GPU %d: this process sees %d GPUs (CUDA ordinals 0 to %d); the executor's discovery"
              + " script (spark.executor.resource.gpu.discoveryScript) must print CUDA ordinals, as"
              + " conf/spark/gpu-discovery.sh does", task, ordinal, visible, visible - 1));
    }
    return OptionalInt.of(ordinal);
  }

  /** The addresses of the task's {@value #GPU} resource, empty when it has none. */
  static List<String> addresses(Map<String, ResourceInformation> resources) {
    ResourceInformation gpus = resources.get(GPU);
    return gpus == null ? List.of() : List.of(gpus.addresses());
  }

  /**
   * Name, compute capability and memory of a CUDA device from ND4J's environment information
   * ({@code cuda.devicesInformation}).
   */
  static Device describe(int ordinal) {
    return describe(ordinal, Nd4j.getExecutioner().getEnvironmentInformation());
  }

  /** {@link #describe(int)} from given environment information (its keys as ND4J's CUDA executioner sets them). */
  static Device describe(int ordinal, Map<Object, Object> environment) {
    Object all = environment.get("cuda.devicesInformation");
    if (!(all instanceof List<?> devices) || ordinal >= devices.size()
        || !(devices.get(ordinal) instanceof Map<?, ?> info)) {
      throw new IllegalStateException("Cannot describe GPU " + ordinal + ": ND4J's environment information lists no"
          + " such device (cuda.devicesInformation: " + all + ")");
    }
    return new Device(ordinal, String.valueOf(info.get("cuda.deviceName")), number(info, "cuda.deviceMajor", ordinal),
        number(info, "cuda.deviceMinor", ordinal), info.get("cuda.totalMemory") instanceof Number n ? n.longValue() : 0);
  }

  private static int number(Map<?, ?> info, String key, int ordinal) {
    if (info.get(key) instanceof Number n) {
      return n.intValue();
    }
    throw new IllegalStateException("Cannot describe GPU " + ordinal + ": ND4J's environment information has no "
        + key + " (" + info + ")");
  }

  /** Runs {@link Backends#check()} (nvidia-smi, before ND4J's CUDA backend starts) once per JVM. */
  private static void requireSupportedGpusOnce() {
    if (!checked) {
      synchronized (TaskGpus.class) {
        if (!checked) {
          Backends.check();
          checked = true;
        }
      }
    }
  }
}
