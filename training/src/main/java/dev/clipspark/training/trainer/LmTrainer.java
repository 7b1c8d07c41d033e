package dev.clipspark.training.trainer;

import dev.clipspark.dataset.build.Manifest;
import dev.clipspark.training.checkpoint.CheckpointKind;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.LoadedCheckpoint;
import dev.clipspark.training.checkpoint.OptimizerState;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.Gpt2Parameters;
import dev.clipspark.training.lm.LmCheckpoints;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.LmCorpus;
import dev.clipspark.training.lm.LmTrainStep;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import dev.clipspark.training.optim.LearningRateSchedule;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import dev.clipspark.training.weights.Gpt2Weights;
import java.io.Serializable;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Trains a GPT-2-family language model on one worker of K ({@code bin/clip train-lm}): the texts of a built dataset's
 * captions or of text files as {@code <|endoftext|> text <|endoftext|>} rows ({@link LmCorpus}), the next-token loss
 * over each global batch shared by the workers with one all-reduce of the gradients ({@link LmTrainStep}), AdamW
 * with weight decay on the blocks' four matrices only (not embeddings, LayerNorms or biases), a warm-up and a cosine
 * or constant schedule. It reads the same {@code train.*} settings as CLIP training where they mean the same thing
 * (batch size, micro-batch, epochs or steps, learning rate and schedule, AdamW, clipping, seed, checkpoints, logging,
 * non-finite losses, threads, checksums, test hooks); the image settings, {@code train.lock-image} and the data
 * pipeline's threads and shuffle buffer do not apply.
 *
 * <p>Rank 0 writes {@code metrics.jsonl}, progress lines and, every {@code train.checkpoint-every} steps and at the
 * end, a {@link CheckpointKind#GPT2} checkpoint with the tokenizer's files ({@link LmCheckpoints}). A run whose
 * output directory holds one resumes from the newest: weights, AdamW moments and the step; the batches are a pure
 * function of the seed, the epoch and the batch index ({@link LmCorpus}), so it continues with exactly the updates an
 * uninterrupted run would have made. A new run starts from random weights or from {@code train.init}, a language
 * model checkpoint ({@code train-lm} or {@code import-weights} output: fine-tuning, step 0, a fresh optimizer).
 *
 * <p>No Spark here: the loop runs in a driver or inside a Spark barrier task ({@link SparkLmTrainer}).
 */
public final class LmTrainer {

  /** File of one JSON record per logged step in the output directory. */
  public static final String METRICS_FILE = Trainer.METRICS_FILE;

  private LmTrainer() {}

  /**
   * What to train.
   *
   * @param dataset   a dataset directory written by build-dataset, whose captions are the texts; or null
   * @param corpus    text files, one text per line; used when {@code dataset} is null
   * @param model     the architecture; null to take the resumed checkpoint's or {@code train.init}'s (it must equal
   *                  them when given)
   * @param tokenizer the folder with the GPT-2 tokenizer's {@code vocab.json} and {@code merges.txt}; null when
   *                  resuming or starting from {@code train.init} (the checkpoint's copy is used)
   * @param outDir    output directory: {@code checkpoints/}, {@code metrics.jsonl}
   */
  public record Request(String dataset, List<String> corpus, LmConfig model, String tokenizer, String outDir)
      implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Checks that exactly one source of texts is given. */
    public Request {
      Objects.requireNonNull(outDir, "outDir");
      corpus = corpus == null ? List.of() : List.copyOf(corpus);
      if ((dataset == null) == corpus.isEmpty()) {
        throw new IllegalArgumentException("Cannot train a language model: give either a dataset (--data DIR) or"
            + " text files (--corpus FILE,...), not " + (dataset == null ? "neither" : "both"));
      }
    }

    /** The texts' source, for messages and the checkpoint's state. */
    public String source() {
      return dataset != null ? dataset : String.join(",", corpus);
    }
  }

  /** Steps of the run: {@code train.max-steps}, or the epochs times the batches per epoch. */
  static long totalSteps(TrainOptions options, long batchesPerEpoch) {
    return options.maxSteps() > 0 ? options.maxSteps() : options.epochs() * batchesPerEpoch;
  }

  private static LearningRateSchedule schedule(TrainOptions options, long total) {
    return options.schedule() == TrainOptions.Schedule.COSINE
        ? LearningRateSchedule.cosine(options.learningRate(), options.warmupSteps(), total)
        : LearningRateSchedule.constant(options.learningRate(), options.warmupSteps());
  }

  /**
   * Checks on the driver, before any worker starts: that the texts hold at least one global batch, that the
   * schedule fits the run, and that a new run has a model and a tokenizer that fits it.
   *
   * @return the run's total steps
   * @throws IllegalArgumentException naming the setting or input at fault
   */
  public static long checkPlan(Request request, TrainOptions options, Configuration conf, int workers) {
    options.shareOf(workers);
    long rows = request.dataset() != null ? Manifest.read(request.dataset(), conf).totalRows()
        : LmCorpus.lines(request.corpus(), conf).size();
    if (rows < options.batchSize()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train a language model on %s with %s %d:"
          + " it holds only %d texts", request.source(), TrainOptions.BATCH_SIZE, options.batchSize(), rows));
    }
    long total = totalSteps(options, rows / options.batchSize());
    try {
      schedule(options, total);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage() + " (train.warmup-steps, train.max-steps, train.epochs)", e);
    }
    boolean resumes;
    try {
      Checkpoints.resolve(request.outDir(), conf);
      resumes = true;
    } catch (IllegalArgumentException e) {
      resumes = false;
    }
    if (!resumes && options.init().isEmpty()) {
      if (request.model() == null) {
        throw new IllegalArgumentException("Cannot train a language model in " + request.outDir() + ": no model given"
            + " (--model NAME|FILE, a conf/models/lm name such as gpt2-tiny) and nothing to resume or start from");
      }
      if (request.tokenizer() == null) {
        throw new IllegalArgumentException("Cannot train " + request.model().name() + ": no tokenizer given"
            + " (--tokenizer DIR with vocab.json and merges.txt; bin/clip train-tokenizer --kind gpt2 learns one)");
      }
      requireFits(request.model(), Gpt2Tokenizer.load(request.tokenizer(), conf), request.tokenizer());
    }
    return total;
  }

  /** {@link #run(Request, TrainOptions, Configuration, Consumer, Collective, BooleanSupplier)} as one process. */
  public static TrainSummary run(Request request, TrainOptions options, Configuration conf,
      Consumer<String> progress) {
    return run(request, options, conf, progress, null, () -> false);
  }

  /**
   * Runs (or resumes) this worker's part of a run over the workers of {@code collective} (null: one process). Every
   * worker calls it with the same request and options; rank 0 alone writes checkpoints, metrics and progress.
   *
   * @param cancelled checked before each step (a Spark task passes its {@code isInterrupted})
   * @throws NonFiniteLossException when the loss is NaN or infinite and {@code train.on-non-finite-loss} is stop
   */
  public static TrainSummary run(Request request, TrainOptions options, Configuration conf,
      Consumer<String> progress, Collective collective, BooleanSupplier cancelled) {
    return run(request, options, conf, progress, collective, cancelled, DataType.FLOAT);
  }

  /** As above, training in {@code dataType} (tests compare workers in double precision). */
  static TrainSummary run(Request request, TrainOptions options, Configuration conf, Consumer<String> progress,
      Collective collective, BooleanSupplier cancelled, DataType dataType) {
    int rank = collective == null ? 0 : collective.rank();
    int workers = collective == null ? 1 : collective.size();
    int local = options.shareOf(workers);
    if (rank != 0) {
      progress = line -> { };
    }
    Backends.check();
    Backends.setThreads(options.threads());

    Optional<LoadedCheckpoint> resumed = Checkpoints.loadLatest(request.outDir(), dataType, conf);
    LmConfig config;
    ParameterSet params;
    String tokenizerDir;
    long step;
    if (resumed.isPresent()) {
      LoadedCheckpoint c = resumed.get();
      if (c.kind() != CheckpointKind.GPT2) {
        throw new IllegalArgumentException(String.format("Cannot resume %s as a language model: its checkpoints hold"
            + " a %s model (%s); use another --out", request.outDir(), c.kind().json(), c.modelName()));
      }
      LmCheckpoints.Loaded lm = LmCheckpoints.of(c, conf);
      config = lm.model();
      if (request.model() != null && !Gpt2Weights.sameArchitecture(request.model(), config)) {
        throw new IllegalArgumentException(String.format("Cannot resume %s with model %s: its checkpoints hold model"
            + " %s; use another --out to start a new run", request.outDir(), request.model().name(), config.name()));
      }
      Map<String, Object> state = c.trainerState();
      requireSame(request.outDir(), "the texts", request.source(), state.get("texts"));
      requireSame(request.outDir(), TrainOptions.BATCH_SIZE, options.batchSize(), state.get("batch_size"));
      requireSame(request.outDir(), TrainOptions.SEED, options.seed(), state.get("seed"));
      params = lm.parameters();
      tokenizerDir = c.directory();
      step = c.step();
      progress.accept(String.format(Locale.ROOT, "Resuming %s from %s: step %d", request.outDir(), c.directory(),
          step));
    } else if (!options.init().isEmpty()) {
      LmCheckpoints.Loaded init = LmCheckpoints.load(options.init(), dataType, conf);
      config = init.model();
      if (request.model() != null && !Gpt2Weights.sameArchitecture(request.model(), config)) {
        throw new IllegalArgumentException(String.format("Cannot train model %s from %s: it holds model %s; leave"
            + " --model out to take its own", request.model().name(), init.directory(), config.name()));
      }
      params = init.parameters();
      tokenizerDir = request.tokenizer() != null ? request.tokenizer() : init.directory();
      step = 0;
      progress.accept(String.format(Locale.ROOT, "Starting %s from the weights of %s (step 0, a fresh optimizer)",
          request.outDir(), init.directory()));
    } else {
      config = Objects.requireNonNull(request.model(), "model (nothing to resume)");
      tokenizerDir = Objects.requireNonNull(request.tokenizer(), "tokenizer");
      params = Gpt2Parameters.initialize(config, options.seed(), dataType);
      step = 0;
    }
    Gpt2Tokenizer tokenizer = Gpt2Tokenizer.load(tokenizerDir, conf);
    requireFits(config, tokenizer, tokenizerDir);

    List<String> texts = request.dataset() != null ? LmCorpus.captions(request.dataset(), conf)
        : LmCorpus.lines(request.corpus(), conf);
    LmCorpus corpus = LmCorpus.of(texts, tokenizer, config.nCtx(), request.source());
    long batches = corpus.batchesPerEpoch(options.batchSize());
    if (batches < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train a language model on %s with %s %d:"
          + " it holds only %d texts", request.source(), TrainOptions.BATCH_SIZE, options.batchSize(), corpus.size()));
    }
    long total = totalSteps(options, batches);
    LearningRateSchedule schedule = schedule(options, total);

    Gpt2Model model = Gpt2Model.create(config, params);
    var optimizer = new AdamW(params, AdamW.decayedNames(Gpt2Parameters.specs(config)), options.beta1(),
        options.beta2(), options.eps(), options.weightDecay());
    resumed.ifPresent(c -> c.optimizer().orElseThrow(() -> new IllegalStateException(
        "Cannot resume from " + c.directory() + ": it holds no optimizer state")).restoreInto(optimizer));
    var trainStep = new LmTrainStep(model, collective, Math.min(options.effectiveMicroBatch(), local));
    var metrics = rank == 0 ? new MetricsLog(request.outDir(), METRICS_FILE, options.checkpointCommit(), conf) : null;
    if (metrics != null) {
      metrics.truncateAfter(step);
    }
    Map<String, Object> fixedState = new LinkedHashMap<>();
    fixedState.put("texts", request.source());
    fixedState.put("batch_size", options.batchSize());
    fixedState.put("seed", options.seed());
    fixedState.put(LmCheckpoints.TOKENIZER_VOCAB_SIZE, tokenizer.vocabSize());
    fixedState.put("total_steps", total);
    fixedState.put("workers", workers);
    Object initFrom = resumed.map(c -> c.trainerState().get("init")).orElse(options.init().isEmpty() ? null
        : options.init());
    if (initFrom != null) {
      fixedState.put("init", initFrom);
    }
    boolean verify = collective != null && workers > 1 && options.verifyEvery() > 0;
    if (verify) {
      ParameterChecksum.verify(params, collective, step);
    }
    boolean hooked = options.debugRank() < 0 || options.debugRank() == rank;

    long startStep = step;
    double firstLoss = Double.NaN;
    double lastLoss = Double.NaN;
    long skipped = resumed.map(c -> c.trainerState().get("skipped_steps") instanceof Number n ? n.longValue() : 0L)
        .orElse(0L);
    String lastCheckpoint = resumed.map(LoadedCheckpoint::directory).orElse("");
    long started = System.nanoTime();
    long intervalStart = started;
    long intervalSamples = 0;
    long intervalTokens = 0;
    int orderEpoch = -1;
    int[] order = null;
    progress.accept(String.format(Locale.ROOT, "Training language model %s (%,d parameters) on %s: %,d texts"
            + " (%,d tokens), %,d steps of %,d texts, %,d batches per epoch", config.name(), params.elementCount(),
        request.source(), corpus.size(), corpus.tokens(), total, options.batchSize(), batches));
    while (step < total) {
      if (cancelled.getAsBoolean()) {
        throw new IllegalStateException(String.format(Locale.ROOT,
            "Cannot continue training on worker %d of %d after step %d: the task was cancelled", rank, workers, step));
      }
      int epoch = (int) (step / batches);
      long batch = step % batches;
      if (epoch != orderEpoch) {
        order = corpus.order(options.seed(), epoch);
        orderEpoch = epoch;
      }
      long scored = LmCorpus.scored(corpus.share(order, batch, options.batchSize(), 0, 1));
      List<int[]> rows = corpus.share(order, batch, options.batchSize(), rank, workers);
      double lr = schedule.at(step);
      LmTrainStep.Result result = trainStep.run(rows, scored);
      step++;
      Trainer.StepGate gate = Trainer.gate(params, options, step, result.loss(), config.name(), lastCheckpoint);
      double gradNorm = gate.gradNorm();
      if (gate.apply()) {
        optimizer.step(lr);
      } else {
        skipped++;
      }
      if (Double.isNaN(firstLoss)) {
        firstLoss = result.loss();
      }
      lastLoss = result.loss();
      intervalSamples += options.batchSize();
      intervalTokens += result.scored();
      if (step % options.logEvery() == 0 || step == total || step == startStep + 1) {
        long now = System.nanoTime();
        double seconds = Math.max((now - intervalStart) / 1e9, 1e-9);
        double rate = intervalSamples / seconds;
        double eta = (total - step) * options.batchSize() / Math.max(rate, 1e-9);
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("step", step);
        record.put("epoch", epoch);
        record.put("loss", result.loss());
        record.put("accuracy", result.accuracy());
        record.put("learning_rate", lr);
        record.put("grad_norm", Double.isNaN(gradNorm) ? null : gradNorm);
        record.put("samples_per_second", rate);
        record.put("tokens_per_second", intervalTokens / seconds);
        record.put("skipped_steps", skipped);
        record.put("total_steps", total);
        record.put("eta_seconds", (long) eta);
        if (metrics != null) {
          metrics.append(record);
        }
        progress.accept(progressLine(record));
        intervalStart = now;
        intervalSamples = 0;
        intervalTokens = 0;
      }
      if (step % options.checkpointEvery() == 0 || step == total) {
        Map<String, Object> state = new LinkedHashMap<>(fixedState);
        state.put("epoch", (int) (step / batches));
        state.put("batch_in_epoch", step % batches);
        state.put("loss", result.loss());
        state.put("skipped_steps", skipped);
        if (rank == 0) {
          lastCheckpoint = Checkpoints.save(request.outDir(), LmCheckpoints.checkpoint(step, state, config,
              tokenizerDir, params, OptimizerState.of(optimizer)), options.keepCheckpoints(),
              options.checkpointCommit(), conf).toString();
          // Later checkpoints copy the tokenizer from this one: the folder resumed from may be deleted by
          // train.keep-checkpoints.
          tokenizerDir = lastCheckpoint;
        }
      }
      if (verify && step % options.verifyEvery() == 0) {
        ParameterChecksum.verify(params, collective, step);
      }
      if (hooked && step == options.failAtStep()) {
        throw new IllegalStateException(String.format(Locale.ROOT,
            "Failing on purpose on worker %d after step %d (%s=%d, a test hook)", rank, step,
            TrainOptions.FAIL_AT_STEP, step));
      }
      if (hooked && step == options.hangAtStep()) {
        Trainer.hang(rank, step, cancelled);
      }
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    double rate = (step - startStep) * (double) options.batchSize() / Math.max(seconds, 1e-9);
    return new TrainSummary(request.outDir(), config.name(), startStep, step, firstLoss, lastLoss, skipped, rate,
        lastCheckpoint, new org.apache.hadoop.fs.Path(request.outDir(), METRICS_FILE).toString());
  }

  /**
   * The progress line of one {@code metrics.jsonl} record, e.g. {@code step 40/248 epoch 1 loss 3.9120 acc 0.094
   * lr 0.000500 samples/s 41.3 tokens/s 512.0 eta 0:01:40}.
   */
  public static String progressLine(Map<String, ?> record) {
    return String.format(Locale.ROOT,
        "step %d/%d epoch %d loss %.4f acc %.3f lr %.3g samples/s %.1f tokens/s %.1f eta %s",
        number(record, "step").longValue(), number(record, "total_steps").longValue(),
        number(record, "epoch").intValue(), number(record, "loss").doubleValue(),
        number(record, "accuracy").doubleValue(), number(record, "learning_rate").doubleValue(),
        number(record, "samples_per_second").doubleValue(), number(record, "tokens_per_second").doubleValue(),
        format(Duration.ofSeconds(number(record, "eta_seconds").longValue())));
  }

  private static Number number(Map<String, ?> record, String key) {
    Object v = record.get(key);
    return v instanceof Number n ? n : Double.NaN;
  }

  private static String format(Duration d) {
    return String.format(Locale.ROOT, "%d:%02d:%02d", d.toHours(), d.toMinutesPart(), d.toSecondsPart());
  }

  private static void requireFits(LmConfig model, Gpt2Tokenizer tokenizer, String tokenizerDir) {
    if (tokenizer.vocabSize() > model.vocabSize()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train %s with the tokenizer %s: its %d"
          + " tokens exceed the model's vocab_size %d", model.name(), tokenizerDir, tokenizer.vocabSize(),
          model.vocabSize()));
    }
  }

  private static void requireSame(String out, String what, Object now, Object saved) {
    if (saved != null && !String.valueOf(saved).equals(String.valueOf(now))) {
      throw new IllegalArgumentException(String.format(
          "Cannot resume %s with %s %s: its checkpoints were trained with %s; use the same value or another --out",
          out, what, now, saved));
    }
  }
}
