package dev.clipspark.training.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.OptimizerState;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.data.Batch;
import dev.clipspark.training.data.DataPosition;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.data.TrainingData;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import dev.clipspark.training.optim.GradientClipping;
import dev.clipspark.training.optim.LearningRateSchedule;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import dev.clipspark.training.weights.ModelWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Trains a CLIP model on one worker: streams a built dataset, runs {@link TrainStep}s with AdamW and a
 * warm-up + cosine schedule, clamps the logit scale after each update, writes {@code metrics.jsonl} and a
 * progress line every {@code train.log-every} steps, and checkpoints every {@code train.checkpoint-every}
 * steps. A run whose {@code OUT/checkpoints} holds a complete checkpoint resumes from the newest one: the
 * weights, the optimizer moments, the step, and the data position, so it continues with exactly the
 * batches and updates an uninterrupted run would have made.
 *
 * <p>A new run starts from random weights, or from {@code train.init} (fine-tuning: a checkpoint's or a released
 * file's weights, a fresh optimizer, step 0); resuming takes precedence over {@code train.init}. With
 * {@code train.lock-image} the image tower is frozen ({@link ClipModel#lockImage}) and left out of the optimizer.
 *
 * <p>No Spark here: the same loop runs in a driver ({@code bin/clip train}) or inside a Spark task.
 */
public final class Trainer {

  /** File of one JSON record per logged step in the output directory. */
  public static final String METRICS_FILE = "metrics.jsonl";

  /** Columns of the similarity matrix a worker holds at once in the sharded loss. */
  static final int LOSS_TILE = 1024;

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * What to train.
   *
   * @param dataset dataset directory written by build-dataset
   * @param model the architecture; when resuming it must equal the checkpoint's (null: take the checkpoint's)
   * @param tokenizer the merges file (null when resuming: the checkpoint's copy is used)
   * @param tokenizerVocabSize tokens of that tokenizer ({@code tokenizer.vocab-size})
   * @param outDir output directory: {@code checkpoints/}, {@code metrics.jsonl}
   */
  public record Request(String dataset, ModelConfig model, String tokenizer, int tokenizerVocabSize, String outDir)
      implements java.io.Serializable {
    /** Checks the fields that are always required. */
    public Request {
      Objects.requireNonNull(dataset, "dataset");
      Objects.requireNonNull(outDir, "outDir");
    }
  }

  private Trainer() {}

  /** Steps of the whole run: {@code train.max-steps}, or the epochs times the batches per epoch. */
  static long totalSteps(TrainOptions options, long batchesPerEpoch) {
    return options.maxSteps() > 0 ? options.maxSteps() : options.epochs() * batchesPerEpoch;
  }

  private static LearningRateSchedule schedule(TrainOptions options, long total) {
    return options.schedule() == TrainOptions.Schedule.COSINE
        ? LearningRateSchedule.cosine(options.learningRate(), options.warmupSteps(), total)
        : LearningRateSchedule.constant(options.learningRate(), options.warmupSteps());
  }

  /**
   * Checks on the driver, before any worker starts, what the workers would otherwise find out one by one: that
   * the dataset has a manifest and at least one global batch for {@code workers} ranks, that the learning
   * rate schedule fits the run's length, and, for a run that starts (no checkpoint in its output directory), that
   * the given tokenizer's merges file supports the asked vocabulary size.
   *
   * @return the run's total steps
   * @throws IllegalArgumentException naming the setting at fault
   */
  public static long checkPlan(Request request, TrainOptions options, Configuration conf, int workers) {
    var manifest = dev.clipspark.dataset.build.Manifest.read(request.dataset(), conf);
    long rows = manifest.totalRows();
    if (rows < options.batchSize()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train on %s with train.batch-size %d:"
          + " the dataset has only %d rows", request.dataset(), options.batchSize(), rows));
    }
    long batches = dev.clipspark.training.data.TrainingData.batchesPerEpoch(rows, options.batchSize(), workers);
    if (batches < 1) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train on %s with train.batch-size %d"
          + " and %d workers: each worker's share of its %d rows holds no whole batch", request.dataset(),
          options.batchSize(), workers, rows));
    }
    if (request.tokenizer() != null && !request.tokenizer().isBlank()
        && !Checkpoints.hasComplete(request.outDir(), conf)) {
      // Throws naming the file, its merges and the largest vocabulary size it supports.
      ClipTokenizer.load(request.tokenizer(), request.tokenizerVocabSize(), conf);
    }
    long total = totalSteps(options, batches);
    try {
      schedule(options, total);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage() + " (train.warmup-steps, train.max-steps, train.epochs)", e);
    }
    return total;
  }

  /**
   * Runs (or resumes) training until the configured number of steps.
   *
   * @param progress receives one human-readable line per logging interval
   * @throws NonFiniteLossException when the loss is NaN or infinite and {@code train.on-non-finite-loss} is stop
   */
  public static TrainSummary run(Request request, TrainOptions options, Configuration conf,
      Consumer<String> progress) {
    return run(request, options, conf, progress, null);
  }

  /**
   * Runs (or resumes) this worker's part of a training run over the workers of {@code collective} (null: one
   * worker). Every worker calls it with the same request and options; each streams its own slice of every
   * global batch ({@code train.batch-size} must divide by the workers), the loss is exact over the global
   * batch ({@link DistributedTrainStep}), every worker applies the same update, and rank 0 alone writes
   * checkpoints, {@code metrics.jsonl} and progress lines. All workers resume from the same newest
   * checkpoint, so the output directory must be on a file system they all see.
   */
  public static TrainSummary run(Request request, TrainOptions options, Configuration conf,
      Consumer<String> progress, Collective collective) {
    return run(request, options, conf, progress, collective, () -> false);
  }

  /**
   * As {@link #run(Request, TrainOptions, Configuration, Consumer, Collective)}, stopping with an exception
   * before the next step once {@code cancelled} says so (a Spark task passes its {@code isInterrupted}).
   */
  public static TrainSummary run(Request request, TrainOptions options, Configuration conf,
      Consumer<String> progress, Collective collective, BooleanSupplier cancelled) {
    int rank = collective == null ? 0 : collective.rank();
    int workers = collective == null ? 1 : collective.size();
    int local = options.shareOf(workers);
    if (rank != 0) {
      progress = line -> { };
    }
    Backends.check();
    Backends.setThreads(options.threads());
    var resumed = Checkpoints.loadLatest(request.outDir(), DataType.FLOAT, conf);
    ModelConfig config;
    ParameterSet params;
    String tokenizerFile;
    int vocab;
    long step;
    DataPosition position;
    if (resumed.isPresent()) {
      var ckpt = resumed.get();
      config = ckpt.model();
      if (request.model() != null && !request.model().equals(config)) {
        throw new IllegalArgumentException(String.format(
            "Cannot resume %s with model %s: its checkpoints hold model %s; use another --out to start a new run",
            request.outDir(), request.model().name(), config.name()));
      }
      Map<String, Object> state = ckpt.trainerState();
      requireSame(request.outDir(), "dataset", request.dataset(), state.get("dataset"));
      requireSame(request.outDir(), TrainOptions.BATCH_SIZE, options.batchSize(), state.get("batch_size"));
      requireSame(request.outDir(), TrainOptions.SEED, options.seed(), state.get("seed"));
      requireSame(request.outDir(), TrainOptions.LOCK_IMAGE, options.lockImage(),
          state.getOrDefault("lock_image", false));
      params = ckpt.parameters();
      tokenizerFile = ckpt.tokenizerMerges();
      vocab = ((Number) state.get("tokenizer_vocab_size")).intValue();
      step = ckpt.step();
      position = new DataPosition(((Number) state.get("epoch")).intValue(),
          ((Number) state.get("sample_in_epoch")).longValue());
      progress.accept(String.format(Locale.ROOT, "Resuming %s from %s: step %d, epoch %d", request.outDir(),
          ckpt.directory(), step, position.epoch()));
    } else if (!options.init().isEmpty()) {
      var init = ModelWeights.load(options.init(), request.model(), DataType.FLOAT, conf);
      config = init.model();
      params = init.parameters();
      boolean ownTokenizer = request.tokenizer() != null && !request.tokenizer().isBlank();
      if (!ownTokenizer && init.tokenizerMerges() == null) {
        throw new IllegalArgumentException("Cannot train " + config.name() + " from " + init.source()
            + ": a weights file carries no tokenizer; give its merges file (--tokenizer FILE or tokenizer.merges,"
            + " e.g. OpenAI's bpe_simple_vocab_16e6.txt.gz with tokenizer.vocab-size = 49408)");
      }
      tokenizerFile = ownTokenizer ? request.tokenizer() : init.tokenizerMerges();
      vocab = ownTokenizer ? request.tokenizerVocabSize() : init.tokenizerVocabSize();
      step = 0;
      position = new DataPosition(0, 0);
      progress.accept(String.format(Locale.ROOT, "Starting %s from the weights of %s%s (step 0, a fresh optimizer)",
          request.outDir(), init.source(), init.step() > 0 ? " (trained " + init.step() + " steps)" : ""));
    } else {
      config = Objects.requireNonNull(request.model(), "model (nothing to resume)");
      if (request.tokenizer() == null || request.tokenizer().isBlank()) {
        throw new IllegalArgumentException("Cannot train " + config.name() + ": no tokenizer merges file given"
            + " (--tokenizer FILE or tokenizer.merges; bin/clip train-tokenizer learns one from a dataset)");
      }
      params = ClipParameters.initialize(config, options.seed(), DataType.FLOAT);
      tokenizerFile = request.tokenizer();
      vocab = request.tokenizerVocabSize();
      step = 0;
      position = new DataPosition(0, 0);
    }
    ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerFile, vocab, conf);
    if (tokenizer.vocabSize() > config.text().vocabSize()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot train %s with the tokenizer %s: its %d tokens exceed the model's text.vocab_size %d", config.name(),
          tokenizerFile, tokenizer.vocabSize(), config.text().vocabSize()));
    }
    ClipModel model = ClipModel.create(config, params);
    if (options.lockImage()) {
      model.lockImage();
    }
    model.setTraining(true);
    List<String> trained = params.names().stream()
        .filter(n -> !(options.lockImage() && ClipModel.isImageTower(n))).toList();
    Set<String> decayed = new java.util.LinkedHashSet<>(AdamW.decayedNames(ClipParameters.specs(config)));
    decayed.retainAll(trained);
    var optimizer = new AdamW(params, trained, decayed, options.beta1(), options.beta2(), options.eps(),
        options.weightDecay());
    resumed.ifPresent(c -> c.optimizer().orElseThrow(() -> new IllegalStateException(
        "Cannot resume from " + c.directory() + ": it holds no optimizer state")).restoreInto(optimizer));

    int imageSize = config.vision().imageSize();
    try (TrainingData data = TrainingData.builder()
        .setDataset(request.dataset())
        .setTokenizer(tokenizer)
        .setContextLength(config.text().contextLength())
        .setImageSize(imageSize)
        .setBatchSize(options.batchSize())
        .setSeed(options.seed())
        .optAugment(options.augment()
            ? ImagePreprocessor.train(imageSize, options.cropMinScale(), options.cropMaxScale())
            : ImagePreprocessor.eval(imageSize))
        .optHadoopConf(conf)
        .optDecodeThreads(options.decodeThreads())
        .optShuffleBuffer(options.shuffleBuffer())
        .optStart(position)
        .optRank(rank, workers)
        .build()) {
      long total = totalSteps(options, data.batchesPerEpoch());
      LearningRateSchedule schedule = schedule(options, total);
      var metrics = rank == 0 ? new MetricsLog(request.outDir(), METRICS_FILE, options.checkpointCommit(), conf) : null;
      if (metrics != null) {
        metrics.truncateAfter(step);
      }
      var trainStep = new TrainStep(model, Math.min(options.effectiveMicroBatch(), local));
      var distributedStep = collective == null ? null
          : new DistributedTrainStep(model, collective, Math.min(options.effectiveMicroBatch(), local), LOSS_TILE);
      Map<String, Object> fixedState = new LinkedHashMap<>();
      fixedState.put("dataset", request.dataset());
      fixedState.put("batch_size", options.batchSize());
      fixedState.put("seed", options.seed());
      fixedState.put("tokenizer_vocab_size", tokenizer.vocabSize());
      fixedState.put("total_steps", total);
      fixedState.put("workers", workers);
      fixedState.put("lock_image", options.lockImage());
      Object initFrom = resumed.map(c -> c.trainerState().get("init")).orElse(options.init().isEmpty() ? null
          : options.init());
      if (initFrom != null) {
        fixedState.put("init", initFrom);
      }
      Object savedWorkers = resumed.map(c -> c.trainerState().get("workers")).orElse(null);
      if (savedWorkers != null && ((Number) savedWorkers).intValue() != workers) {
        progress.accept(String.format(Locale.ROOT, "Resuming with %d workers where the checkpoint was written by %s:"
            + " the rest of epoch %d is divided among the workers anew, so some of its samples may be seen twice"
            + " or not at all", workers, savedWorkers, position.epoch()));
      }
      boolean verify = collective != null && workers > 1 && options.verifyEvery() > 0;
      if (verify) {
        ParameterChecksum.verify(params, collective, step);
      }
      boolean hooked = options.debugRank() < 0 || options.debugRank() == rank;

      long startStep = step;
      double firstLoss = Double.NaN;
      double lastLoss = Double.NaN;
      long skipped = 0;
      String lastCheckpoint = resumed.map(c -> c.directory()).orElse("");
      long started = System.nanoTime();
      long intervalStart = started;
      long intervalSamples = 0;
      long trainedCount = trained.stream().mapToLong(n -> params.value(n).length()).sum();
      progress.accept(String.format(Locale.ROOT, "Training %s (%,d parameters%s) on %s: %,d steps of %,d samples,"
              + " %,d batches per epoch, micro-batch %d", config.name(), params.elementCount(),
          options.lockImage() ? String.format(Locale.ROOT, ", image tower locked: %,d trained", trainedCount) : "",
          request.dataset(), total, options.batchSize(), data.batchesPerEpoch(), options.effectiveMicroBatch()));
      while (step < total) {
        if (cancelled.getAsBoolean()) {
          throw new IllegalStateException(String.format(Locale.ROOT,
              "Cannot continue training on worker %d of %d after step %d: the task was cancelled", rank, workers, step));
        }
        Batch batch = data.next();
        double lr = schedule.at(step);
        TrainStep.Result result = distributedStep == null ? trainStep.run(batch.images(), batch.tokens())
            : distributedStep.run(batch.images(), batch.tokens());
        step++;
        StepGate gate = gate(params, options, step, result.loss(), config.name(), lastCheckpoint);
        double gradNorm = gate.gradNorm();
        if (gate.apply()) {
          optimizer.step(lr);
          model.clampLogitScale();
        } else {
          skipped++;
        }
        if (Double.isNaN(firstLoss)) {
          firstLoss = result.loss();
        }
        lastLoss = result.loss();
        intervalSamples += options.batchSize();
        if (step % options.logEvery() == 0 || step == total || step == startStep + 1) {
          long now = System.nanoTime();
          double rate = intervalSamples / Math.max((now - intervalStart) / 1e9, 1e-9);
          double eta = (total - step) * options.batchSize() / Math.max(rate, 1e-9);
          Map<String, Object> record = new LinkedHashMap<>();
          record.put("step", step);
          record.put("epoch", data.position().epoch());
          record.put("loss", result.loss());
          record.put("accuracy", result.accuracy());
          record.put("learning_rate", lr);
          record.put("logit_scale", Math.exp(model.logitScale()));
          record.put("grad_norm", Double.isNaN(gradNorm) ? null : gradNorm);
          record.put("samples_per_second", rate);
          record.put("skipped_steps", skipped);
          record.put("total_steps", total);
          record.put("eta_seconds", (long) eta);
          if (metrics != null) {
            metrics.append(record);
          }
          progress.accept(progressLine(record));
          intervalStart = now;
          intervalSamples = 0;
        }
        if (step % options.checkpointEvery() == 0 || step == total) {
          Map<String, Object> state = new LinkedHashMap<>(fixedState);
          state.put("epoch", data.position().epoch());
          state.put("sample_in_epoch", data.position().sampleInEpoch());
          state.put("loss", result.loss());
          state.put("skipped_steps", skipped);
          if (rank == 0) {
            lastCheckpoint = Checkpoints.save(request.outDir(), new Checkpoint(step, state, config, tokenizerFile,
                params, OptimizerState.of(optimizer)), options.keepCheckpoints(), options.checkpointCommit(), conf)
                .toString();
            // Later checkpoints copy the merges from this one: the file resumed from (or the user's) may be gone
            // by then, deleted by train.keep-checkpoints.
            tokenizerFile = new org.apache.hadoop.fs.Path(lastCheckpoint, Checkpoints.TOKENIZER).toString();
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
          hang(rank, step, cancelled);
        }
      }
      double seconds = (System.nanoTime() - started) / 1e9;
      double rate = (step - startStep) * (double) options.batchSize() / Math.max(seconds, 1e-9);
      return new TrainSummary(request.outDir(), config.name(), startStep, step, firstLoss, lastLoss, skipped, rate,
          lastCheckpoint, new org.apache.hadoop.fs.Path(request.outDir(), METRICS_FILE).toString());
    }
  }

  /**
   * Whether an optimizer step applies, and the gradient norm ({@code NaN} when not measured).
   *
   * @param apply    false for a skipped step (its gradients are zeroed)
   * @param gradNorm the global gradient norm before clipping, measured when clipping or on logging steps
   */
  record StepGate(boolean apply, double gradNorm) {}

  /**
   * After the backward pass of {@code step} (counted from 1): clips the gradients to {@code train.grad-clip-norm}
   * (or measures their norm on logging steps) and decides whether the update applies. A non-finite loss, or a
   * non-finite norm when clipping, stops the run ({@code train.on-non-finite-loss = stop}, naming the newest
   * checkpoint) or zeroes the gradients so the step is skipped ({@code skip}). Shared by the CLIP and language-model
   * trainers.
   *
   * @throws NonFiniteLossException when the step is not finite and the setting is {@code stop}
   */
  static StepGate gate(ParameterSet params, TrainOptions options, long step, double loss, String model,
      String lastCheckpoint) {
    boolean finite = Double.isFinite(loss);
    double gradNorm = Double.NaN;
    if (finite) {
      gradNorm = options.gradClipNorm() > 0
          ? GradientClipping.clipByGlobalNorm(params, options.gradClipNorm())
          : step % options.logEvery() == 0 ? GradientClipping.globalNorm(params) : Double.NaN;
      finite = !(options.gradClipNorm() > 0) || Double.isFinite(gradNorm);
    }
    if (finite) {
      return new StepGate(true, gradNorm);
    }
    if (options.onNonFinite() == TrainOptions.OnNonFinite.STOP) {
      throw new NonFiniteLossException(String.format(Locale.ROOT,
          "Cannot continue training %s at step %d: the loss is %s (gradient norm %s). The newest checkpoint is"
              + " %s. Lower train.learning-rate, set train.grad-clip-norm, or set"
              + " train.on-non-finite-loss=skip to drop such steps", model, step, loss, gradNorm,
          lastCheckpoint.isEmpty() ? "none" : lastCheckpoint));
    }
    params.zeroGradients();
    return new StepGate(false, gradNorm);
  }

  /**
   * The progress line of one {@code metrics.jsonl} record, e.g. {@code step 40/248 epoch 1 loss 3.9120 acc 0.094
   * lr 0.000500 scale 14.45 samples/s 41.3 eta 0:01:40}.
   */
  static String progressLine(Map<String, ?> record) {
    return String.format(Locale.ROOT,
        "step %d/%d epoch %d loss %.4f acc %.3f lr %.3g scale %.2f samples/s %.1f eta %s",
        number(record, "step").longValue(), number(record, "total_steps").longValue(),
        number(record, "epoch").intValue(), number(record, "loss").doubleValue(),
        number(record, "accuracy").doubleValue(), number(record, "learning_rate").doubleValue(),
        number(record, "logit_scale").doubleValue(), number(record, "samples_per_second").doubleValue(),
        format(Duration.ofSeconds(number(record, "eta_seconds").longValue())));
  }

  private static Number number(Map<String, ?> record, String key) {
    Object v = record.get(key);
    return v instanceof Number n ? n : Double.NaN;
  }

  /** The hang test hook: stop answering peers until the task is cancelled or interrupted, then fail. */
  static void hang(int rank, long step, BooleanSupplier cancelled) {
    try {
      while (!cancelled.getAsBoolean()) {
        Thread.sleep(100);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    throw new IllegalStateException(String.format(Locale.ROOT,
        "Stopped hanging on purpose on worker %d after step %d (%s, a test hook): the task was cancelled", rank, step,
        TrainOptions.HANG_AT_STEP));
  }

  private static void requireSame(String out, String what, Object now, Object saved) {
    if (saved != null && !String.valueOf(saved).equals(String.valueOf(now))) {
      throw new IllegalArgumentException(String.format(
          "Cannot resume %s with %s %s: its checkpoints were trained with %s; use the same value or another --out",
          out, what, now, saved));
    }
  }

  private static String format(Duration d) {
    return String.format(Locale.ROOT, "%d:%02d:%02d", d.toHours(), d.toMinutesPart(), d.toSecondsPart());
  }

  static String json(Map<String, Object> record) {
    try {
      return JSON.writeValueAsString(record);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write metrics record " + record, e);
    }
  }
}
