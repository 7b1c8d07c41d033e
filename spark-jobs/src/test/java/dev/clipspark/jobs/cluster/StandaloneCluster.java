package dev.clipspark.jobs.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.spark.launcher.JavaModuleOptions;

/**
 * A real Spark standalone cluster on loopback for integration tests: one master and N workers, each a
 * separate JVM started from a {@code SPARK_HOME} assembled in {@code spark-jobs/target/spark-home} out of the
 * project's own Spark dependencies ({@code target/spark-lib}, which the build copies). Applications are
 * submitted with {@code spark-submit}'s main class, {@code org.apache.spark.deploy.SparkSubmit}, in client
 * mode. {@link #close()} stops every process it started (drivers, executors, workers, master), and a JVM
 * shutdown hook does the same should the test JVM exit first.
 */
public final class StandaloneCluster implements AutoCloseable {

  /** The main class of the executors a standalone worker launches. */
  public static final String EXECUTOR_MAIN = "org.apache.spark.executor.CoarseGrainedExecutorBackend";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration START_TIMEOUT = Duration.ofMinutes(2);

  private final Path target;
  private final Path home;
  private final Path dir;
  private final List<Process> processes = new CopyOnWriteArrayList<>();
  private final List<Process> workers = new ArrayList<>();
  private final Thread shutdownHook = new Thread(this::stopAll, "standalone-cluster-stop");
  private Process master;
  private int masterPort;
  private int masterUiPort;

  /**
   * @param target the module's build directory (holds {@code spark-lib/} and the application jar)
   * @param dir where the cluster's logs and work directories go
   */
  public StandaloneCluster(Path target, Path dir) {
    this.target = target;
    this.home = target.resolve("spark-home");
    this.dir = dir;
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  /** The assembled {@code SPARK_HOME}. */
  public Path sparkHome() {
    return home;
  }

  /** The {@code spark://} URL of the master. */
  public String masterUrl() {
    return "spark://127.0.0.1:" + masterPort;
  }

  /** The directory the cluster writes its logs and work directories into. */
  public Path dir() {
    return dir;
  }

  /** The application jar for {@code spark-submit}, built by the package phase. */
  public Path applicationJar() throws IOException {
    try (Stream<Path> files = Files.list(target)) {
      return files.filter(p -> p.getFileName().toString().matches("clipspark-spark-jobs-.*-app\\.jar")).findFirst()
          .orElseThrow(() -> new IllegalStateException("No application jar in " + target + ": run mvn package first"));
    }
  }

  /**
   * Assembles {@code SPARK_HOME} (jars/ linked to the build's Spark dependencies, conf/ with a log4j2 set-up),
   * starts the master and {@code workerCount} workers of {@code coresPerWorker} cores and {@code memory} each,
   * and waits until every worker is alive.
   */
  public StandaloneCluster start(int workerCount, int coresPerWorker, String memory) throws Exception {
    assembleSparkHome();
    Files.createDirectories(dir);
    masterPort = freePort();
    masterUiPort = freePort();
    master = launch("master", List.of("-Xmx256m"), "org.apache.spark.deploy.master.Master",
        List.of("--host", "127.0.0.1", "--port", String.valueOf(masterPort), "--webui-port", String.valueOf(masterUiPort)),
        dir.resolve("master.log"));
    await("the master to answer on port " + masterUiPort, START_TIMEOUT, () -> masterState() != null);
    for (int i = 0; i < workerCount; i++) {
      Path work = dir.resolve("worker-" + i);
      Files.createDirectories(work);
      workers.add(launch("worker-" + i, List.of("-Xmx256m"), "org.apache.spark.deploy.worker.Worker",
          List.of("--host", "127.0.0.1", "--cores", String.valueOf(coresPerWorker), "--memory", memory,
              "--work-dir", work.toString(), "--webui-port", String.valueOf(freePort()), masterUrl()),
          dir.resolve("worker-" + i + ".log")));
    }
    await(workerCount + " alive workers", START_TIMEOUT, () -> {
      JsonNode state = masterState();
      return state != null && state.path("aliveworkers").asInt() == workerCount;
    });
    return this;
  }

  /**
   * Starts {@code spark-submit --master <this cluster> --deploy-mode client <sparkArgs> --class
   * dev.clipspark.jobs.Main <application jar> <appArgs>}, writing its output to {@code log}.
   */
  public Process submit(Path log, List<String> sparkArgs, List<String> appArgs) throws IOException {
    var args = new ArrayList<String>();
    args.addAll(List.of("--master", masterUrl(), "--deploy-mode", "client"));
    args.addAll(sparkArgs);
    args.addAll(List.of("--class", "dev.clipspark.jobs.Main", applicationJar().toString()));
    args.addAll(appArgs);
    return launch("driver", List.of("-Xmx1g"), "org.apache.spark.deploy.SparkSubmit", args, log);
  }

  /** The executor JVMs running now under this cluster's workers. */
  public List<ProcessHandle> executors() {
    var out = new ArrayList<ProcessHandle>();
    for (Process w : workers) {
      w.descendants().filter(ProcessHandle::isAlive)
          .filter(p -> p.info().commandLine().orElse("").contains(EXECUTOR_MAIN))
          .forEach(out::add);
    }
    out.sort(Comparator.comparingLong(ProcessHandle::pid));
    return out;
  }

  /** Kills {@code process} with SIGKILL and waits until it is gone. */
  public static void sigkill(ProcessHandle process) throws Exception {
    process.destroyForcibly();
    process.onExit().get(30, TimeUnit.SECONDS);
  }

  /** Waits until no executor JVM runs (after an application ended or its driver was killed). */
  public void awaitNoExecutors(Duration timeout) throws InterruptedException {
    await("the executors to exit", timeout, () -> executors().isEmpty());
  }

  /** Every process this cluster started that is still alive (its own and their descendants). */
  public List<ProcessHandle> alive() {
    var out = new ArrayList<ProcessHandle>();
    for (Process p : processes) {
      p.descendants().filter(ProcessHandle::isAlive).forEach(out::add);
      if (p.isAlive()) {
        out.add(p.toHandle());
      }
    }
    return out;
  }

  /** The master's JSON status ({@code /json/}), or null when it does not answer. */
  public JsonNode masterState() {
    try {
      var client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      var response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + masterUiPort + "/json/"))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
      return response.statusCode() == 200 ? JSON.readTree(response.body()) : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /** The last {@code lines} lines of every executor's stderr under the workers' work directories. */
  public String executorLogs(int lines) {
    var sb = new StringBuilder();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.filter(p -> p.getFileName().toString().equals("stderr")).sorted().toList()) {
        List<String> all = Files.readAllLines(f, StandardCharsets.UTF_8);
        sb.append("---- ").append(dir.relativize(f)).append('\n');
        all.subList(Math.max(0, all.size() - lines), all.size()).forEach(l -> sb.append(l).append('\n'));
      }
    } catch (IOException e) {
      sb.append("(cannot read executor logs: ").append(e.getMessage()).append(")\n");
    }
    return sb.toString();
  }

  /** Stops every process: drivers and executors first, then workers, then the master. */
  @Override
  public void close() {
    stopAll();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException e) {
      // the JVM is shutting down; the hook runs stopAll itself
    }
  }

  private void stopAll() {
    var order = new ArrayList<Process>(processes);
    order.removeAll(workers);
    order.remove(master);
    order.addAll(workers);
    if (master != null) {
      order.add(master);
    }
    for (Process p : order) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    for (Process p : order) {
      try {
        p.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Polls {@code condition} every 100 ms until it holds, failing after {@code timeout}. */
  public static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("Timed out after " + timeout.toSeconds() + " s waiting for " + what);
      }
      Thread.sleep(100);
    }
  }

  private Process launch(String name, List<String> jvmOptions, String mainClass, List<String> args, Path log)
      throws IOException {
    var cmd = new ArrayList<String>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(Arrays.asList(JavaModuleOptions.defaultModuleOptions().split(" ")));
    cmd.addAll(jvmOptions);
    cmd.add("-cp");
    cmd.add(home.resolve("conf") + File.pathSeparator + home.resolve("jars") + File.separator + "*");
    cmd.add(mainClass);
    cmd.addAll(args);
    var pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    Map<String, String> env = pb.environment();
    env.put("SPARK_HOME", home.toString());
    env.put("SPARK_SCALA_VERSION", "2.12");
    env.put("SPARK_CONF_DIR", home.resolve("conf").toString());
    env.put("SPARK_LOCAL_IP", "127.0.0.1");
    env.put("JAVA_HOME", System.getProperty("java.home"));
    env.remove("SPARK_MASTER");
    Process p = pb.start();
    processes.add(p);
    return p;
  }

  private void assembleSparkHome() throws IOException {
    Path lib = target.resolve("spark-lib");
    if (!Files.isDirectory(lib)) {
      throw new IllegalStateException("No " + lib + ": the package phase copies Spark's jars there");
    }
    Files.createDirectories(home.resolve("conf"));
    Path jars = home.resolve("jars");
    if (!Files.exists(jars, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      Files.createSymbolicLink(jars, home.relativize(lib));
    }
    // Spark's launcher takes SPARK_HOME/jars when a RELEASE file marks a distribution.
    Files.writeString(home.resolve("RELEASE"), "Spark assembled from clipspark-spark-jobs' dependencies\n");
    try (var in = StandaloneCluster.class.getResourceAsStream("/cluster-log4j2.properties")) {
      if (in == null) {
        throw new IllegalStateException("No cluster-log4j2.properties on the test classpath");
      }
      Files.copy(in, home.resolve("conf/log4j2.properties"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static int freePort() {
    try (var socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot find a free port", e);
    }
  }
}
