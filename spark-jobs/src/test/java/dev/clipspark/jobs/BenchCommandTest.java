package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench loss}, {@code bench collective}, {@code bench build} and {@code bench decode} at small sizes: their JSON keys and
 * consistent figures.
 */
class BenchCommandTest {

  @TempDir Path dir;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    var cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  @Test
  void buildComparesTheLazyPlanWithFetchingEverythingOnTheSamePool() throws Exception {
    Path json = dir.resolve("build.json");
    assertThat(run("bench", "build", "--candidates", "300", "--queries", "5", "--cap", "6", "--threads", "4",
        "--work", dir.resolve("work").toString(), "--json", json.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).startsWith("bench build").contains("lazy_fetched_share", "all_work_bytes");
    JsonNode r = new ObjectMapper().readTree(json.toFile());
    assertThat(r.get("same_rows").asBoolean()).isTrue();
    assertThat(r.get("all_fetched").asLong()).isEqualTo(300);
    assertThat(r.get("lazy_fetched").asLong()).isPositive().isLessThan(r.get("matched").asLong());
    assertThat(r.get("written").asLong()).isPositive();
    assertThat(r.get("lazy_work_bytes").asLong()).isLessThan(r.get("all_work_bytes").asLong());
  }

  @Test
  void decodeTimesTheKeyValueCacheAgainstFullRecomputation() throws Exception {
    Path json = dir.resolve("decode.json");
    assertThat(run("bench", "decode", "--model", "gpt2-tiny", "--batch", "2", "--prompts", "3", "--tokens", "6",
        "--repeats", "1", "--json", json.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).startsWith("bench decode").contains("cached_tokens_per_second", "speedup");
    JsonNode r = new ObjectMapper().readTree(json.toFile());
    assertThat(r.get("same_tokens").asBoolean()).isTrue();
    assertThat(r.get("tokens").asInt()).isEqualTo(6);
    assertThat(r.get("cached_seconds").asDouble()).isPositive();
    assertThat(r.get("uncached_seconds").asDouble()).isPositive();
    err.getBuffer().setLength(0);
    assertThat(run("bench", "decode", "--model", "gpt2-tiny", "--prompts", "60", "--tokens", "10")).isNotZero();
    assertThat(err.toString()).contains("Cannot time 60 prompts and 10 tokens with gpt2-tiny: they need 69 positions,"
        + " n_ctx is 64");
  }

  @Test
  void buildRefusesBadSizesNamingThem() {
    assertThat(run("bench", "build", "--candidates", "0")).isNotZero();
    assertThat(err.toString()).contains("Cannot run bench build with --candidates 0");
  }

  @Test
  void lossComparesTheShardedLossWithGatherWithGradient() throws Exception {
    Path json = dir.resolve("loss.json");
    assertThat(run("bench", "loss", "--batch", "128", "--dim", "16", "--workers", "4", "--tile", "8", "--reps", "1",
        "--json", json.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).startsWith("bench loss").contains("working_memory_bytes", "gather_with_grad_bytes_moved");
    JsonNode r = new ObjectMapper().readTree(json.toFile());
    assertThat(r.fieldNames()).toIterable().contains("working_memory_bytes", "bytes_moved",
        "gather_with_grad_working_memory_bytes", "gather_with_grad_bytes_moved", "seconds", "gather_with_grad_seconds",
        "tile", "dense_working_memory_bytes", "dense_measured_working_memory_bytes", "dense_seconds");
    assertThat(r.get("local_batch").asInt()).isEqualTo(32);
    assertThat(r.get("bytes_moved").asLong()).isPositive()
        .isLessThanOrEqualTo((long) (0.55 * r.get("gather_with_grad_bytes_moved").asLong()));
    assertThat(r.get("working_memory_bytes").asLong()).isPositive()
        .isLessThan(r.get("gather_with_grad_working_memory_bytes").asLong());
    assertThat(r.get("gather_with_grad_working_memory_bytes").asLong())
        .isLessThan(r.get("dense_measured_working_memory_bytes").asLong());
    assertThat(r.get("working_memory_bytes").asLong()).isGreaterThanOrEqualTo(r.get("working_memory_analytic_bytes").asLong());
    assertThat(r.get("seconds").asDouble()).isPositive();
    assertThat(r.get("gather_with_grad_seconds").asDouble()).isPositive();
    assertThat(r.get("loss").asDouble()).isCloseTo(r.get("gather_with_grad_loss").asDouble(),
        org.assertj.core.api.Assertions.within(1e-4 * r.get("loss").asDouble()));
  }

  @Test
  void embedMeasuresImagesPerSecondPerCore() throws Exception {
    Path json = dir.resolve("embed.json");
    assertThat(run("bench", "embed", "--model", "tiny-vit", "--batch", "4", "--batches", "2", "--warmup", "0",
        "--json", json.toString())).as(err.toString()).isZero();
    assertThat(out.toString()).startsWith("bench embed").contains("images_per_second_per_core");
    JsonNode r = new ObjectMapper().readTree(json.toFile());
    assertThat(r.get("model").asText()).isEqualTo("tiny-vit");
    assertThat(r.get("batch").asInt()).isEqualTo(4);
    assertThat(r.get("images_per_second").asDouble()).isPositive();
    assertThat(r.get("images_per_second_per_core").asDouble())
        .isCloseTo(r.get("images_per_second").asDouble() / r.get("cores").asInt(),
            org.assertj.core.api.Assertions.within(1e-9));
    assertThat(r.get("preprocess_per_second_one_thread").asDouble()).isPositive();
    assertThat(r.get("utilisation").asDouble()).isCloseTo(r.get("achieved_gflops").asDouble() / r.get("gemm_gflops").asDouble(),
        org.assertj.core.api.Assertions.within(1e-9));
    assertThat(r.get("texts_per_second").asDouble()).isPositive();
    assertThat(run("bench", "embed", "--model", "tiny-vit", "--batch", "0")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot benchmark embedding with batch 0");
  }

  @Test
  void lossRefusesABatchThatDoesNotSplit() {
    assertThat(run("bench", "loss", "--batch", "100", "--workers", "8")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot benchmark the loss of a batch of 100 over 8 workers");
  }

  @Test
  void collectiveMeasuresTheRingAgainstASocketCopy() throws Exception {
    Path json = dir.resolve("collective.json");
    // 1,000 bytes over 3 ranks: rounded down to 996, whole floats split evenly.
    assertThat(run("bench", "collective", "--workers", "3", "--bytes", "1000", "--reps", "2", "--json", json.toString()))
        .as(err.toString()).isZero();
    JsonNode r = new ObjectMapper().readTree(json.toFile());
    assertThat(r.get("workers").asInt()).isEqualTo(3);
    assertThat(r.get("bytes").asLong()).isEqualTo(996);
    for (String op : new String[] {"all_reduce", "all_gather", "reduce_scatter", "socket_copy", "allocate"}) {
      assertThat(r.get(op + "_seconds").asDouble()).as(op).isPositive();
      assertThat(r.get(op + "_bytes_per_second").asDouble()).as(op)
          .isCloseTo(996 / r.get(op + "_seconds").asDouble(), org.assertj.core.api.Assertions.within(1e-6 * 996
              / r.get(op + "_seconds").asDouble()));
    }
  }

  @Test
  void collectiveNeedsTwoWorkers() {
    assertThat(run("bench", "collective", "--workers", "1")).isEqualTo(Main.USAGE);
    assertThat(err.toString()).contains("Cannot run bench collective with --workers 1");
  }
}
