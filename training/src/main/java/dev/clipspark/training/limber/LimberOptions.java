package dev.clipspark.training.limber;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;

/**
 * The {@code limber.*} settings of {@code train-limber}, validated with messages naming the key, the value and what
 * is allowed, e.g. {@code Cannot set limber.prompts to 0: must be between 1 and 4096}.
 *
 * @param features what P reads from the frozen CLIP image tower
 * @param prompts k, soft prompts made from one pooled encoding (pooled mode; grid mode uses one per position)
 * @param batchSize captions per optimizer step (the global batch, shared by the workers)
 * @param epochs passes over the features, unless {@link #maxSteps} stops earlier
 * @param maxSteps optimizer steps of the run (0: epochs times the batches per epoch)
 * @param learningRate peak learning rate of P
 * @param warmupSteps steps of linear warm-up, then a cosine decay to 0 at the last step
 * @param weightDecay AdamW's decoupled weight decay on P's weight (not its bias)
 * @param gradClipNorm clip P's gradient norm to this; 0 disables clipping
 * @param seed seed of P's initialisation and of the data order
 * @param checkpointEvery write a checkpoint every this many steps (and at the end)
 * @param keepCheckpoints newest complete checkpoints kept; 0 keeps all
 * @param logEvery one progress line and one metrics.jsonl record every this many steps
 * @param featureBatchSize images encoded at once per executor task when computing features
 * @param failAtStep test hook: the run fails on purpose after finishing this step (0: never)
 * @param debugRank the worker the test hook applies to; -1 every worker
 */
public record LimberOptions(FeatureMode features, int prompts, int batchSize, int epochs, long maxSteps,
    double learningRate, long warmupSteps, double weightDecay, double gradClipNorm, long seed, long checkpointEvery,
    int keepCheckpoints, long logEvery, int featureBatchSize, long failAtStep, int debugRank) implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Feature mode. */
  public static final String FEATURES = "limber.features";
  /** Default of {@link #FEATURES}. */
  public static final FeatureMode FEATURES_DEFAULT = FeatureMode.POOLED;
  /** Soft prompts of pooled mode. */
  public static final String PROMPTS = "limber.prompts";
  /** Default of {@link #PROMPTS}. */
  public static final int PROMPTS_DEFAULT = 4;
  /** Largest {@link #PROMPTS}. */
  public static final int PROMPTS_MAX = 4096;
  /** Global batch. */
  public static final String BATCH_SIZE = "limber.batch-size";
  /** Default of {@link #BATCH_SIZE}. */
  public static final int BATCH_SIZE_DEFAULT = 64;
  /** Epochs. */
  public static final String EPOCHS = "limber.epochs";
  /** Default of {@link #EPOCHS}. */
  public static final int EPOCHS_DEFAULT = 10;
  /** Step limit. */
  public static final String MAX_STEPS = "limber.max-steps";
  /** Default of {@link #MAX_STEPS}: no limit beyond the epochs. */
  public static final long MAX_STEPS_DEFAULT = 0;
  /** Peak learning rate. */
  public static final String LEARNING_RATE = "limber.learning-rate";
  /** Default of {@link #LEARNING_RATE}. */
  public static final double LEARNING_RATE_DEFAULT = 1e-3;
  /** Warm-up steps. */
  public static final String WARMUP_STEPS = "limber.warmup-steps";
  /** Default of {@link #WARMUP_STEPS}. */
  public static final long WARMUP_STEPS_DEFAULT = 100;
  /** Weight decay. */
  public static final String WEIGHT_DECAY = "limber.weight-decay";
  /** Default of {@link #WEIGHT_DECAY}. */
  public static final double WEIGHT_DECAY_DEFAULT = 0.01;
  /** Gradient clipping. */
  public static final String GRAD_CLIP_NORM = "limber.grad-clip-norm";
  /** Default of {@link #GRAD_CLIP_NORM}. */
  public static final double GRAD_CLIP_NORM_DEFAULT = 1.0;
  /** Seed. */
  public static final String SEED = "limber.seed";
  /** Default of {@link #SEED}. */
  public static final long SEED_DEFAULT = 0;
  /** Checkpoint interval. */
  public static final String CHECKPOINT_EVERY = "limber.checkpoint-every";
  /** Default of {@link #CHECKPOINT_EVERY}. */
  public static final long CHECKPOINT_EVERY_DEFAULT = 500;
  /** Checkpoints kept. */
  public static final String KEEP_CHECKPOINTS = "limber.keep-checkpoints";
  /** Default of {@link #KEEP_CHECKPOINTS}: all. */
  public static final int KEEP_CHECKPOINTS_DEFAULT = 0;
  /** Logging interval. */
  public static final String LOG_EVERY = "limber.log-every";
  /** Default of {@link #LOG_EVERY}. */
  public static final long LOG_EVERY_DEFAULT = 10;
  /** Images encoded at once when computing features. */
  public static final String FEATURE_BATCH_SIZE = "limber.feature-batch-size";
  /** Default of {@link #FEATURE_BATCH_SIZE}. */
  public static final int FEATURE_BATCH_SIZE_DEFAULT = 32;
  /** Test hook: fail after this step. */
  public static final String FAIL_AT_STEP = "limber.debug.fail-at-step";
  /** Default of {@link #FAIL_AT_STEP}: never. */
  public static final long FAIL_AT_STEP_DEFAULT = 0;
  /** Test hook: the worker it applies to. */
  public static final String DEBUG_RANK = "limber.debug.rank";
  /** Default of {@link #DEBUG_RANK}: every worker. */
  public static final int DEBUG_RANK_DEFAULT = -1;

  /** AdamW's first-moment decay (not a setting). */
  public static final double BETA1 = 0.9;
  /** AdamW's second-moment decay (not a setting). */
  public static final double BETA2 = 0.98;
  /** AdamW's epsilon (not a setting). */
  public static final double EPS = 1e-6;

  /** Validates. */
  public LimberOptions {
    if (features == null) {
      throw new ConfigValueException(FEATURES, "null", "must be one of pooled, grid");
    }
    range(PROMPTS, prompts, 1, PROMPTS_MAX);
    range(BATCH_SIZE, batchSize, 1, 1 << 24);
    range(EPOCHS, epochs, 1, 1_000_000);
    range(MAX_STEPS, maxSteps, 0, Long.MAX_VALUE);
    if (!(learningRate > 0 && learningRate <= 1)) {
      throw new ConfigValueException(LEARNING_RATE, learningRate, "must be a number greater than 0 and at most 1.0");
    }
    range(WARMUP_STEPS, warmupSteps, 0, Long.MAX_VALUE);
    if (!(weightDecay >= 0 && weightDecay <= 10)) {
      throw new ConfigValueException(WEIGHT_DECAY, weightDecay, "must be between 0.0 and 10.0");
    }
    if (!(gradClipNorm >= 0 && Double.isFinite(gradClipNorm))) {
      throw new ConfigValueException(GRAD_CLIP_NORM, gradClipNorm, "must be a finite number at least 0 (0: no"
          + " clipping)");
    }
    range(CHECKPOINT_EVERY, checkpointEvery, 1, Long.MAX_VALUE);
    range(KEEP_CHECKPOINTS, keepCheckpoints, 0, 1_000_000);
    range(LOG_EVERY, logEvery, 1, Long.MAX_VALUE);
    range(FEATURE_BATCH_SIZE, featureBatchSize, 1, 1 << 16);
    range(FAIL_AT_STEP, failAtStep, 0, Long.MAX_VALUE);
    range(DEBUG_RANK, debugRank, -1, 1 << 20);
  }

  /** Reads and validates every {@code limber.*} key. */
  public static LimberOptions from(Settings s) {
    return new LimberOptions(
        s.enumOf(FEATURES, FeatureMode.class),
        s.intIn(PROMPTS, 1, PROMPTS_MAX),
        s.intIn(BATCH_SIZE, 1, 1 << 24),
        s.intIn(EPOCHS, 1, 1_000_000),
        s.longIn(MAX_STEPS, 0, Long.MAX_VALUE),
        s.finiteDouble(LEARNING_RATE),
        s.longIn(WARMUP_STEPS, 0, Long.MAX_VALUE),
        s.finiteDouble(WEIGHT_DECAY),
        s.finiteDouble(GRAD_CLIP_NORM),
        s.longIn(SEED, Long.MIN_VALUE, Long.MAX_VALUE),
        s.longIn(CHECKPOINT_EVERY, 1, Long.MAX_VALUE),
        s.intIn(KEEP_CHECKPOINTS, 0, 1_000_000),
        s.longIn(LOG_EVERY, 1, Long.MAX_VALUE),
        s.intIn(FEATURE_BATCH_SIZE, 1, 1 << 16),
        s.longIn(FAIL_AT_STEP, 0, Long.MAX_VALUE),
        s.intIn(DEBUG_RANK, -1, 1 << 20));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static LimberOptions defaults() {
    return new LimberOptions(FEATURES_DEFAULT, PROMPTS_DEFAULT, BATCH_SIZE_DEFAULT, EPOCHS_DEFAULT, MAX_STEPS_DEFAULT,
        LEARNING_RATE_DEFAULT, WARMUP_STEPS_DEFAULT, WEIGHT_DECAY_DEFAULT, GRAD_CLIP_NORM_DEFAULT, SEED_DEFAULT,
        CHECKPOINT_EVERY_DEFAULT, KEEP_CHECKPOINTS_DEFAULT, LOG_EVERY_DEFAULT, FEATURE_BATCH_SIZE_DEFAULT,
        FAIL_AT_STEP_DEFAULT, DEBUG_RANK_DEFAULT);
  }

  /** These options with the test hook off (a retried Spark stage runs without it, so it can finish). */
  public LimberOptions withoutTestHooks() {
    return new LimberOptions(features, prompts, batchSize, epochs, maxSteps, learningRate, warmupSteps, weightDecay,
        gradClipNorm, seed, checkpointEvery, keepCheckpoints, logEvery, featureBatchSize, 0, DEBUG_RANK_DEFAULT);
  }

  /**
   * Each of {@code workers}' equal share of the global batch.
   *
   * @throws IllegalArgumentException if the batch does not divide among the workers
   */
  public int shareOf(int workers) {
    if (workers < 1 || batchSize % workers != 0) {
      throw new ConfigValueException(BATCH_SIZE, batchSize, "must be a multiple of the " + workers + " workers");
    }
    return batchSize / workers;
  }

  private static void range(String key, long v, long min, long max) {
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }
}
