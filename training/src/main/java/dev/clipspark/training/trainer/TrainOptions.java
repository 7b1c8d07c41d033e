package dev.clipspark.training.trainer;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.checkpoint.CommitMode;
import java.io.Serializable;

/**
 * The {@code train.*} settings of a training run. Every path validates, with messages naming the key,
 * the value and what is allowed, e.g. {@code Cannot set train.micro-batch-size to 3: must divide
 * train.batch-size 32}. Defaults follow the CLIP paper where it says (AdamW betas 0.9/0.98, eps 1e-6,
 * weight decay 0.2, 2,000 warm-up steps, cosine decay, 32 epochs) and open_clip's
 * {@code RandomResizedCrop} scale (0.9, 1.0).
 *
 * @param batchSize global batch: the samples of one optimizer step, over which the contrastive loss is exact
 * @param microBatchSize samples embedded at once; smaller than the batch, the step embeds the batch in
 *     micro-batches without keeping activations, computes the exact loss, then recomputes each micro-batch
 *     with gradients (gradient caching); 0 means the whole batch at once
 * @param epochs passes over the dataset, unless {@link #maxSteps} stops earlier
 * @param maxSteps optimizer steps of the run (0: epochs times the batches per epoch)
 * @param learningRate peak learning rate
 * @param warmupSteps steps of linear warm-up from 0 to the peak
 * @param schedule what happens after warm-up
 * @param beta1 AdamW first-moment decay
 * @param beta2 AdamW second-moment decay
 * @param eps AdamW epsilon
 * @param weightDecay decoupled weight decay on weight matrices (not gains, biases, embeddings, the logit scale)
 * @param gradClipNorm clip the global gradient norm to this; 0 disables clipping
 * @param seed seed of initialisation, data order and augmentation
 * @param checkpointEvery write a checkpoint every this many steps (and at the end)
 * @param keepCheckpoints newest complete checkpoints kept; 0 keeps all
 * @param checkpointCommit how a checkpoint is committed: by rename (file systems) or by publishing a pointer
 *     (object stores); {@link CommitMode#AUTO} chooses by the output directory's scheme
 * @param logEvery one progress line and one metrics.jsonl record every this many steps
 * @param onNonFinite what a NaN or infinite loss does
 * @param augment random resized crops (true) or the evaluation transform (false) for training images
 * @param cropMinScale smallest crop area as a fraction of the image
 * @param cropMaxScale largest crop area as a fraction of the image
 * @param decodeThreads background threads decoding and augmenting images
 * @param shuffleBuffer samples mixed by the seeded shuffle buffer
 * @param threads ND4J element-wise (OpenMP) threads for the step; 0 leaves ND4J's default; matrix products use
 *     the BLAS library's threads regardless
 * @param verifyEvery with several workers, compare a checksum of every worker's parameters every this many
 *     steps (and at the first step) and stop on a mismatch; 0 never
 * @param failAtStep test hook: the run fails on purpose after finishing this step (0: never)
 * @param hangAtStep test hook: the run stops answering its peers after finishing this step (0: never)
 * @param debugRank the worker the test hooks apply to; -1 every worker
 * @param init weights a new run starts from instead of a random initialisation: a ClipSpark checkpoint or
 *     training output directory, or a released weights file; empty: none. Ignored when the run resumes
 * @param lockImage freeze the image tower (locked-image tuning): no gradient, no weight decay, no optimizer state,
 *     BatchNorm statistics fixed; only the text tower and the logit scale train
 */
public record TrainOptions(
    int batchSize, int microBatchSize, int epochs, long maxSteps, double learningRate, long warmupSteps,
    Schedule schedule, double beta1, double beta2, double eps, double weightDecay, double gradClipNorm,
    long seed, long checkpointEvery, int keepCheckpoints, CommitMode checkpointCommit, long logEvery, OnNonFinite onNonFinite,
    boolean augment, double cropMinScale, double cropMaxScale, int decodeThreads, int shuffleBuffer,
    int threads, long verifyEvery, long failAtStep, long hangAtStep, int debugRank, String init, boolean lockImage)
    implements Serializable {

  private static final long serialVersionUID = 1L;

  /** The learning rate after warm-up. */
  public enum Schedule {
    /** Half a cosine from the peak down to 0 at the last step (CLIP, open_clip's default). */
    COSINE,
    /** The peak until the end. */
    CONSTANT
  }

  /** What a NaN or infinite loss does. */
  public enum OnNonFinite {
    /** Stop the run with an error naming the step; the newest checkpoint is left as it was. */
    STOP,
    /** Drop that step's gradients, count it, and go on with the next batch. */
    SKIP
  }

  /** Global batch size. */
  public static final String BATCH_SIZE = "train.batch-size";
  /** Default of {@link #BATCH_SIZE}. */
  public static final int BATCH_SIZE_DEFAULT = 256;
  /** Micro-batch size. */
  public static final String MICRO_BATCH_SIZE = "train.micro-batch-size";
  /** Default of {@link #MICRO_BATCH_SIZE}: the whole batch at once. */
  public static final int MICRO_BATCH_SIZE_DEFAULT = 0;
  /** Epochs. */
  public static final String EPOCHS = "train.epochs";
  /** Default of {@link #EPOCHS}: the CLIP paper's. */
  public static final int EPOCHS_DEFAULT = 32;
  /** Step limit. */
  public static final String MAX_STEPS = "train.max-steps";
  /** Default of {@link #MAX_STEPS}: no limit beyond the epochs. */
  public static final long MAX_STEPS_DEFAULT = 0;
  /** Peak learning rate. */
  public static final String LEARNING_RATE = "train.learning-rate";
  /** Default of {@link #LEARNING_RATE}: CLIP ViT-B/32's. */
  public static final double LEARNING_RATE_DEFAULT = 5e-4;
  /** Warm-up steps. */
  public static final String WARMUP_STEPS = "train.warmup-steps";
  /** Default of {@link #WARMUP_STEPS}: the CLIP paper's. */
  public static final long WARMUP_STEPS_DEFAULT = 2000;
  /** Schedule after warm-up. */
  public static final String SCHEDULE = "train.schedule";
  /** Default of {@link #SCHEDULE}. */
  public static final Schedule SCHEDULE_DEFAULT = Schedule.COSINE;
  /** AdamW beta1. */
  public static final String BETA1 = "train.beta1";
  /** Default of {@link #BETA1}. */
  public static final double BETA1_DEFAULT = 0.9;
  /** AdamW beta2. */
  public static final String BETA2 = "train.beta2";
  /** Default of {@link #BETA2}: the CLIP paper's. */
  public static final double BETA2_DEFAULT = 0.98;
  /** AdamW epsilon. */
  public static final String EPS = "train.eps";
  /** Default of {@link #EPS}: the CLIP paper's. */
  public static final double EPS_DEFAULT = 1e-6;
  /** Decoupled weight decay. */
  public static final String WEIGHT_DECAY = "train.weight-decay";
  /** Default of {@link #WEIGHT_DECAY}: the CLIP paper's. */
  public static final double WEIGHT_DECAY_DEFAULT = 0.2;
  /** Gradient-norm clipping. */
  public static final String GRAD_CLIP_NORM = "train.grad-clip-norm";
  /** Default of {@link #GRAD_CLIP_NORM}: off. */
  public static final double GRAD_CLIP_NORM_DEFAULT = 0;
  /** Seed. */
  public static final String SEED = "train.seed";
  /** Default of {@link #SEED}. */
  public static final long SEED_DEFAULT = 0;
  /** Checkpoint interval. */
  public static final String CHECKPOINT_EVERY = "train.checkpoint-every";
  /** Default of {@link #CHECKPOINT_EVERY}. */
  public static final long CHECKPOINT_EVERY_DEFAULT = 1000;
  /** Checkpoints kept. */
  public static final String KEEP_CHECKPOINTS = "train.keep-checkpoints";
  /** Default of {@link #KEEP_CHECKPOINTS}. */
  public static final int KEEP_CHECKPOINTS_DEFAULT = 3;
  /** How checkpoints are committed: {@code auto}, {@code rename} or {@code pointer}. */
  public static final String CHECKPOINT_COMMIT = "train.checkpoint-commit";
  /**
   * Default of {@link #CHECKPOINT_COMMIT}: pointer on the object stores of {@link CommitMode#OBJECT_STORE_SCHEMES},
   * rename elsewhere.
   */
  public static final CommitMode CHECKPOINT_COMMIT_DEFAULT = CommitMode.AUTO;
  /** Progress interval. */
  public static final String LOG_EVERY = "train.log-every";
  /** Default of {@link #LOG_EVERY}. */
  public static final long LOG_EVERY_DEFAULT = 10;
  /** Non-finite loss handling. */
  public static final String ON_NON_FINITE = "train.on-non-finite-loss";
  /** Default of {@link #ON_NON_FINITE}. */
  public static final OnNonFinite ON_NON_FINITE_DEFAULT = OnNonFinite.STOP;
  /** Training augmentation on or off. */
  public static final String AUGMENT = "train.augment.enabled";
  /** Default of {@link #AUGMENT}. */
  public static final boolean AUGMENT_DEFAULT = true;
  /** Smallest crop scale. */
  public static final String CROP_MIN_SCALE = "train.augment.min-scale";
  /** Default of {@link #CROP_MIN_SCALE}: open_clip's. */
  public static final double CROP_MIN_SCALE_DEFAULT = 0.9;
  /** Largest crop scale. */
  public static final String CROP_MAX_SCALE = "train.augment.max-scale";
  /** Default of {@link #CROP_MAX_SCALE}. */
  public static final double CROP_MAX_SCALE_DEFAULT = 1.0;
  /** Decode threads. */
  public static final String DECODE_THREADS = "train.data.decode-threads";
  /** Default of {@link #DECODE_THREADS}. */
  public static final int DECODE_THREADS_DEFAULT = 2;
  /** Shuffle buffer. */
  public static final String SHUFFLE_BUFFER = "train.data.shuffle-buffer";
  /** Default of {@link #SHUFFLE_BUFFER}. */
  public static final int SHUFFLE_BUFFER_DEFAULT = 4096;
  /** ND4J threads. */
  public static final String THREADS = "train.threads";
  /** Default of {@link #THREADS}: one (element-wise kernels are memory-bound; see docs/benchmarks.md). */
  public static final int THREADS_DEFAULT = 1;
  /** Parameter checksum interval across workers. */
  public static final String VERIFY_EVERY = "train.verify-every";
  /** Default of {@link #VERIFY_EVERY}. */
  public static final long VERIFY_EVERY_DEFAULT = 100;
  /** Test hook. */
  public static final String FAIL_AT_STEP = "train.debug.fail-at-step";
  /** Default of {@link #FAIL_AT_STEP}: never. */
  public static final long FAIL_AT_STEP_DEFAULT = 0;
  /** Test hook. */
  public static final String HANG_AT_STEP = "train.debug.hang-at-step";
  /** Default of {@link #HANG_AT_STEP}: never. */
  public static final long HANG_AT_STEP_DEFAULT = 0;
  /** The worker the test hooks apply to. */
  public static final String DEBUG_RANK = "train.debug.rank";
  /** Default of {@link #DEBUG_RANK}: every worker. */
  public static final int DEBUG_RANK_DEFAULT = -1;
  /** Initial weights of a new run ({@code --init}). */
  public static final String INIT = "train.init";
  /** Default of {@link #INIT}: none, a random initialisation. */
  public static final String INIT_DEFAULT = "";
  /** Locked-image tuning. */
  public static final String LOCK_IMAGE = "train.lock-image";
  /** Default of {@link #LOCK_IMAGE}: both towers train. */
  public static final boolean LOCK_IMAGE_DEFAULT = false;

  /** Validates every field and the relations between them. */
  public TrainOptions {
    range(BATCH_SIZE, batchSize, 2, 1 << 24);
    range(MICRO_BATCH_SIZE, microBatchSize, 0, 1 << 24);
    if (microBatchSize > 0 && batchSize % microBatchSize != 0) {
      throw new ConfigValueException(MICRO_BATCH_SIZE, microBatchSize,
          "must divide " + BATCH_SIZE + " " + batchSize + " (or be 0 for the whole batch)");
    }
    range(EPOCHS, epochs, 1, 1_000_000);
    range(MAX_STEPS, maxSteps, 0, Long.MAX_VALUE);
    positive(LEARNING_RATE, learningRate, 1);
    range(WARMUP_STEPS, warmupSteps, 0, Long.MAX_VALUE);
    if (schedule == null) {
      throw new ConfigValueException(SCHEDULE, "nothing", Settings.allowed(Schedule.class));
    }
    open01(BETA1, beta1);
    open01(BETA2, beta2);
    positive(EPS, eps, 1);
    closed(WEIGHT_DECAY, weightDecay, 0, 10);
    closed(GRAD_CLIP_NORM, gradClipNorm, 0, 1e12);
    range(CHECKPOINT_EVERY, checkpointEvery, 1, Long.MAX_VALUE);
    range(KEEP_CHECKPOINTS, keepCheckpoints, 0, 1_000_000);
    if (checkpointCommit == null) {
      throw new ConfigValueException(CHECKPOINT_COMMIT, "nothing", "must be one of " + Settings.allowed(CommitMode.class));
    }
    range(LOG_EVERY, logEvery, 1, Long.MAX_VALUE);
    if (onNonFinite == null) {
      throw new ConfigValueException(ON_NON_FINITE, "nothing", Settings.allowed(OnNonFinite.class));
    }
    closed(CROP_MIN_SCALE, cropMinScale, 1e-3, 1);
    closed(CROP_MAX_SCALE, cropMaxScale, 1e-3, 1);
    if (cropMinScale > cropMaxScale) {
      throw new ConfigValueException(CROP_MIN_SCALE, cropMinScale,
          "must be at most " + CROP_MAX_SCALE + " " + cropMaxScale);
    }
    range(DECODE_THREADS, decodeThreads, 1, 1024);
    range(SHUFFLE_BUFFER, shuffleBuffer, 1, 1 << 26);
    range(THREADS, threads, 0, 4096);
    range(VERIFY_EVERY, verifyEvery, 0, Long.MAX_VALUE);
    range(FAIL_AT_STEP, failAtStep, 0, Long.MAX_VALUE);
    range(HANG_AT_STEP, hangAtStep, 0, Long.MAX_VALUE);
    range(DEBUG_RANK, debugRank, -1, 1 << 20);
    if (init == null) {
      throw new ConfigValueException(INIT, "nothing", "must be a path, or empty for a random initialisation");
    }
  }

  /** Reads and validates every {@code train.*} key. */
  public static TrainOptions from(Settings s) {
    return new TrainOptions(
        s.intIn(BATCH_SIZE, 2, 1 << 24),
        s.intIn(MICRO_BATCH_SIZE, 0, 1 << 24),
        s.intIn(EPOCHS, 1, 1_000_000),
        s.longIn(MAX_STEPS, 0, Long.MAX_VALUE),
        s.finiteDouble(LEARNING_RATE),
        s.longIn(WARMUP_STEPS, 0, Long.MAX_VALUE),
        s.enumOf(SCHEDULE, Schedule.class),
        s.finiteDouble(BETA1),
        s.finiteDouble(BETA2),
        s.finiteDouble(EPS),
        s.finiteDouble(WEIGHT_DECAY),
        s.finiteDouble(GRAD_CLIP_NORM),
        s.longIn(SEED, Long.MIN_VALUE, Long.MAX_VALUE),
        s.longIn(CHECKPOINT_EVERY, 1, Long.MAX_VALUE),
        s.intIn(KEEP_CHECKPOINTS, 0, 1_000_000),
        s.enumOf(CHECKPOINT_COMMIT, CommitMode.class),
        s.longIn(LOG_EVERY, 1, Long.MAX_VALUE),
        s.enumOf(ON_NON_FINITE, OnNonFinite.class),
        s.bool(AUGMENT),
        s.finiteDouble(CROP_MIN_SCALE),
        s.finiteDouble(CROP_MAX_SCALE),
        s.intIn(DECODE_THREADS, 1, 1024),
        s.intIn(SHUFFLE_BUFFER, 1, 1 << 26),
        s.intIn(THREADS, 0, 4096),
        s.longIn(VERIFY_EVERY, 0, Long.MAX_VALUE),
        s.longIn(FAIL_AT_STEP, 0, Long.MAX_VALUE),
        s.longIn(HANG_AT_STEP, 0, Long.MAX_VALUE),
        s.intIn(DEBUG_RANK, -1, 1 << 20),
        s.string(INIT).trim(),
        s.bool(LOCK_IMAGE));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static TrainOptions defaults() {
    return new TrainOptions(BATCH_SIZE_DEFAULT, MICRO_BATCH_SIZE_DEFAULT, EPOCHS_DEFAULT, MAX_STEPS_DEFAULT,
        LEARNING_RATE_DEFAULT, WARMUP_STEPS_DEFAULT, SCHEDULE_DEFAULT, BETA1_DEFAULT, BETA2_DEFAULT, EPS_DEFAULT,
        WEIGHT_DECAY_DEFAULT, GRAD_CLIP_NORM_DEFAULT, SEED_DEFAULT, CHECKPOINT_EVERY_DEFAULT,
        KEEP_CHECKPOINTS_DEFAULT, CHECKPOINT_COMMIT_DEFAULT, LOG_EVERY_DEFAULT, ON_NON_FINITE_DEFAULT, AUGMENT_DEFAULT,
        CROP_MIN_SCALE_DEFAULT, CROP_MAX_SCALE_DEFAULT, DECODE_THREADS_DEFAULT, SHUFFLE_BUFFER_DEFAULT, THREADS_DEFAULT, VERIFY_EVERY_DEFAULT, FAIL_AT_STEP_DEFAULT,
        HANG_AT_STEP_DEFAULT, DEBUG_RANK_DEFAULT, INIT_DEFAULT, LOCK_IMAGE_DEFAULT);
  }

  /** These options with the test hooks off (a retried Spark stage runs without them, so it can finish). */
  public TrainOptions withoutTestHooks() {
    return new TrainOptions(batchSize, microBatchSize, epochs, maxSteps, learningRate, warmupSteps, schedule, beta1,
        beta2, eps, weightDecay, gradClipNorm, seed, checkpointEvery, keepCheckpoints, checkpointCommit, logEvery,
        onNonFinite, augment, cropMinScale, cropMaxScale, decodeThreads, shuffleBuffer, threads, verifyEvery, 0, 0, DEBUG_RANK_DEFAULT,
        init, lockImage);
  }

  /** These options with other initial weights ({@code --init}); empty for none. */
  public TrainOptions withInit(String location) {
    return new TrainOptions(batchSize, microBatchSize, epochs, maxSteps, learningRate, warmupSteps, schedule, beta1,
        beta2, eps, weightDecay, gradClipNorm, seed, checkpointEvery, keepCheckpoints, checkpointCommit, logEvery,
        onNonFinite, augment, cropMinScale, cropMaxScale, decodeThreads, shuffleBuffer, threads, verifyEvery,
        failAtStep, hangAtStep, debugRank, location == null ? "" : location.trim(), lockImage);
  }

  /**
   * Each of {@code workers}' equal share of the global batch.
   *
   * @throws IllegalArgumentException if the batch does not divide among the workers, or a worker's share
   *     into whole micro-batches
   */
  public int shareOf(int workers) {
    if (workers < 1 || batchSize % workers != 0) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "Cannot set %s to %d: must be a multiple of the %d workers", BATCH_SIZE, batchSize, workers));
    }
    int share = batchSize / workers;
    if (share % Math.min(effectiveMicroBatch(), share) != 0) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "Cannot set %s to %d: must divide each of the %d workers' %d samples", MICRO_BATCH_SIZE, microBatchSize,
          workers, share));
    }
    return share;
  }

  /** The micro-batch size in effect: {@link #microBatchSize} or, when 0, the whole batch. */
  public int effectiveMicroBatch() {
    return microBatchSize == 0 ? batchSize : microBatchSize;
  }

  private static void range(String key, long v, long min, long max) {
    if (v < min || v > max) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }

  private static void positive(String key, double v, double max) {
    if (!(v > 0 && v <= max)) {
      throw new ConfigValueException(key, v, "must be a number greater than 0 and at most " + max);
    }
  }

  private static void open01(String key, double v) {
    if (!(v >= 0 && v < 1)) {
      throw new ConfigValueException(key, v, "must be at least 0 and less than 1");
    }
  }

  private static void closed(String key, double v, double min, double max) {
    if (!(v >= min && v <= max)) {
      throw new ConfigValueException(key, v, "must be between " + min + " and " + max);
    }
  }
}
