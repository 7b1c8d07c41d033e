package dev.clipspark.evaluation;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.training.data.ImagePreprocessor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The {@code eval.*} settings (documented in {@code conf/evaluation.conf}), read and checked before any job
 * starts.
 *
 * @param batchSize rows embedded at once per task
 * @param partitions read partitions, 0: Spark's default
 * @param maxRows rows per split at most (by key hash), 0: all
 * @param classes {@code auto}, a shipped class list or a file
 * @param templates {@code auto}, a shipped template list or a file
 * @param compareSingleTemplate also score {@code singleTemplate} alone
 * @param singleTemplate the single template compared with the ensemble
 * @param topK the k of top-k accuracy
 * @param probeFeatures linear-probe features
 * @param validationFraction train rows held out to choose the regularisation
 * @param probeSeed seed of that hold-out
 * @param regParams regularisation strengths swept
 * @param maxIterations L-BFGS iterations per fit
 * @param tolerance L-BFGS tolerance
 * @param retrievalExamples query images shown in the report
 * @param dedupeCaptions retrieval ranks distinct captions and distinct images (true), or every row (false, the
 *     per-row protocol of CLIP_benchmark); see {@link RetrievalEvaluation}
 * @param table column names of table: datasets
 * @param imageResample how images are resized before embedding: bicubic (OpenAI's {@code preprocess}) or area
 */
public record EvalOptions(int batchSize, int partitions, long maxRows, String classes, String templates,
    boolean compareSingleTemplate, String singleTemplate, int topK, Embeddings.What probeFeatures,
    double validationFraction, long probeSeed, List<Double> regParams, int maxIterations, double tolerance,
    int retrievalExamples, boolean dedupeCaptions, EvalData.TableColumns table,
    ImagePreprocessor.Resample imageResample) {

  /** Key of {@link #batchSize}. */
  public static final String BATCH_SIZE = "eval.batch-size";
  /** Key of {@link #partitions}. */
  public static final String PARTITIONS = "eval.partitions";
  /** Key of {@link #maxRows}. */
  public static final String MAX_ROWS = "eval.max-rows";
  /** Key of {@link #classes}. */
  public static final String CLASSES = "eval.classes";
  /** Key of {@link #templates}. */
  public static final String TEMPLATES = "eval.templates";
  /** Key of {@link #compareSingleTemplate}. */
  public static final String COMPARE_SINGLE = "eval.compare-single-template";
  /** Key of {@link #singleTemplate}. */
  public static final String SINGLE_TEMPLATE = "eval.single-template";
  /** Key of {@link #topK}. */
  public static final String TOP_K = "eval.top-k";
  /** Key of {@link #probeFeatures}. */
  public static final String PROBE_FEATURES = "eval.probe.features";
  /** Key of {@link #validationFraction}. */
  public static final String VALIDATION_FRACTION = "eval.probe.validation-fraction";
  /** Key of {@link #probeSeed}. */
  public static final String PROBE_SEED = "eval.probe.seed";
  /** Key of {@link #regParams}. */
  public static final String REG_PARAMS = "eval.probe.reg-params";
  /** Key of {@link #maxIterations}. */
  public static final String MAX_ITERATIONS = "eval.probe.max-iterations";
  /** Key of {@link #tolerance}. */
  public static final String TOLERANCE = "eval.probe.tolerance";
  /** Key of {@link #retrievalExamples}. */
  public static final String RETRIEVAL_EXAMPLES = "eval.retrieval.examples";
  /** Key of {@link #dedupeCaptions}. */
  public static final String DEDUPE_CAPTIONS = "eval.retrieval.dedupe-captions";
  /** Default of {@link #DEDUPE_CAPTIONS} (as in {@code reference.conf}). */
  public static final boolean DEDUPE_CAPTIONS_DEFAULT = true;

  /** Key of {@link #imageResample}. */
  public static final String IMAGE_RESAMPLE = "eval.image.resample";
  /**
   * Default of {@link #IMAGE_RESAMPLE}: bicubic, the transform OpenAI's and open_clip's released weights were
   * trained and evaluated with.
   */
  public static final ImagePreprocessor.Resample IMAGE_RESAMPLE_DEFAULT = ImagePreprocessor.Resample.BICUBIC;

  /** Reads and checks every {@code eval.*} key. */
  public static EvalOptions from(Settings s) {
    String single = s.nonEmptyString(SINGLE_TEMPLATE);
    if (!single.contains("{}")) {
      throw new ConfigValueException(SINGLE_TEMPLATE, "\"" + single + "\"", "must contain {} where the class name goes");
    }
    String features = s.nonEmptyString(PROBE_FEATURES).toLowerCase(Locale.ROOT);
    Embeddings.What what = switch (features) {
      case "image" -> Embeddings.What.IMAGE;
      case "pixels" -> Embeddings.What.PIXELS;
      default -> throw new ConfigValueException(PROBE_FEATURES, "\"" + features + "\"", "must be one of image, pixels");
    };
    List<Double> regs = new ArrayList<>();
    try {
      for (Number n : s.config().getDoubleList(REG_PARAMS)) {
        regs.add(n.doubleValue());
      }
    } catch (com.typesafe.config.ConfigException e) {
      throw new ConfigValueException(REG_PARAMS, s.config().getValue(REG_PARAMS).render(), "must be a list of numbers");
    }
    if (regs.isEmpty() || regs.stream().anyMatch(r -> !(r >= 0) || Double.isInfinite(r))) {
      throw new ConfigValueException(REG_PARAMS, regs, "must be a non-empty list of finite numbers >= 0");
    }
    var table = new EvalData.TableColumns(s.nonEmptyString("eval.table.image-column"),
        s.nonEmptyString("eval.table.label-column"), s.nonEmptyString("eval.table.caption-column"),
        s.nonEmptyString("eval.table.key-column"), s.nonEmptyString("eval.table.split-column"));
    return new EvalOptions(s.intIn(BATCH_SIZE, 1, 65536), s.intIn(PARTITIONS, 0, 1_000_000),
        s.longIn(MAX_ROWS, 0, Long.MAX_VALUE), s.nonEmptyString(CLASSES), s.nonEmptyString(TEMPLATES),
        s.bool(COMPARE_SINGLE), single, s.intIn(TOP_K, 1, 1000), what,
        s.doubleIn(VALIDATION_FRACTION, 0.01, 0.5), s.longIn(PROBE_SEED, Long.MIN_VALUE, Long.MAX_VALUE),
        List.copyOf(regs), s.intIn(MAX_ITERATIONS, 1, 100_000), s.doubleIn(TOLERANCE, 0, 1),
        s.intIn(RETRIEVAL_EXAMPLES, 0, 100), s.bool(DEDUPE_CAPTIONS), table,
        s.enumOf(IMAGE_RESAMPLE, ImagePreprocessor.Resample.class));
  }

  /** The reading options of {@link EvalData}. */
  public EvalData.Options dataOptions() {
    return new EvalData.Options(classes, partitions, table);
  }

  /** A copy with other templates. */
  public EvalOptions withTemplates(String t) {
    return new EvalOptions(batchSize, partitions, maxRows, classes, t, compareSingleTemplate, singleTemplate, topK,
        probeFeatures, validationFraction, probeSeed, regParams, maxIterations, tolerance, retrievalExamples,
        dedupeCaptions, table, imageResample);
  }

  /** A copy with other classes. */
  public EvalOptions withClasses(String c) {
    return new EvalOptions(batchSize, partitions, maxRows, c, templates, compareSingleTemplate, singleTemplate, topK,
        probeFeatures, validationFraction, probeSeed, regParams, maxIterations, tolerance, retrievalExamples,
        dedupeCaptions, table, imageResample);
  }

  /** A copy with the single-template comparison on or off. */
  public EvalOptions withCompareSingleTemplate(boolean on) {
    return new EvalOptions(batchSize, partitions, maxRows, classes, templates, on, singleTemplate, topK,
        probeFeatures, validationFraction, probeSeed, regParams, maxIterations, tolerance, retrievalExamples,
        dedupeCaptions, table, imageResample);
  }

  /** A copy with other probe features. */
  public EvalOptions withProbeFeatures(Embeddings.What w) {
    return new EvalOptions(batchSize, partitions, maxRows, classes, templates, compareSingleTemplate, singleTemplate,
        topK, w, validationFraction, probeSeed, regParams, maxIterations, tolerance, retrievalExamples,
        dedupeCaptions, table, imageResample);
  }
}
