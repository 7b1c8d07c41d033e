package dev.clipspark.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clipspark.dataset.image.ImageBenchmark;
import dev.clipspark.dataset.image.ImageOptions;
import dev.clipspark.dataset.match.MatcherBenchmark;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code clip bench}: micro-benchmarks of the hot paths, run in this JVM on one thread. Each prints a
 * table and, with {@code --json FILE}, writes its figures as one flat JSON object. Results and machines
 * are recorded in docs/benchmarks.md.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {"Measures ClipSpark's hot paths on this machine and prints their rates.",
        "matcher and images run on one thread (run under 'taskset -c 0' for a one-core figure); train, embed, loss,"
            + " collective and build use the whole machine."},
    subcommands = {BenchCommand.Matcher.class, BenchCommand.Images.class, BenchCommand.Train.class,
        BenchCommand.Embed.class, BenchCommand.Loss.class, BenchCommand.CollectiveBench.class, BenchCommand.Build.class,
        BenchCommand.Decode.class})
final class BenchCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(),
        "Missing benchmark: matcher, images, train, embed, loss, collective, build or decode");
  }

  /** The ND4J thread count of the benchmarks that run model or loss code (train, embed, loss). */
  static final class Nd4jThreads {
    @Option(names = "--threads", defaultValue = "1",
        description = "ND4J element-wise threads, as train.threads (0: ND4J's choice; default: ${DEFAULT-VALUE})."
            + " Matrix products use all cores through BLAS either way.")
    int threads;
  }

  /** Options every benchmark takes. */
  static final class Output {
    @Option(names = "--json", paramLabel = "FILE", description = "Also write the figures to FILE as flat JSON.")
    File json;
  }

  @Command(name = "matcher", mixinStandardHelpOptions = true,
      description = "Times caption-to-query matching: captions per second on one thread against a synthetic query list.")
  static final class Matcher implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--queries", defaultValue = "500000", description = "Queries in the list (default: ${DEFAULT-VALUE}).")
    int queries;

    @Option(names = "--captions", defaultValue = "2000000", description = "Captions matched (default: ${DEFAULT-VALUE}).")
    int captions;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the generated workload (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
      if (queries < 1 || captions < 1) {
        throw new IllegalArgumentException("Cannot run bench matcher with --queries " + queries + " --captions "
            + captions + ": both must be at least 1");
      }
      JobConfig.load(settings.conf, settings.sets); // no setting applies; a bad file or key still fails
      var r = MatcherBenchmark.run(queries, captions, seed);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("captions_per_second_per_core", r.captionsPerSecond());
      figures.put("queries", r.queries());
      figures.put("captions", r.captions());
      figures.put("build_seconds", r.buildSeconds());
      figures.put("serialized_bytes", r.serializedBytes());
      figures.put("mean_matches_per_caption", r.meanMatchesPerCaption());
      return report(spec.commandLine().getOut(), "bench matcher", figures, output.json);
    }
  }

  @Command(name = "images", mixinStandardHelpOptions = true,
      description = "Times decoding, resizing and re-encoding JPEG sources: images per second on one thread.")
  static final class Images implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--images", defaultValue = "2000", description = "Images processed (default: ${DEFAULT-VALUE}).")
    int images;

    @Option(names = "--source-side", defaultValue = "512", description = "Side of the square JPEG sources (default: ${DEFAULT-VALUE}).")
    int sourceSide;

    @Override
    public Integer call() throws IOException {
      if (images < 1 || sourceSide < 8) {
        throw new IllegalArgumentException("Cannot run bench images with --images " + images + " --source-side "
            + sourceSide + ": need at least 1 image of at least 8 pixels");
      }
      ImageOptions options = ImageOptions.from(JobConfig.load(settings.conf, settings.sets));
      var r = ImageBenchmark.run(images, sourceSide, options);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("images_per_second_per_core", r.imagesPerSecond());
      figures.put("images", r.images());
      figures.put("seconds", r.seconds());
      figures.put("source_side", sourceSide);
      figures.put("output_side", options.size());
      figures.put("resize_mode", dev.clipspark.dataset.config.Settings.spell(options.resizeMode()));
      figures.put("mean_source_bytes", r.meanSourceBytes());
      figures.put("mean_output_bytes", r.meanOutputBytes());
      return report(spec.commandLine().getOut(), "bench images", figures, output.json);
    }
  }

  @Command(name = "train", mixinStandardHelpOptions = true,
      description = {"Times a CLIP training step on synthetic inputs: samples/s and model FLOP utilisation.",
          "The step is forward, loss, backward and AdamW; the utilisation is its matrix-product FLOPs per second"
              + " over this process's measured single-precision GEMM rate (GEMMs on all cores through BLAS)."})
  static final class Train implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", defaultValue = "ViT-B-32", paramLabel = "NAME|FILE",
        description = "Architecture (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--batch", defaultValue = "32", description = "Samples per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--micro-batch", defaultValue = "0",
        description = "Samples embedded at once, gradient caching below the batch (default: the whole batch).")
    int microBatch;

    @Option(names = "--steps", defaultValue = "3", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Mixin Nd4jThreads nd4j;

    @Override
    public Integer call() throws IOException {
      JobConfig.load(settings.conf, settings.sets);
      var config = dev.clipspark.training.model.ModelConfigs.load(model);
      var r = dev.clipspark.training.trainer.TrainBenchmark.run(config, batch, microBatch == 0 ? batch : microBatch,
          steps, warmup, nd4j.threads, 1);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("model", r.model());
      figures.put("batch", r.batch());
      figures.put("micro_batch", r.microBatch());
      figures.put("threads", r.threads());
      figures.put("parameters", r.parameters());
      figures.put("steps", r.steps());
      figures.put("step_seconds", r.stepSeconds());
      figures.put("gradient_seconds", r.gradientSeconds());
      figures.put("samples_per_second", r.samplesPerSecond());
      figures.put("gflops_per_step", r.flopsPerStep() / 1e9);
      figures.put("achieved_gflops", r.achievedGflops());
      figures.put("gemm_gflops", r.gemmGflops());
      figures.put("mfu", r.mfu());
      figures.put("first_loss", r.firstLoss());
      return report(spec.commandLine().getOut(), "bench train", figures, output.json);
    }
  }

  @Command(name = "embed", mixinStandardHelpOptions = true,
      description = {"Times embedding as evaluate --task embed does it in each executor core.",
          "Reports images per second through the image tower in inference mode, and per core (matrix products use"
              + " every core this JVM may use: run under 'taskset -c 0' for a one-core figure); images per second"
              + " decoded and preprocessed on one thread (512 px JPEG, OpenAI's bicubic resize and crop); and"
              + " captions per second through the text tower."})
  static final class Embed implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", paramLabel = "NAME|FILE",
        description = "Architecture (default: ViT-B-32, or the weights' own with --weights).")
    String model;

    @Option(names = "--weights", paramLabel = "DIR|FILE",
        description = "Embed with these weights (a checkpoint or training output directory, or a released weights"
            + " file) instead of a fresh initialisation; the speed is the same.")
    String weights;

    @Option(names = "--batch", defaultValue = "32", description = "Images per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--batches", defaultValue = "5", description = "Timed batches (default: ${DEFAULT-VALUE}).")
    int batches;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed batches first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Mixin Nd4jThreads nd4j;

    @Override
    public Integer call() throws IOException {
      JobConfig.load(settings.conf, settings.sets); // no setting applies; a bad file or key still fails
      var config = model == null && weights != null ? null
          : dev.clipspark.training.model.ModelConfigs.load(model == null ? "ViT-B-32" : model);
      dev.clipspark.training.nn.ParameterSet params = null;
      if (weights != null) {
        var loaded = dev.clipspark.training.weights.ModelWeights.load(weights, config,
            org.nd4j.linalg.api.buffer.DataType.FLOAT, new org.apache.hadoop.conf.Configuration());
        config = loaded.model();
        params = loaded.parameters();
      }
      var r = dev.clipspark.training.trainer.EmbedBenchmark.run(config, params, batch, batches, warmup, nd4j.threads);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("model", r.model());
      figures.put("batch", r.batch());
      figures.put("threads", r.threads());
      figures.put("cores", r.cores());
      figures.put("batches", r.batches());
      figures.put("image_batch_seconds", r.imageSeconds());
      figures.put("images_per_second", r.imagesPerSecond());
      figures.put("images_per_second_per_core", r.imagesPerSecondPerCore());
      figures.put("gflops_per_image", r.gflopsPerImage());
      figures.put("achieved_gflops", r.achievedGflops());
      figures.put("gemm_gflops", r.gemmGflops());
      figures.put("utilisation", r.utilisation());
      figures.put("preprocess_per_second_one_thread", r.preprocessPerSecond());
      figures.put("texts_per_second", r.textsPerSecond());
      return report(spec.commandLine().getOut(), "bench embed", figures, output.json);
    }
  }

  @Command(name = "decode", mixinStandardHelpOptions = true,
      description = {"Times caption decoding with a GPT-2 (as caption and evaluate --task captioning do it per batch):"
          + " greedy tokens after random soft prompts, with the key/value cache and re-running the whole sequence"
          + " for every token; reports tokens per second of each and the speed-up, in wall time and in the JVM's"
          + " CPU time (the fairer figure on a shared machine)."})
  static final class Decode implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", paramLabel = "NAME|FILE", defaultValue = "gpt2",
        description = "Language model architecture (conf/models/lm; default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--batch", defaultValue = "8", description = "Rows decoded together (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--prompts", defaultValue = "4", description = "Soft prompts per row (default: ${DEFAULT-VALUE}).")
    int prompts;

    @Option(names = "--tokens", defaultValue = "32", description = "Tokens written per row (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--repeats", defaultValue = "2", description = "Timed runs of each; the best counts"
        + " (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Mixin Nd4jThreads nd4j;

    @Override
    public Integer call() throws IOException {
      JobConfig.load(settings.conf, settings.sets); // no setting applies; a bad file or key still fails
      var r = dev.clipspark.training.lm.DecodeBenchmark.run(dev.clipspark.training.lm.LmConfigs.load(model), batch,
          prompts, tokens, repeats, nd4j.threads);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("model", r.model());
      figures.put("batch", r.batch());
      figures.put("prompts", r.prompts());
      figures.put("tokens", r.tokens());
      figures.put("threads", r.threads());
      figures.put("cached_seconds", r.cachedSeconds());
      figures.put("uncached_seconds", r.uncachedSeconds());
      figures.put("cached_tokens_per_second", r.cachedTokensPerSecond());
      figures.put("uncached_tokens_per_second", r.uncachedTokensPerSecond());
      figures.put("speedup", r.speedup());
      figures.put("cached_cpu_seconds", r.cachedCpuSeconds());
      figures.put("uncached_cpu_seconds", r.uncachedCpuSeconds());
      figures.put("cpu_speedup", r.cpuSpeedup());
      figures.put("same_tokens", r.sameTokens());
      return report(spec.commandLine().getOut(), "bench decode", figures, output.json);
    }
  }

  @Command(name = "loss", mixinStandardHelpOptions = true,
      description = {"Times one worker's share of the distributed loss, sharded against gather-with-gradient.",
          "Rank 0 of --workers computes its share of the contrastive loss of --batch pairs of --dim features, the"
              + " other workers simulated with seeded synthetic embeddings, with the exact sharded loss and with"
              + " open_clip's gather-with-gradient scheme in the same run. Reports the median seconds per step, the"
              + " working memory beyond the gathered N x d features (measured: every ND4J allocation during the"
              + " step, an upper bound on its peak; and analytic), the bytes a ring moves through the worker per"
              + " step, and the dense N x N loss's analytic working memory (also run and measured for a batch of at"
              + " most " + dev.clipspark.training.model.LossBenchmark.DENSE_MAX_BATCH + ")."})
  static final class Loss implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--batch", defaultValue = "32768", description = "Global batch N (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--dim", defaultValue = "512", description = "Embedding dimension d (default: ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--workers", defaultValue = "8", description = "Workers K; must divide --batch (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--tile", defaultValue = "256",
        description = "Columns of the similarity matrix the sharded loss holds at once (default: ${DEFAULT-VALUE}).")
    int tile;

    @Option(names = "--reps", defaultValue = "3",
        description = "Timed steps of each scheme, after one untimed step that measures memory (default: ${DEFAULT-VALUE}).")
    int reps;

    @Mixin Nd4jThreads nd4j;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the synthetic features (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
      JobConfig.load(settings.conf, settings.sets); // no setting applies; a bad file or key still fails
      var r = dev.clipspark.training.model.LossBenchmark.run(batch, dim, workers, tile, reps, nd4j.threads, seed);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("batch", r.batch());
      figures.put("dim", r.dim());
      figures.put("workers", r.workers());
      figures.put("local_batch", r.localBatch());
      figures.put("tile", r.tile());
      figures.put("reps", r.reps());
      figures.put("threads", r.threads());
      figures.put("seconds", r.sharded().seconds());
      figures.put("working_memory_bytes", r.sharded().workingMemoryBytes());
      figures.put("working_memory_analytic_bytes", r.sharded().analyticWorkingMemoryBytes());
      figures.put("bytes_moved", r.sharded().bytesMoved());
      figures.put("loss", r.sharded().loss());
      figures.put("gather_with_grad_seconds", r.gatherWithGradient().seconds());
      figures.put("gather_with_grad_working_memory_bytes", r.gatherWithGradient().workingMemoryBytes());
      figures.put("gather_with_grad_working_memory_analytic_bytes", r.gatherWithGradient().analyticWorkingMemoryBytes());
      figures.put("gather_with_grad_bytes_moved", r.gatherWithGradient().bytesMoved());
      figures.put("gather_with_grad_loss", r.gatherWithGradient().loss());
      figures.put("bytes_moved_ratio", r.bytesMovedRatio());
      figures.put("gathered_features_bytes", r.gatheredFeatureBytes());
      figures.put("dense_working_memory_bytes", r.denseAnalyticBytes());
      r.dense().ifPresent(dense -> {
        figures.put("dense_measured_working_memory_bytes", dense.workingMemoryBytes());
        figures.put("dense_seconds", dense.seconds());
      });
      return report(spec.commandLine().getOut(), "bench loss", figures, output.json);
    }
  }

  @Command(name = "collective", mixinStandardHelpOptions = true,
      description = {"Times ring collectives over TCP on loopback against a plain socket copy.",
          "All-reduce, all-gather and reduce-scatter with the --workers ranks as threads of this JVM, against a"
              + " plain socket copy of the same bytes between two threads, and against allocating a fresh array of"
              + " the same bytes (all-gather and reduce-scatter allocate their results). Rates are the array's"
              + " bytes over the median time of one operation."})
  static final class CollectiveBench implements Callable<Integer> {
    @Mixin Output output;
    @Mixin SettingsOptions settings;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--workers", defaultValue = "2", description = "Ranks K, at least 2 (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--bytes", defaultValue = "67108864",
        description = "Bytes per operation, rounded down to whole floats split evenly among the ranks"
            + " (default: ${DEFAULT-VALUE}, 64 MiB).")
    long bytes;

    @Option(names = "--reps", defaultValue = "5", description = "Timed repetitions of each operation (default: ${DEFAULT-VALUE}).")
    int reps;

    @Override
    public Integer call() throws IOException {
      JobConfig.load(settings.conf, settings.sets); // no setting applies; a bad file or key still fails
      if (workers < 2 || bytes < 4L * workers) {
        throw new IllegalArgumentException("Cannot run bench collective with --workers " + workers + " --bytes " + bytes
            + ": need at least 2 workers and at least 4 bytes (one float) per worker");
      }
      long rounded = bytes / (4L * workers) * (4L * workers);
      var r = dev.clipspark.training.collective.CollectiveBenchmark.run(workers, rounded, reps);
      var figures = new LinkedHashMap<String, Object>();
      figures.put("workers", r.k());
      figures.put("bytes", r.bytes());
      figures.put("reps", r.reps());
      figures.put("all_reduce_seconds", r.allReduceSeconds());
      figures.put("all_reduce_bytes_per_second", r.allReduceBytesPerSecond());
      figures.put("all_gather_seconds", r.allGatherSeconds());
      figures.put("all_gather_bytes_per_second", r.allGatherBytesPerSecond());
      figures.put("reduce_scatter_seconds", r.reduceScatterSeconds());
      figures.put("reduce_scatter_bytes_per_second", r.reduceScatterBytesPerSecond());
      figures.put("socket_copy_seconds", r.copySeconds());
      figures.put("socket_copy_bytes_per_second", r.copyBytesPerSecond());
      figures.put("allocate_seconds", r.allocateSeconds());
      figures.put("allocate_bytes_per_second", r.allocateBytesPerSecond());
      return report(spec.commandLine().getOut(), "bench collective", figures, output.json);
    }
  }

  @Command(name = "build", mixinStandardHelpOptions = true,
      description = {"Times build-dataset with build.plan = lazy against build.plan = all on a generated URL pool.",
          "Runs in local Spark against a pool served from loopback in this process (45% of URLs fail, most captions"
              + " match no query, the caps bind for the frequent queries) and reports candidates fetched / pool,"
              + " wall time and _work bytes of each plan."})
  static final class Build implements Callable<Integer> {
    @Mixin Output output;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--candidates", defaultValue = "20000", description = "Rows in the pool (default: ${DEFAULT-VALUE}).")
    int candidates;

    @Option(names = "--queries", defaultValue = "50", description = "Query words (default: ${DEFAULT-VALUE}).")
    int queries;

    @Option(names = "--matching", defaultValue = "0.2",
        description = "Share of captions that name a query (default: ${DEFAULT-VALUE}).")
    double matching;

    @Option(names = "--cap", defaultValue = "40", description = "balance.max-per-query (default: ${DEFAULT-VALUE}).")
    int cap;

    @Option(names = "--threads", defaultValue = "16", description = "fetch.threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the pool (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--work", paramLabel = "DIR", description = "Directory for the pool and both builds"
        + " (deleted first; default: a new temporary directory).")
    String work;

    @Option(names = "--master", paramLabel = "URL", defaultValue = "local[2]",
        description = "Spark master (default: ${DEFAULT-VALUE}).")
    String master;

    @Override
    public Integer call() throws IOException {
      if (candidates < 1 || queries < 1 || cap < 1 || threads < 1 || !(matching > 0 && matching <= 1)) {
        throw new IllegalArgumentException("Cannot run bench build with --candidates " + candidates + " --queries "
            + queries + " --cap " + cap + " --threads " + threads + " --matching " + matching
            + ": counts must be at least 1 and --matching in (0, 1]");
      }
      String dir = work != null ? work : java.nio.file.Files.createTempDirectory("clip-bench-build").toString();
      var spark = SparkSessions.create("bench build", master);
      try {
        var r = dev.clipspark.dataset.build.BuildBenchmark.run(spark,
            new dev.clipspark.dataset.build.BuildBenchmark.Params(candidates, queries, matching, cap, threads, seed, dir));
        return report(spec.commandLine().getOut(), "bench build",
            dev.clipspark.dataset.build.BuildBenchmark.figures(r), output.json);
      } finally {
        spark.stop();
      }
    }
  }

  static int report(PrintWriter out, String title, Map<String, Object> figures, File json) throws IOException {
    out.println(Reports.table(title, figures));
    if (json != null) {
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(json, figures);
      out.println("Wrote " + json);
    }
    out.flush();
    return 0;
  }
}
