package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.network.util.JavaUtils;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.util.Utils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spark-submit examples in conf/spark/ must load in Spark, budget ND4J's off-heap memory consistently, carry
 * the settings barrier training needs, and ask for GPUs in a way Spark accepts; the GPU discovery script must
 * print what Spark parses.
 */
class SparkConfExamplesTest {

  static final Path ROOT = new File(System.getProperty("user.dir")).getParentFile().toPath();
  static final Path SPARK_CONF = ROOT.resolve("conf/spark");
  static final Path DISCOVERY = SPARK_CONF.resolve("gpu-discovery.sh");
  static final Pattern JAVACPP = Pattern.compile("-Dorg\\.bytedeco\\.javacpp\\.(maxbytes|maxphysicalbytes)=(\\S+)");
  static final List<String> CLUSTER_FILES = List.of("spark-defaults.yarn.conf", "spark-defaults.k8s.conf");

  @TempDir
  Path tmp;

  // ---------------------------------------------------------------- every spark-defaults.*.conf

  static List<Path> defaultsFiles() throws IOException {
    try (Stream<Path> files = Files.list(SPARK_CONF)) {
      return files.filter(p -> p.getFileName().toString().matches("spark-defaults\\..+\\.conf")).sorted().toList();
    }
  }

  /** The file as Spark's spark-submit reads it. */
  static Map<String, String> load(Path file) {
    var loaded = Utils.getPropertiesFromFile(file.toString());
    return new TreeMap<>(scala.collection.JavaConverters.mapAsJavaMap(loaded));
  }

  static Map<String, String> load(String name) {
    return load(SPARK_CONF.resolve(name));
  }

  @Test
  void theExamplesExist() throws IOException {
    assertThat(defaultsFiles()).extracting(p -> p.getFileName().toString())
        .contains("spark-defaults.local.conf", "spark-defaults.yarn.conf", "spark-defaults.k8s.conf");
    assertThat(SPARK_CONF.resolve("executor-pod-template.yaml")).isRegularFile();
    assertThat(SPARK_CONF.resolve("yarn-gpu.xml")).isRegularFile();
  }

  @Test
  void everySettingIsASparkKeyWithItsReasonOnTheLineAbove() throws IOException {
    for (Path file : defaultsFiles()) {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < lines.size(); i++) {
        String line = lines.get(i).strip();
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        String key = line.split("[=:\\s]", 2)[0];
        keys.add(key);
        assertThat(key).as("%s line %d", file.getFileName(), i + 1).startsWith("spark.");
        assertThat(i > 0 ? lines.get(i - 1).strip() : "").as("the line above %s in %s", key, file.getFileName())
            .startsWith("#").hasSizeGreaterThan(2);
      }
      // Spark reads exactly the settings written, one per line (no continuation line swallowed a setting).
      assertThat(load(file).keySet()).as("%s as Spark loads it", file.getFileName())
          .containsExactlyInAnyOrderElementsOf(keys);
    }
  }

  @Test
  void barrierTrainingSettings() throws IOException {
    for (Path file : defaultsFiles()) {
      var conf = load(file);
      String name = file.getFileName().toString();
      assertThat(conf).as(name).containsEntry("spark.dynamicAllocation.enabled", "false");
      assertThat(Integer.parseInt(conf.get("spark.stage.maxConsecutiveAttempts"))).as(name).isGreaterThan(1);
      assertThat(JavaUtils.timeStringAsSec(conf.get("spark.scheduler.barrier.maxConcurrentTasksCheck.interval"))
          * Integer.parseInt(conf.get("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures")))
          .as("%s: seconds before too many barrier tasks fail the job", name).isBetween(1L, 120L);
    }
    for (String name : CLUSTER_FILES) {
      var conf = load(name);
      assertThat(conf).as(name).containsEntry("spark.scheduler.minRegisteredResourcesRatio", "1.0");
      assertThat(Integer.parseInt(conf.get("spark.task.maxFailures"))).as(name).isGreaterThan(1);
      assertThat(conf.get("spark.executorEnv.OMP_NUM_THREADS")).as("%s: OpenMP threads = task cpus", name)
          .isEqualTo(conf.get("spark.task.cpus"));
      assertThat(Integer.parseInt(conf.get("spark.executor.instances"))).as(name).isPositive();
      assertThat(conf).as(name).containsKey("spark.executorEnv.GLIBC_TUNABLES");
    }
    // Local mode retries a failed task (and so a failed barrier stage) only with a failure count in the master.
    Matcher local = Pattern.compile("local\\[(\\*|\\d+),\\s*(\\d+)]")
        .matcher(load("spark-defaults.local.conf").get("spark.master"));
    assertThat(local.matches()).as("spark.master of spark-defaults.local.conf").isTrue();
    assertThat(Integer.parseInt(local.group(2))).isGreaterThan(1);
  }

  // ---------------------------------------------------------------- memory

  /** A size as JavaCPP parses it (its own parser, reached by reflection: it is not public). */
  static long javacppBytes(String value) throws Exception {
    Class<?> pointer = Class.forName("org.bytedeco.javacpp.Pointer", false, SparkConfExamplesTest.class.getClassLoader());
    Method parse = pointer.getDeclaredMethod("parseBytes", String.class, long.class);
    parse.setAccessible(true);
    return (long) parse.invoke(null, value, Runtime.getRuntime().maxMemory());
  }

  /** The JavaCPP limits in {@code spark.<role>.extraJavaOptions}, in bytes, checked against JavaCPP's own parser. */
  static Map<String, Long> javacppLimits(Map<String, String> conf, String role, String file) throws Exception {
    String options = conf.getOrDefault("spark." + role + ".extraJavaOptions", "");
    assertThat(options).as("%s spark.%s.extraJavaOptions (Spark refuses -Xmx there)", file, role).doesNotContain("-Xmx");
    var limits = new TreeMap<String, Long>();
    Matcher m = JAVACPP.matcher(options);
    while (m.find()) {
      long spark = JavaUtils.byteStringAsBytes(m.group(2));
      assertThat(javacppBytes(m.group(2))).as("%s %s as JavaCPP reads it", file, m.group()).isEqualTo(spark);
      limits.put(m.group(1), spark);
    }
    return limits;
  }

  @Test
  void memoryBudgetsCoverNd4jOffHeapMemory() throws Exception {
    int budgets = 0;
    for (Path file : defaultsFiles()) {
      var conf = load(file);
      String name = file.getFileName().toString();
      for (String role : List.of("driver", "executor")) {
        var limits = javacppLimits(conf, role, name);
        if (limits.isEmpty()) {
          continue;
        }
        budgets++;
        assertThat(limits).as("%s spark.%s.extraJavaOptions", name, role).containsOnlyKeys("maxbytes", "maxphysicalbytes");
        long heap = JavaUtils.byteStringAsBytes(conf.get("spark." + role + ".memory"));
        long arrays = limits.get("maxbytes");
        long physical = limits.get("maxphysicalbytes");
        assertThat(physical).as("%s %s: maxphysicalbytes >= heap + maxbytes", name, role).isGreaterThanOrEqualTo(heap + arrays);
        String overheadKey = "spark." + role + ".memoryOverhead";
        if (conf.containsKey(overheadKey)) {
          long overhead = JavaUtils.byteStringAsBytes(conf.get(overheadKey));
          // Spark's own minimum overhead for the JVM's native memory: max(384 MiB, 10% of the heap).
          long jvmMargin = Math.max(384L << 20, heap / 10);
          assertThat(overhead).as("%s %s: overhead >= maxbytes + max(384m, heap/10)", name, role)
              .isGreaterThanOrEqualTo(arrays + jvmMargin);
          assertThat(physical).as("%s %s: maxphysicalbytes <= the container (heap + overhead)", name, role)
              .isLessThanOrEqualTo(heap + overhead);
        }
      }
    }
    assertThat(budgets).isGreaterThanOrEqualTo(5);
    for (String name : CLUSTER_FILES) {
      var conf = load(name);
      assertThat(conf).as(name).containsKeys("spark.executor.memory", "spark.executor.memoryOverhead");
      assertThat(javacppLimits(conf, "executor", name)).as(name).containsOnlyKeys("maxbytes", "maxphysicalbytes");
    }
    assertThat(javacppLimits(load("spark-defaults.local.conf"), "driver", "local")).hasSize(2);
  }

  // ---------------------------------------------------------------- GPUs

  @Test
  void gpuRequestsAreOnesSparkAccepts() throws IOException {
    for (String name : CLUSTER_FILES) {
      var conf = load(name);
      double executorGpus = Double.parseDouble(conf.get("spark.executor.resource.gpu.amount"));
      double taskGpus = Double.parseDouble(conf.get("spark.task.resource.gpu.amount"));
      assertThat(executorGpus).as(name).isPositive();
      assertThat(taskGpus).as(name).isPositive().isLessThanOrEqualTo(executorGpus);
      // Spark accepts a whole number of GPUs per task, or 1/n of one; either way it must divide the executor's.
      double perGpu = taskGpus >= 1 ? taskGpus : 1 / taskGpus;
      assertThat(perGpu).as("%s: task GPU amount is whole or 1/n", name).isEqualTo(Math.rint(perGpu));
      double gpuSlots = taskGpus >= 1 ? executorGpus / taskGpus : executorGpus * perGpu;
      assertThat(gpuSlots).as("%s: task GPU amount divides the executor's", name).isEqualTo(Math.rint(gpuSlots));
      // SparkContext refuses executors whose GPUs give fewer task slots than their cores.
      int cpuSlots = Integer.parseInt(conf.get("spark.executor.cores")) / Integer.parseInt(conf.get("spark.task.cpus"));
      assertThat((int) gpuSlots).as("%s: GPU slots = CPU slots per executor", name).isEqualTo(cpuSlots);
      String script = conf.get("spark.executor.resource.gpu.discoveryScript");
      assertThat(Path.of(script).getFileName().toString()).as("%s discovery script", name)
          .isEqualTo(DISCOVERY.getFileName().toString());
    }
    var k8s = load("spark-defaults.k8s.conf");
    assertThat(k8s).containsEntry("spark.executor.resource.gpu.vendor", "nvidia.com");
    assertThat(ROOT.resolve(k8s.get("spark.kubernetes.executor.podTemplateFile")))
        .isEqualTo(SPARK_CONF.resolve("executor-pod-template.yaml")).isRegularFile();
    assertThat(k8s).containsKeys("spark.kubernetes.container.image", "spark.kubernetes.namespace",
        "spark.kubernetes.authenticate.driver.serviceAccountName");
    // On YARN the script is shipped with --files into each container's working directory.
    assertThat(load("spark-defaults.yarn.conf").get("spark.executor.resource.gpu.discoveryScript"))
        .isEqualTo("./gpu-discovery.sh");
  }

  @Test
  @SuppressWarnings("unchecked")
  void podTemplateAsksForTheGpusTheSettingsDo() throws IOException {
    // SnakeYAML as shaded into ND4J's jackson jar (the only YAML parser on this classpath).
    Object parsed;
    try (var in = Files.newInputStream(SPARK_CONF.resolve("executor-pod-template.yaml"))) {
      parsed = new org.nd4j.shade.yaml.snakeyaml.Yaml().load(in);
    }
    var pod = (Map<String, Object>) parsed;
    assertThat(pod).containsEntry("apiVersion", "v1").containsEntry("kind", "Pod");
    var spec = (Map<String, Object>) pod.get("spec");
    var container = ((List<Map<String, Object>>) spec.get("containers")).get(0);
    var limits = (Map<String, Object>) ((Map<String, Object>) container.get("resources")).get("limits");
    var k8s = load("spark-defaults.k8s.conf");
    assertThat(String.valueOf(limits.get(k8s.get("spark.executor.resource.gpu.vendor") + "/gpu")))
        .as("the template's GPU limit").isEqualTo(String.valueOf(
            (int) Double.parseDouble(k8s.get("spark.executor.resource.gpu.amount"))));
    assertThat((List<Map<String, Object>>) spec.get("tolerations")).extracting(t -> t.get("key")).contains("nvidia.com/gpu");
    assertThat((Map<String, Object>) spec.get("nodeSelector")).isNotEmpty();
    var shm = ((List<Map<String, Object>>) spec.get("volumes")).stream()
        .filter(v -> v.containsKey("emptyDir")).findFirst().orElseThrow();
    assertThat((Map<String, Object>) shm.get("emptyDir")).containsEntry("medium", "Memory");
    assertThat((List<Map<String, Object>>) container.get("volumeMounts"))
        .anySatisfy(m -> assertThat(m).containsEntry("name", shm.get("name")).containsEntry("mountPath", "/dev/shm"));
  }

  @Test
  void yarnGpuSnippetLoadsInHadoopAndEnablesGpus() {
    var conf = new Configuration(false);
    conf.addResource(new org.apache.hadoop.fs.Path(SPARK_CONF.resolve("yarn-gpu.xml").toUri()));
    assertThat(conf.get("yarn.resource-types")).isEqualTo("yarn.io/gpu");
    assertThat(conf.get("yarn.nodemanager.resource-plugins")).isEqualTo("yarn.io/gpu");
    assertThat(conf.get("yarn.scheduler.capacity.resource-calculator"))
        .isEqualTo("org.apache.hadoop.yarn.util.resource.DominantResourceCalculator");
  }

  // ---------------------------------------------------------------- gpu-discovery.sh

  record Run(int exit, String stdout, String stderr) {}

  /** Runs the discovery script with PATH holding only {@code path} (no system nvidia-smi can leak in). */
  static Run discover(Path path, Map<String, String> env) throws Exception {
    var pb = new ProcessBuilder("bash", DISCOVERY.toString());
    pb.environment().remove("CUDA_VISIBLE_DEVICES");
    pb.environment().remove("NVIDIA_VISIBLE_DEVICES");
    pb.environment().put("PATH", path.toString());
    pb.environment().putAll(env);
    Process p = pb.start();
    p.getOutputStream().close();
    var out = p.getInputStream().readAllBytes();
    var err = p.getErrorStream().readAllBytes();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
  }

  /** A fake nvidia-smi that answers only the query the script must make. */
  Path fakeNvidiaSmi(String name, String listing) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve(name));
    Path smi = dir.resolve("nvidia-smi");
    Files.writeString(smi, "#!/bin/sh\n"
        + "if [ \"$*\" != \"--query-gpu=index,uuid --format=csv,noheader\" ]; then echo \"unexpected: $*\" >&2; exit 2; fi\n"
        + "printf '" + listing + "'\n");
    Files.setPosixFilePermissions(smi, PosixFilePermissions.fromString("rwxr-xr-x"));
    return dir;
  }

  /** The addresses of a successful run, read as Spark reads them and checked against a plain JSON parse. */
  static List<String> addresses(Run run) throws IOException {
    assertThat(run.exit()).as("exit status; stderr: %s", run.stderr()).isZero();
    JsonNode json = new ObjectMapper().readTree(run.stdout());
    assertThat(json.get("name").asText()).isEqualTo("gpu");
    var list = new ArrayList<String>();
    json.get("addresses").forEach(a -> {
      assertThat(a.isTextual()).as("address %s is a JSON string", a).isTrue();
      list.add(a.asText());
    });
    var spark = ResourceInformation.parseJson(run.stdout().strip());
    assertThat(spark.name()).isEqualTo("gpu");
    assertThat(spark.addresses()).containsExactlyElementsOf(list);
    return list;
  }

  static final String FOUR = "0, GPU-aaa\\n1, GPU-bbb\\n2, GPU-ccc\\n3, GPU-ddd\\n";

  @Test
  void discoveryScriptIsExecutable() {
    // Spark runs the script itself, not through a shell.
    assertThat(Files.isExecutable(DISCOVERY)).isTrue();
  }

  @Test
  void discoveryListsEveryGpu() throws Exception {
    assertThat(addresses(discover(fakeNvidiaSmi("four", FOUR), Map.of()))).containsExactly("0", "1", "2", "3");
  }

  @Test
  void discoveryHonoursCudaVisibleDevices() throws Exception {
    Path four = fakeNvidiaSmi("four", FOUR);
    // CUDA numbers the GPUs it is given from 0: those are the addresses a task can open.
    assertThat(addresses(discover(four, Map.of("CUDA_VISIBLE_DEVICES", "1,3")))).containsExactly("0", "1");
    // A UUID names a GPU too; an entry that names none ends the list, as in CUDA.
    assertThat(addresses(discover(four, Map.of("CUDA_VISIBLE_DEVICES", "GPU-ccc,7,0")))).containsExactly("0");
    Run none = discover(four, Map.of("CUDA_VISIBLE_DEVICES", ""));
    assertThat(none.exit()).isNotZero();
    assertThat(none.stdout()).isEmpty();
    assertThat(none.stderr()).contains("Cannot discover GPUs: none visible").contains("CUDA_VISIBLE_DEVICES=");
  }

  @Test
  void discoveryHonoursNvidiaVisibleDevices() throws Exception {
    Path four = fakeNvidiaSmi("four", FOUR);
    assertThat(addresses(discover(four, Map.of("NVIDIA_VISIBLE_DEVICES", "GPU-bbb,3")))).containsExactly("1", "3");
    assertThat(addresses(discover(four, Map.of("NVIDIA_VISIBLE_DEVICES", "all")))).containsExactly("0", "1", "2", "3");
    assertThat(discover(four, Map.of("NVIDIA_VISIBLE_DEVICES", "none")).exit()).isNotZero();
    // In a container the runtime has mounted just the GPU it names (Kubernetes' device plugin names it by UUID),
    // and nvidia-smi there numbers it 0.
    Path pod = fakeNvidiaSmi("pod", "0, GPU-3f1c\\n");
    assertThat(addresses(discover(pod, Map.of("NVIDIA_VISIBLE_DEVICES", "GPU-3f1c")))).containsExactly("0");
    assertThat(addresses(discover(pod, Map.of("NVIDIA_VISIBLE_DEVICES", "2")))).containsExactly("0");
  }

  @Test
  void discoveryFailsClearlyWithoutNvidiaSmi() throws Exception {
    Run run = discover(Files.createDirectories(tmp.resolve("empty")), Map.of());
    assertThat(run.exit()).isNotZero();
    assertThat(run.stdout()).isEmpty();
    assertThat(run.stderr()).contains("gpu-discovery.sh: Cannot discover GPUs: nvidia-smi is not on PATH");
  }

  @Test
  void discoveryFailsClearlyWhenNvidiaSmiFails() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("broken"));
    Path smi = dir.resolve("nvidia-smi");
    Files.writeString(smi, "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\nexit 9\n");
    Files.setPosixFilePermissions(smi, PosixFilePermissions.fromString("rwxr-xr-x"));
    Run run = discover(dir, Map.of());
    assertThat(run.exit()).isNotZero();
    assertThat(run.stdout()).isEmpty();
    assertThat(run.stderr()).contains("Cannot discover GPUs").contains("couldn't communicate with the NVIDIA driver");
  }
}
