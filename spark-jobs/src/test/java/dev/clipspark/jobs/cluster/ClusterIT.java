package dev.clipspark.jobs.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import dev.clipspark.jobs.InProcessJobs;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * ClipSpark on a real multi-process Spark standalone cluster: a master and two one-core workers, each its own
 * JVM on loopback, started from a {@code SPARK_HOME} assembled out of the project's Spark dependencies; the
 * application jar submitted with {@code spark-submit}'s main class and {@code conf/spark/spark-defaults.standalone.conf}.
 * It builds queries, a dataset and a tokenizer, then proves the failure handling users rely on with SIGKILLs:
 * an executor killed while a lazy dataset build fetches its second round (the output equals an undisturbed
 * build's, row for row), and
 * during training an executor killed (Spark re-runs the barrier stage, which resumes from the newest
 * checkpoint) and later the driver killed and restarted on the same {@code --out}; the final parameters and
 * optimiser state equal an uninterrupted run's. The measured figures go to {@code target/cluster-it/reliability.json}
 * (docs/reliability.md).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterIT {

  static final Path MODULE = Path.of(System.getProperty("user.dir"));
  static final Path CONF = MODULE.getParent().resolve("conf");
  static final Duration JOB_TIMEOUT = Duration.ofMinutes(8);
  static final ObjectMapper JSON = new ObjectMapper();
  static final long STEPS = 30;
  static final long CHECKPOINT_EVERY = 5;
  static final Pattern EXECUTOR_PROGRESS =
      Pattern.compile("^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}) INFO\\s+SparkBarrierTrainer: step (\\d+)/");
  static final DateTimeFormatter LOG_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");
  static final Pattern EXECUTOR_RESUME =
      Pattern.compile("^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}) INFO\\s+SparkBarrierTrainer: Resuming .*: step (\\d+), epoch");

  StandaloneCluster cluster;
  Path dir;
  final Map<String, Object> figures = new LinkedHashMap<>();

  @BeforeAll
  void startClusterAndBuildInputs() throws Exception {
    dir = MODULE.resolve("target/cluster-it");
    deleteRecursively(dir);
    Files.createDirectories(dir);
    cluster = new StandaloneCluster(MODULE.resolve("target"), dir.resolve("cluster")).start(2, 1, "3g");
    // The inputs, built in this JVM in local mode: they are not what this test is about.
    InProcessJobs.writeDemoCorpus(dir.resolve("corpus.txt"), 1000, 7);
    InProcessJobs.clip("build-queries", "--corpus", dir.resolve("corpus.txt").toString(), "--out",
        dir.resolve("queries").toString(), "--conf", CONF.resolve("demo.conf").toString(), "--master", "local[1]");
    // A folder of pairs where every third image is cut short: its failures make lazy builds take rounds.
    Path pairs = Files.createDirectories(dir.resolve("pairs"));
    for (int i = 0; i < 120; i++) {
      var pair = dev.clipspark.dataset.source.SyntheticShapes.pair(i, 11, 96);
      byte[] image = pair.imageBytes();
      Files.write(pairs.resolve(String.format("p%03d.png", i)),
          i % 3 == 0 ? java.util.Arrays.copyOf(image, image.length / 3) : image);
      Files.writeString(pairs.resolve(String.format("p%03d.txt", i)), pair.caption());
    }
    // On the cluster: the reference dataset, then the tokenizer (in this JVM again).
    runToSuccess("build-dataset", datasetArgs(dir.resolve("dataset")));
    InProcessJobs.clip("train-tokenizer", "--data", dir.resolve("dataset").toString(), "--out",
        dir.resolve("merges.txt").toString(), "--conf", CONF.resolve("demo.conf").toString(), "--set",
        "tokenizer.vocab-size=600", "--master", "local[1]");
  }

  @AfterAll
  void stopEverything() throws Exception {
    if (cluster != null) {
      cluster.close();
      assertThat(cluster.alive()).as("processes left running by the cluster test").isEmpty();
    }
    if (dir != null) {
      Files.createDirectories(dir);
      JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("reliability.json").toFile(), figures);
      System.out.println("Reliability figures: " + JSON.writeValueAsString(figures));
    }
  }

  @Test
  @Order(1)
  void datasetJobSurvivesAnExecutorKillWithIdenticalOutput() throws Exception {
    // A lazy build that needs several rounds (failed images leave queries short after the first), once
    // undisturbed and once with an executor killed while it fetches its second round.
    Path reference = dir.resolve("dataset-lazy");
    runToSuccess("build-dataset-lazy", lazyDatasetArgs(reference));
    JsonNode referenceRounds = JSON.readTree(reference.resolve("stats.json").toFile()).path("rounds");
    assertThat(referenceRounds.size()).as("rounds of the lazy build").isGreaterThan(1);
    Path out = dir.resolve("dataset-killed");
    Path log = dir.resolve("build-dataset-killed.log");
    Process driver = cluster.submit(log, sparkArgs(), lazyDatasetArgs(out));
    try {
      StandaloneCluster.await("the dataset job's second round", JOB_TIMEOUT,
          () -> read(log).contains("Round 2: fetching") || !driver.isAlive());
      assertThat(driver.isAlive()).as("the dataset job ended before the kill:\n%s", read(log)).isTrue();
      List<ProcessHandle> executors = cluster.executors();
      assertThat(executors).hasSize(2);
      long tasksBefore = count(log, "Finished task");
      StandaloneCluster.sigkill(executors.get(0));
      figures.put("dataset_kills", 1);
      figures.put("dataset_tasks_finished_before_kill", tasksBefore);
      figures.put("dataset_rounds", referenceRounds.size());
      awaitExit(driver, "build-dataset with an executor killed", log);
    } finally {
      driver.destroyForcibly();
    }
    assertThat(driver.exitValue()).as(read(log) + cluster.executorLogs(40)).isZero();
    assertThat(read(log)).containsPattern("Lost executor|ExecutorLostFailure|Removed executor|Executor .* removed");

    assertThat(withoutTimes(JSON.readTree(out.resolve("manifest.json").toFile())))
        .isEqualTo(withoutTimes(JSON.readTree(reference.resolve("manifest.json").toFile())));
    assertThat(withoutTimes(JSON.readTree(out.resolve("stats.json").toFile())))
        .isEqualTo(withoutTimes(JSON.readTree(reference.resolve("stats.json").toFile())));
    // Row by row, shard by shard (the files' bytes differ: parquet-mr writes a column's encodings in hash order).
    Map<String, String> shards = shardRows(out);
    assertThat(shards).isNotEmpty().isEqualTo(shardRows(reference));
    figures.put("dataset_rows", JSON.readTree(out.resolve("manifest.json").toFile()).path("total_rows").asLong());
    figures.put("dataset_shards_identical", shards.size());
  }

  @Test
  @Order(2)
  void trainingSurvivesExecutorAndDriverKillsWithTheSameFinalParameters() throws Exception {
    Path reference = dir.resolve("train-reference");
    runToSuccess("train-reference", trainArgs(reference));

    Path out = dir.resolve("train-killed");
    Path log = dir.resolve("train-killed-1.log");
    java.util.Set<String> earlierApps = applications();
    Process driver = cluster.submit(log, sparkArgs(), trainArgs(out));
    long executorKillMillis;
    long driverKillMillis;
    try {
      // 1. SIGKILL one executor in the middle of training.
      awaitStep(out, 7, driver, log);
      List<ProcessHandle> executors = cluster.executors();
      assertThat(executors).hasSize(2);
      StandaloneCluster.sigkill(executors.get(1));
      executorKillMillis = System.currentTimeMillis();
      // 2. Spark re-runs the barrier stage (attempt 1), which resumes; later SIGKILL the driver.
      StandaloneCluster.await("the barrier stage's second attempt", JOB_TIMEOUT,
          () -> cluster.executorLogs(100000).contains("(stage attempt 1)") || !driver.isAlive());
      awaitStep(out, 17, driver, log);
      driver.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      driverKillMillis = System.currentTimeMillis();
    } finally {
      driver.destroyForcibly();
    }
    assertThat(read(log)).contains("due to a barrier task failed").contains("Resubmitting ShuffleMapStage");
    cluster.awaitNoExecutors(Duration.ofMinutes(1));
    // 3. The same train command again: it resumes from the newest checkpoint and finishes.
    Path log2 = dir.resolve("train-killed-2.log");
    Process restarted = cluster.submit(log2, sparkArgs(), trainArgs(out));
    try {
      awaitExit(restarted, "the restarted train", log2);
    } finally {
      restarted.destroyForcibly();
    }
    assertThat(restarted.exitValue()).as(read(log2) + cluster.executorLogs(60)).isZero();
    assertThat(read(log2)).contains("Trained tiny-vit from step ").contains(" to " + STEPS + ":");

    // The final checkpoint equals the uninterrupted run's, bit for bit: parameters and optimiser moments.
    JsonNode expected = checkpointManifest(reference, STEPS);
    JsonNode actual = checkpointManifest(out, STEPS);
    assertThat(fileDigests(actual)).containsEntry("model.bin", fileDigests(expected).get("model.bin"))
        .containsEntry("optimizer.bin", fileDigests(expected).get("optimizer.bin"));
    assertThat(lossAt(out, STEPS)).isEqualTo(lossAt(reference, STEPS));

    // Figures from rank 0's log lines: the step resumed from after each kill, the steps trained before the
    // resume that were lost, and the time from the kill to the first step trained after it.
    List<Event> events = executorEvents(earlierApps);
    Recovery afterExecutorKill = recovery(events, executorKillMillis);
    Recovery afterDriverKill = recovery(events, driverKillMillis);
    figures.put("training_kills", 2);
    figures.put("checkpoint_every", CHECKPOINT_EVERY);
    figures.put("executor_kill", afterExecutorKill.asMap());
    figures.put("driver_kill", afterDriverKill.asMap());
    for (Recovery r : List.of(afterExecutorKill, afterDriverKill)) {
      assertThat(r.stepsLost()).isBetween(0L, CHECKPOINT_EVERY);
      assertThat(r.resumedFrom() % CHECKPOINT_EVERY).isZero();
    }
  }

  /** One line of rank 0's executor log: a progress line ("step N/..") or a resume ("Resuming ...: step N"). */
  record Event(LocalDateTime time, boolean resume, long step) {}

  /** What followed a kill: the step resumed from, the steps lost, and the seconds to the first new step. */
  record Recovery(long lastStepBefore, long resumedFrom, long stepsLost, double secondsToResumedStep) {
    Map<String, Object> asMap() {
      var m = new LinkedHashMap<String, Object>();
      m.put("last_step_before_resume", lastStepBefore);
      m.put("resumed_from_step", resumedFrom);
      m.put("steps_lost", stepsLost);
      m.put("seconds_to_first_resumed_step", secondsToResumedStep);
      return m;
    }
  }

  static Recovery recovery(List<Event> events, long killMillis) {
    LocalDateTime kill = LocalDateTime.ofInstant(java.time.Instant.ofEpochMilli(killMillis), java.time.ZoneId.systemDefault());
    Event resume = events.stream().filter(e -> e.resume() && e.time().isAfter(kill)).findFirst()
        .orElseThrow(() -> new AssertionError("Training did not resume after the kill at " + kill + ": " + events));
    long lastBefore = events.stream().filter(e -> !e.resume() && e.time().isBefore(resume.time()))
        .mapToLong(Event::step).max().orElse(0);
    Event first = events.stream().filter(e -> !e.resume() && e.time().isAfter(resume.time())
        && e.step() == resume.step() + 1).findFirst()
        .orElseThrow(() -> new AssertionError("No step after the resume at " + resume.time()));
    double seconds = Math.round(Duration.between(kill, first.time()).toMillis() / 100.0) / 10.0;
    return new Recovery(lastBefore, resume.step(), lastBefore - resume.step(), seconds);
  }

  // ---- the jobs

  List<String> sparkArgs() {
    return List.of("--properties-file", CONF.resolve("spark/spark-defaults.standalone.conf").toString(),
        "--conf", "spark.cores.max=2", "--conf", "spark.ui.enabled=false");
  }

  List<String> datasetArgs(Path out) {
    return List.of("build-dataset", "--queries", dir.resolve("queries").toString(), "--source", "synthetic:shapes",
        "--out", out.toString(), "--conf", CONF.resolve("demo.conf").toString(),
        "--set", "source.synthetic.count=480", "--set", "source.partitions=6", "--set", "shard.rows=160",
        "--set", "balance.max-per-query=200");
  }

  /** A lazy build over synthetic pairs and the folder with broken images, with caps that bind. */
  List<String> lazyDatasetArgs(Path out) {
    return List.of("build-dataset", "--queries", dir.resolve("queries").toString(), "--source", "synthetic:shapes",
        "--source", "folder:" + dir.resolve("pairs"), "--out", out.toString(),
        "--conf", CONF.resolve("demo.conf").toString(), "--set", "source.synthetic.count=240",
        "--set", "source.partitions=6", "--set", "shard.rows=40", "--set", "balance.max-per-query=30");
  }

  List<String> trainArgs(Path out) {
    return List.of("train", "--data", dir.resolve("dataset").toString(), "--model", "tiny-vit",
        "--tokenizer", dir.resolve("merges.txt").toString(), "--out", out.toString(), "--workers", "2",
        "--conf", CONF.resolve("demo.conf").toString(), "--set", "tokenizer.vocab-size=600",
        "--set", "train.batch-size=32", "--set", "train.max-steps=" + STEPS, "--set", "train.epochs=20",
        "--set", "train.warmup-steps=5", "--set", "train.checkpoint-every=" + CHECKPOINT_EVERY,
        "--set", "train.log-every=1", "--set", "train.collective-timeout=60s");
  }

  void runToSuccess(String name, List<String> appArgs) throws Exception {
    Path log = dir.resolve(name + ".log");
    Process p = cluster.submit(log, sparkArgs(), appArgs);
    try {
      awaitExit(p, name, log);
    } finally {
      p.destroyForcibly();
    }
    assertThat(p.exitValue()).as("%s failed:\n%s%s", name, read(log), cluster.executorLogs(60)).isZero();
  }

  void awaitExit(Process p, String what, Path log) throws Exception {
    if (!p.waitFor(JOB_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(what + " did not finish in " + JOB_TIMEOUT.toMinutes() + " minutes:\n" + read(log)
          + cluster.executorLogs(60));
    }
  }

  void awaitStep(Path out, long step, Process driver, Path log) throws InterruptedException {
    StandaloneCluster.await("training step " + step, JOB_TIMEOUT, () -> lastStep(out) >= step || !driver.isAlive());
    assertThat(driver.isAlive()).as("training ended before step %d:\n%s%s", step, read(log),
        cluster.executorLogs(60)).isTrue();
  }

  // ---- reading the outputs

  /** The last step in OUT/metrics.jsonl (0 when there is none yet). */
  static long lastStep(Path out) {
    Path metrics = out.resolve("metrics.jsonl");
    long last = 0;
    try {
      if (!Files.exists(metrics)) {
        return 0;
      }
      for (String line : Files.readAllLines(metrics, StandardCharsets.UTF_8)) {
        try {
          last = Math.max(last, JSON.readTree(line).path("step").asLong());
        } catch (IOException e) {
          // a line being rewritten
        }
      }
    } catch (IOException e) {
      return last;
    }
    return last;
  }

  static double lossAt(Path out, long step) throws IOException {
    for (String line : Files.readAllLines(out.resolve("metrics.jsonl"), StandardCharsets.UTF_8)) {
      JsonNode r = JSON.readTree(line);
      if (r.path("step").asLong() == step) {
        return r.path("loss").asDouble();
      }
    }
    throw new AssertionError("No metrics record of step " + step + " in " + out);
  }

  static long latestCheckpointStep(Path out) throws IOException {
    Path latest = out.resolve("checkpoints/latest");
    if (!Files.exists(latest)) {
      return 0;
    }
    String name = Files.readString(latest, StandardCharsets.UTF_8).trim();
    return Long.parseLong(name.substring("step-".length()));
  }

  static JsonNode checkpointManifest(Path out, long step) throws IOException {
    return JSON.readTree(out.resolve(String.format("checkpoints/step-%010d/checkpoint.json", step)).toFile());
  }

  static Map<String, String> fileDigests(JsonNode manifest) {
    var out = new TreeMap<String, String>();
    for (JsonNode f : manifest.path("files")) {
      out.put(f.path("name").asText(), f.path("sha256").asText());
    }
    return out;
  }

  /** The ids of the applications that have run on the cluster so far (their work directories). */
  java.util.Set<String> applications() throws IOException {
    try (Stream<Path> files = Files.walk(cluster.dir(), 2)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("app-"))
          .collect(java.util.stream.Collectors.toSet());
    }
  }

  /** The progress and resume lines of the executors of every application but {@code exclude}, in time order. */
  List<Event> executorEvents(java.util.Set<String> exclude) throws IOException {
    var out = new ArrayList<Event>();
    try (Stream<Path> files = Files.walk(cluster.dir())) {
      for (Path f : files.filter(p -> p.getFileName().toString().equals("stderr"))
          .filter(p -> !exclude.contains(p.getParent().getParent().getFileName().toString())).toList()) {
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
          Matcher m = EXECUTOR_PROGRESS.matcher(line);
          if (m.find()) {
            out.add(new Event(LocalDateTime.parse(m.group(1), LOG_TIME), false, Long.parseLong(m.group(2))));
          }
          m = EXECUTOR_RESUME.matcher(line);
          if (m.find()) {
            out.add(new Event(LocalDateTime.parse(m.group(1), LOG_TIME), true, Long.parseLong(m.group(2))));
          }
        }
      }
    }
    out.sort(java.util.Comparator.comparing(Event::time));
    return out;
  }

  /** For each shard file: its row count and a SHA-256 over every value of every row, in order. */
  static Map<String, String> shardRows(Path dataset) throws Exception {
    var out = new TreeMap<String, String>();
    try (Stream<Path> files = Files.list(dataset.resolve("shards"))) {
      for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".parquet")).toList()) {
        var digest = MessageDigest.getInstance("SHA-256");
        long rows = 0;
        try (var reader = org.apache.parquet.hadoop.ParquetReader.builder(
            new org.apache.parquet.hadoop.example.GroupReadSupport(), new org.apache.hadoop.fs.Path(f.toUri())).build()) {
          for (Group g = reader.read(); g != null; g = reader.read()) {
            digest(g, digest);
            rows++;
          }
        }
        out.put(f.getFileName().toString(), rows + " rows " + HexFormat.of().formatHex(digest.digest()));
      }
    }
    return out;
  }

  private static void digest(Group g, MessageDigest md) {
    GroupType type = g.getType();
    for (int f = 0; f < type.getFieldCount(); f++) {
      int n = g.getFieldRepetitionCount(f);
      md.update((byte) n);
      for (int i = 0; i < n; i++) {
        Type t = type.getType(f);
        if (!t.isPrimitive()) {
          digest(g.getGroup(f, i), md);
        } else if (t.asPrimitiveType().getPrimitiveTypeName() == PrimitiveTypeName.BINARY) {
          md.update(g.getBinary(f, i).getBytes());
        } else {
          md.update(g.getValueToString(f, i).getBytes(StandardCharsets.UTF_8));
        }
        md.update((byte) 0);
      }
    }
  }

  /** The JSON without the keys that hold wall-clock times. */
  static JsonNode withoutTimes(JsonNode node) {
    JsonNode copy = node.deepCopy();
    strip(copy);
    return copy;
  }

  private static void strip(JsonNode node) {
    if (node instanceof ObjectNode o) {
      o.remove(List.of("created", "seconds", "elapsed_seconds", "duration_seconds"));
      o.forEach(ClusterIT::strip);
    } else if (node.isArray()) {
      node.forEach(ClusterIT::strip);
    }
  }

  // ---- small helpers

  static long count(Path log, String needle) {
    return read(log).lines().filter(l -> l.contains(needle)).count();
  }

  static String read(Path log) {
    try {
      return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e.getMessage() + ")";
    }
  }

  static void deleteRecursively(Path path) throws IOException {
    if (!Files.exists(path)) {
      return;
    }
    try (Stream<Path> files = Files.walk(path)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
