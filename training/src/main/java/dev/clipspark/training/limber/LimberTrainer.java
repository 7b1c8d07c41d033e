package dev.clipspark.training.limber;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.checkpoint.OptimizerState;
import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.NextTokenLoss;
import dev.clipspark.training.lm.SoftPromptCaptioner;
import dev.clipspark.training.lm.SoftPromptMap;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.optim.AdamW;
import dev.clipspark.training.optim.GradientClipping;
import dev.clipspark.training.optim.LearningRateSchedule;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import dev.clipspark.training.trainer.MetricsLog;
import dev.clipspark.training.trainer.TrainSummary;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Trains LiMBeR's linear map P on one worker of K, with the image encoder and the language model frozen: features
 * come from {@link FeatureStore} (computed before by the driver's Spark job), every caption is tokenized once as
 * {@code caption <|endoftext|>} (cut so that k + tokens fit the language model's {@code n_ctx}), and each step
 * minimises the next-token cross-entropy of the global batch's caption tokens after their images' k soft prompts
 * ({@link SoftPromptCaptioner}), with AdamW, a linear warm-up and a cosine decay.
 *
 * <p>Data order: epoch e visits the rows (sorted by key) in a permutation drawn from {@code limber.seed} and e;
 * global batch b of the epoch is its rows {@code [b N, (b + 1) N)}, and worker r takes the r-th of K equal slices.
 * Every worker holds all features and captions, so each knows the number M of scored tokens of the whole global
 * batch; it scales its gradient by {@code M_r / M}, and one all-reduce (sum) of P's gradient, together with the loss
 * sum and the count of correct predictions, gives every worker the gradient of the global batch's mean loss, the
 * same as one process with the whole batch (up to float rounding). Every worker then applies the same update.
 *
 * <p>Rank 0 writes {@code metrics.jsonl}, progress lines and checkpoints ({@link LimberCheckpoints}: P, the
 * optimizer, the step and {@code limber.json}); a run whose output directory holds one resumes from the newest, and
 * since the data order is a function of the step alone it continues exactly as an uninterrupted run would.
 * No Spark here: the loop runs in a driver or inside a Spark barrier task.
 */
public final class LimberTrainer {

  /** File of one JSON record per logged step. */
  public static final String METRICS_FILE = "metrics.jsonl";

  /**
   * What to train.
   *
   * @param outDir output directory: {@code features/}, {@code checkpoints/}, {@code metrics.jsonl}
   * @param clip the frozen CLIP checkpoint the features were computed with
   * @param lm the frozen language model's checkpoint
   */
  public record Request(String outDir, FrozenCheckpoint clip, FrozenCheckpoint lm) implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    /** Checks that every field is there. */
    public Request {
      Objects.requireNonNull(outDir, "outDir");
      Objects.requireNonNull(clip, "clip");
      Objects.requireNonNull(lm, "lm");
    }
  }

  private LimberTrainer() {}

  /** Steps of the run: {@code limber.max-steps}, or the epochs times the batches per epoch. */
  static long totalSteps(LimberOptions options, long batchesPerEpoch) {
    return options.maxSteps() > 0 ? options.maxSteps() : options.epochs() * batchesPerEpoch;
  }

  /**
   * The number k of soft prompts: {@code limber.prompts} in pooled mode, the grid's positions in grid mode; checked
   * against the language model's context, which must hold the k prompts and at least one caption token.
   *
   * @throws ConfigValueException naming the key at fault
   */
  public static int prompts(LimberOptions options, int gridPositions, int contextLength) {
    int k = options.features() == FeatureMode.POOLED ? options.prompts() : gridPositions;
    if (k + 1 > contextLength) {
      if (options.features() == FeatureMode.POOLED) {
        throw new ConfigValueException(LimberOptions.PROMPTS, k, String.format(Locale.ROOT, "k soft prompts and at"
            + " least one caption token must fit the language model's n_ctx %d: at most %d", contextLength,
            contextLength - 1));
      }
      throw new ConfigValueException(LimberOptions.FEATURES, "grid", String.format(Locale.ROOT, "the image grid has"
          + " %d positions, one soft prompt each, and with at least one caption token they must fit the language"
          + " model's n_ctx %d; use pooled", k, contextLength));
    }
    return k;
  }

  /**
   * Checks on the driver, before any worker starts, that the features hold at least one global batch and that the
   * schedule fits the run.
   *
   * @return the run's total steps
   */
  public static long checkPlan(FeatureStore.Info features, LimberOptions options, int workers) {
    options.shareOf(workers);
    long batches = features.rows() / options.batchSize();
    if (batches < 1) {
      throw new ConfigValueException(LimberOptions.BATCH_SIZE, options.batchSize(), String.format(Locale.ROOT,
          "must be at most the %d images with features in %s", features.rows(), features.dataset()));
    }
    long total = totalSteps(options, batches);
    schedule(options, total);
    return total;
  }

  private static LearningRateSchedule schedule(LimberOptions options, long total) {
    try {
      return LearningRateSchedule.cosine(options.learningRate(), options.warmupSteps(), total);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage() + " (" + LimberOptions.WARMUP_STEPS + " "
          + options.warmupSteps() + " must be less than the run's " + total + " steps: " + LimberOptions.MAX_STEPS
          + ", " + LimberOptions.EPOCHS + ")", e);
    }
  }

  /**
   * Tokens of one caption as trained on: {@code caption <|endoftext|>}, cut to {@code maxTokens}.
   */
  public static int[] captionTokens(Gpt2Tokenizer tokenizer, String caption, int maxTokens) {
    int[] ids = tokenizer.encode(caption == null ? "" : caption);
    int[] row = Arrays.copyOf(ids, ids.length + 1);
    row[ids.length] = tokenizer.endOfText();
    return row.length <= maxTokens ? row : Arrays.copyOf(row, maxTokens);
  }

  /** The rows of global batch {@code batch} of {@code epoch}: a seeded permutation of all rows, then a slice. */
  static int[] globalBatch(long seed, long epoch, long batch, int rows, int batchSize) {
    int[] perm = permutation(seed, epoch, rows);
    return Arrays.copyOfRange(perm, Math.toIntExact(batch * batchSize), Math.toIntExact((batch + 1) * batchSize));
  }

  static int[] permutation(long seed, long epoch, int rows) {
    int[] p = new int[rows];
    for (int i = 0; i < rows; i++) {
      p[i] = i;
    }
    var random = new SplittableRandom(mix(mix(seed) ^ (epoch + 0x9E3779B97F4A7C15L)));
    for (int i = rows - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /**
   * Runs (or resumes) this worker's part of training P over the workers of {@code collective} (null: one worker).
   *
   * @param progress receives one human-readable line per logging interval (rank 0 only)
   * @param cancelled checked before each step; a Spark task passes its {@code isInterrupted}
   */
  public static TrainSummary run(Request request, LimberOptions options, Configuration conf, Consumer<String> progress,
      Collective collective, BooleanSupplier cancelled) {
    int rank = collective == null ? 0 : collective.rank();
    int workers = collective == null ? 1 : collective.size();
    int local = options.shareOf(workers);
    if (rank != 0) {
      progress = line -> { };
    }
    FeatureStore.FeatureTable table = FeatureStore.read(request.outDir(), conf);
    FeatureStore.Info info = table.info();
    if (!info.clip().sha256().equals(request.clip().sha256()) || info.mode() != options.features()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot train on the features in %s: they were"
              + " computed from %s (checkpoint.json SHA-256 %s) in %s mode, not from %s (%s) in %s mode",
          request.outDir(), info.clip().directory(), info.clip().sha256(), info.mode().spelling(),
          request.clip().directory(), request.clip().sha256(), options.features().spelling()));
    }
    LimberCheckpoints.LanguageModel lm = LimberCheckpoints.loadLanguageModel(request.lm().directory(), conf);
    Gpt2Model model = lm.model();
    int context = model.config().nCtx();
    int k = prompts(options, info.positions(), context);
    int lmWidth = model.config().nEmbd();
    var identity = new LimberCheckpoints.Identity(request.clip(), request.lm(), options.features(), k, info.width(),
        lmWidth);

    var resumed = LimberCheckpoints.loadLatest(request.outDir(), conf);
    ParameterSet params;
    long step;
    if (resumed.isPresent()) {
      var r = resumed.get();
      r.identity().requireSameFrozenParts(identity, r.directory());
      requireSame(request.outDir(), LimberOptions.BATCH_SIZE, options.batchSize(), r.state().get("batch_size"));
      requireSame(request.outDir(), LimberOptions.SEED, options.seed(), r.state().get("seed"));
      params = r.parameters();
      step = r.step();
      progress.accept(String.format(Locale.ROOT, "Resuming %s from %s: step %d", request.outDir(), r.directory(),
          step));
    } else {
      params = options.features() == FeatureMode.POOLED
          ? SoftPromptMap.initialize(info.width(), k, lmWidth, options.seed(), DataType.FLOAT)
          : SoftPromptMap.initializeGrid(info.width(), lmWidth, options.seed(), DataType.FLOAT);
      step = 0;
    }
    SoftPromptMap map = options.features() == FeatureMode.POOLED ? new SoftPromptMap(params, k)
        : SoftPromptMap.grid(params, k);
    var captioner = new SoftPromptCaptioner(model, map);
    var optimizer = new AdamW(params, List.of(SoftPromptMap.WEIGHT, SoftPromptMap.BIAS), Set.of(SoftPromptMap.WEIGHT),
        LimberOptions.BETA1, LimberOptions.BETA2, LimberOptions.EPS, options.weightDecay());
    if (resumed.isPresent()) {
      resumed.get().optimizer().restoreInto(optimizer);
    }

    List<FeatureStore.FeatureTable.Row> rows = table.rows();
    int maxTokens = context - k;
    int[][] tokens = new int[rows.size()][];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = captionTokens(lm.tokenizer(), rows.get(i).caption(), maxTokens);
    }
    long batchesPerEpoch = rows.size() / options.batchSize();
    long total = checkPlan(info, options, workers);
    LearningRateSchedule schedule = schedule(options, total);
    var metrics = rank == 0 ? new MetricsLog(request.outDir(), METRICS_FILE, Checkpoints.COMMIT_DEFAULT, conf) : null;
    if (metrics != null) {
      metrics.truncateAfter(step);
    }
    Map<String, Object> fixedState = new LinkedHashMap<>();
    fixedState.put("batch_size", options.batchSize());
    fixedState.put("seed", options.seed());
    fixedState.put("total_steps", total);
    fixedState.put("workers", workers);
    fixedState.put("feature_rows", rows.size());
    String modelName = "LiMBeR P (" + options.features().spelling() + ", k = " + k + ") into " + model.config().name();
    long pCount = params.elementCount();
    progress.accept(String.format(Locale.ROOT, "Training %s: %,d parameters (frozen: the CLIP image tower and %s's"
            + " %,d parameters) on %,d images, %,d steps of %d captions, %d batches per epoch, %d worker%s",
        modelName, pCount, model.config().name(), model.parameters().elementCount(), rows.size(), total,
        options.batchSize(), batchesPerEpoch, workers, workers == 1 ? "" : "s"));

    boolean hooked = options.debugRank() < 0 || options.debugRank() == rank;
    long startStep = step;
    double firstLoss = Double.NaN;
    double lastLoss = Double.NaN;
    String lastCheckpoint = resumed.map(LimberCheckpoints.Saved::directory).orElse("");
    long started = System.nanoTime();
    long intervalStart = started;
    long intervalSamples = 0;
    long cachedEpoch = -1;
    int[] perm = null;
    INDArray gradW = params.gradient(SoftPromptMap.WEIGHT);
    INDArray gradB = params.gradient(SoftPromptMap.BIAS);
    long wLen = gradW.length();
    long bLen = gradB.length();
    while (step < total) {
      if (cancelled.getAsBoolean()) {
        throw new IllegalStateException(String.format(Locale.ROOT,
            "Cannot continue training on worker %d of %d after step %d: the task was cancelled", rank, workers, step));
      }
      long epoch = step / batchesPerEpoch;
      long inEpoch = step % batchesPerEpoch;
      if (epoch != cachedEpoch) {
        perm = permutation(options.seed(), epoch, rows.size());
        cachedEpoch = epoch;
      }
      int base = Math.toIntExact(inEpoch * options.batchSize());
      long scoredGlobal = 0;
      for (int i = 0; i < options.batchSize(); i++) {
        scoredGlobal += tokens[perm[base + i]].length;
      }
      int[] mine = Arrays.copyOfRange(perm, base + rank * local, base + (rank + 1) * local);
      params.zeroGradients();
      double[] sums = localStep(captioner, map, info, rows, tokens, mine, scoredGlobal);
      double lr = schedule.at(step);
      double lossSum;
      double correct;
      if (collective != null && workers > 1) {
        INDArray buffer = Nd4j.createUninitialized(DataType.FLOAT, wLen + bLen + 2);
        buffer.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, wLen)).assign(gradW.reshape(wLen));
        buffer.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(wLen, wLen + bLen)).assign(gradB.reshape(bLen));
        buffer.putScalar(wLen + bLen, sums[0]);
        buffer.putScalar(wLen + bLen + 1, sums[1]);
        INDArray reduced = collective.allReduceSum(buffer);
        gradW.assign(reduced.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, wLen)).reshape(gradW.shape()));
        gradB.assign(reduced.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(wLen, wLen + bLen))
            .reshape(gradB.shape()));
        lossSum = reduced.getDouble(wLen + bLen);
        correct = reduced.getDouble(wLen + bLen + 1);
      } else {
        lossSum = sums[0];
        correct = sums[1];
      }
      double loss = lossSum / scoredGlobal;
      if (!Double.isFinite(loss)) {
        throw new IllegalStateException(String.format(Locale.ROOT, "Cannot continue training %s at step %d: the loss"
            + " is %s. The newest checkpoint is %s. Lower %s", modelName, step + 1, loss,
            lastCheckpoint.isEmpty() ? "none" : lastCheckpoint, LimberOptions.LEARNING_RATE));
      }
      double gradNorm = options.gradClipNorm() > 0 ? GradientClipping.clipByGlobalNorm(params, options.gradClipNorm())
          : GradientClipping.globalNorm(params);
      optimizer.step(lr);
      step++;
      if (Double.isNaN(firstLoss)) {
        firstLoss = loss;
      }
      lastLoss = loss;
      intervalSamples += options.batchSize();
      if (step % options.logEvery() == 0 || step == total || step == startStep + 1) {
        long now = System.nanoTime();
        double rate = intervalSamples / Math.max((now - intervalStart) / 1e9, 1e-9);
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("step", step);
        record.put("epoch", epoch);
        record.put("loss", loss);
        record.put("accuracy", correct / scoredGlobal);
        record.put("learning_rate", lr);
        record.put("grad_norm", gradNorm);
        record.put("samples_per_second", rate);
        record.put("total_steps", total);
        record.put("eta_seconds", (long) ((total - step) * options.batchSize() / Math.max(rate, 1e-9)));
        if (metrics != null) {
          metrics.append(record);
        }
        progress.accept(progressLine(record));
        intervalStart = now;
        intervalSamples = 0;
      }
      if (step % options.checkpointEvery() == 0 || step == total) {
        if (rank == 0) {
          Map<String, Object> state = new LinkedHashMap<>(fixedState);
          state.put("epoch", step / batchesPerEpoch);
          state.put("loss", loss);
          lastCheckpoint = LimberCheckpoints.save(request.outDir(), step, state, params, OptimizerState.of(optimizer),
              identity, options.keepCheckpoints(), conf).toString();
        }
      }
      if (hooked && step == options.failAtStep()) {
        throw new IllegalStateException(String.format(Locale.ROOT,
            "Failing on purpose on worker %d after step %d (%s=%d, a test hook)", rank, step,
            LimberOptions.FAIL_AT_STEP, step));
      }
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    double rate = (step - startStep) * (double) options.batchSize() / Math.max(seconds, 1e-9);
    return new TrainSummary(request.outDir(), modelName, startStep, step, firstLoss, lastLoss, 0, rate,
        lastCheckpoint, new org.apache.hadoop.fs.Path(request.outDir(), METRICS_FILE).toString());
  }

  /**
   * This worker's rows: the loss of its caption tokens, its gradient scaled to the global mean (added into P's
   * accumulators); returns {loss sum over its scored tokens, correct predictions}.
   */
  private static double[] localStep(SoftPromptCaptioner captioner, SoftPromptMap map, FeatureStore.Info info,
      List<FeatureStore.FeatureTable.Row> rows, int[][] tokens, int[] mine, long scoredGlobal) {
    int n = mine.length;
    int per = info.positions() * info.width();
    float[] flat = new float[n * per];
    int t = 0;
    for (int i = 0; i < n; i++) {
      System.arraycopy(rows.get(mine[i]).feature(), 0, flat, i * per, per);
      t = Math.max(t, tokens[mine[i]].length);
    }
    INDArray features = map.isGrid()
        ? Nd4j.createFromArray(flat).reshape('c', n, info.positions(), info.width())
        : Nd4j.createFromArray(flat).reshape('c', n, info.width());
    int[][] captions = new int[n][t];
    int[] lengths = new int[n];
    for (int i = 0; i < n; i++) {
      int[] row = tokens[mine[i]];
      System.arraycopy(row, 0, captions[i], 0, row.length);
      lengths[i] = row.length;
    }
    NextTokenLoss.Result loss = NextTokenLoss.compute(captioner.logits(features, captions),
        SoftPromptCaptioner.targets(map.prompts(), captions, lengths));
    captioner.backward(loss.gradient().muli((double) loss.scored() / scoredGlobal));
    return new double[] {loss.loss() * loss.scored(), loss.correct()};
  }

  /** The progress line of one metrics record. */
  static String progressLine(Map<String, ?> record) {
    return String.format(Locale.ROOT, "step %d/%d epoch %d loss %.4f acc %.3f lr %.3g samples/s %.1f eta %s",
        ((Number) record.get("step")).longValue(), ((Number) record.get("total_steps")).longValue(),
        ((Number) record.get("epoch")).longValue(), ((Number) record.get("loss")).doubleValue(),
        ((Number) record.get("accuracy")).doubleValue(), ((Number) record.get("learning_rate")).doubleValue(),
        ((Number) record.get("samples_per_second")).doubleValue(),
        format(Duration.ofSeconds(((Number) record.get("eta_seconds")).longValue())));
  }

  private static String format(Duration d) {
    return String.format(Locale.ROOT, "%d:%02d:%02d", d.toHours(), d.toMinutesPart(), d.toSecondsPart());
  }

  private static void requireSame(String out, String what, Object now, Object saved) {
    if (saved != null && !String.valueOf(saved).equals(String.valueOf(now))) {
      throw new IllegalArgumentException(String.format(
          "Cannot resume %s with %s %s: its checkpoints were trained with %s; use the same value or another --out",
          out, what, now, saved));
    }
  }
}
