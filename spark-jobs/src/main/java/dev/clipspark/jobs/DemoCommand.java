package dev.clipspark.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.queries.QueryInputs;
import dev.clipspark.dataset.queries.QueryListBuilder;
import dev.clipspark.dataset.queries.QueryOptions;
import dev.clipspark.dataset.queries.QuerySummary;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import dev.clipspark.dataset.source.SyntheticShapes;
import dev.clipspark.evaluation.EvalOptions;
import dev.clipspark.evaluation.Evaluation;
import dev.clipspark.evaluation.caption.CaptionOptions;
import dev.clipspark.evaluation.caption.LimberCaptionModel;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.training.limber.LimberOptions;
import dev.clipspark.training.limber.LimberTraining;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.LmConfigs;
import dev.clipspark.training.lm.LmOptions;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.tokenizer.BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2BpeTrainer;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import dev.clipspark.training.tokenizer.TokenizerOptions;
import dev.clipspark.training.tokenizer.TrainResult;
import dev.clipspark.training.trainer.LmTrainer;
import dev.clipspark.training.trainer.SparkBarrierTrainer;
import dev.clipspark.training.trainer.SparkLmTrainer;
import dev.clipspark.training.trainer.TrainOptions;
import dev.clipspark.training.trainer.TrainSummary;
import dev.clipspark.training.trainer.Trainer;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code clip demo}: the whole pipeline end to end on data it makes itself. Writes a text corpus, builds
 * the query list from it (plus WordNet when installed), builds a dataset from the synthetic
 * coloured-shapes source, learns a BPE tokenizer from its captions, trains a tiny CLIP model on the dataset,
 * evaluates it zero-shot on images it never saw, then (unless {@code --no-limber}) trains a small GPT-2 on texts of
 * the captions and LiMBeR's linear map P between the two frozen models, and captions the unseen images beside the
 * shuffled-images and no-image baselines; it prints where everything went, how the losses fell and the paths of the
 * reports. Its smaller sizes come from conf/demo.conf;
 * {@code --conf} and {@code --set} override them.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the whole pipeline end to end in Spark local mode on data it generates.",
        "corpus -> queries -> dataset -> tokenizer -> a tiny CLIP model trained on the dataset -> its zero-shot"
            + " accuracy on unseen images (report.html) -> LiMBeR: a small GPT-2, the linear map P from the frozen"
            + " CLIP to its soft prompts, and captions of the unseen images scored against two baselines"
            + " (captioning/report.html). Settings: conf/demo.conf, overridable with --conf and --set."})
final class DemoCommand extends JobCommand {

  private static void deleteRecursively(File dir) {
    if (!dir.exists()) {
      return;
    }
    try (var paths = Files.walk(dir.toPath())) {
      for (var p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot delete the previous demo run in " + dir, e);
    }
  }

  /** Renders {@code perClass} images of every synthetic class into {@code dir/COLOUR_SHAPE/NNN.jpg}. */
  static void writeEvalImages(File dir, int perClass, long seed, int size) {
    var rnd = new java.util.SplittableRandom(seed);
    try {
      for (var c : SyntheticShapes.classes()) {
        var classDir = Files.createDirectories(dir.toPath().resolve(c.colour() + "_" + c.shape()));
        for (int i = 0; i < perClass; i++) {
          Files.write(classDir.resolve(String.format(Locale.ROOT, "%03d.jpg", i)), SyntheticShapes.render(c, size, rnd));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the demo's evaluation images to " + dir, e);
    }
  }

  /**
   * How the demo trains its language model (the {@code train.*} keys that {@code train-lm} reads, here apart from the
   * CLIP model's): 300 steps of 32 texts, a short warm-up and a peak learning rate that suit a 137k-parameter GPT-2.
   * Measured: the next-token loss falls from about 6.2 to about 1.0 nats per token.
   */
  static final Map<String, Object> LM_TRAINING = Map.of("train.batch-size", 32, "train.max-steps", 300,
      "train.epochs", 1000, "train.learning-rate", 3e-3, "train.warmup-steps", 30, "train.weight-decay", 0.1,
      "train.checkpoint-every", 300, "train.log-every", 100);

  /** Texts of the demo's language-model corpus. */
  static final int LM_TEXTS = 6000;

  /**
   * Writes the language model's corpus: {@code texts} lines, each three captions of one random class joined by
   * "; " ("a drawing of a blue ring; the blue ring; ring (blue)"). A real language model has read text in which what
   * was said before comes back (the ability LiMBeR's soft prompts rely on: the model reads them like words and
   * carries their content into the caption); captions alone, each naming a colour and a shape once, never teach a
   * small model that, and with them P learns nothing about the image (measured: captions naming the colour at
   * chance).
   */
  static void writeLmCorpus(File file, int texts, long seed) {
    var rnd = new java.util.SplittableRandom(seed);
    var classes = SyntheticShapes.classes();
    var lines = new java.util.ArrayList<String>(texts);
    for (int i = 0; i < texts; i++) {
      var c = classes.get(rnd.nextInt(classes.size()));
      lines.add(SyntheticShapes.caption(c, rnd) + "; " + SyntheticShapes.caption(c, rnd) + "; "
          + SyntheticShapes.caption(c, rnd));
    }
    try {
      Files.createDirectories(file.getParentFile().toPath());
      Files.write(file.toPath(), lines);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the demo's language-model corpus to " + file, e);
    }
  }

  /** Where Debian's wordnet-base installs WordNet 3.0. */
  static final String DEBIAN_WORDNET = "/usr/share/wordnet";

  @Option(names = "--out", defaultValue = "demo-output", paramLabel = "DIR",
      description = "Output directory (default: ${DEFAULT-VALUE}).")
  File out;

  @Option(names = "--corpus-lines", defaultValue = "4000", paramLabel = "N",
      description = "Lines of generated corpus text (default: ${DEFAULT-VALUE}).")
  int corpusLines;

  @Option(names = "--no-limber",
      description = "Stop after the zero-shot evaluation (stage 6): no language model, LiMBeR map or captions.")
  boolean noLimber;

  @Option(names = "--no-wordnet", description = "Do not add WordNet lemmas even when " + DEBIAN_WORDNET + " exists.")
  boolean noWordnet;

  private QueryOptions queryOptions;
  private BuildOptions buildOptions;
  private SourceOptions sourceOptions;
  private TokenizerOptions tokenizerOptions;
  private TrainOptions trainOptions;
  private EvalOptions evalOptions;
  private ModelConfig modelConfig;
  private LmOptions lmOptions;
  private TrainOptions lmTrainOptions;
  private LimberOptions limberOptions;
  private CaptionOptions captionOptions;

  @Option(names = "--model", defaultValue = "tiny-vit", paramLabel = "NAME|FILE",
      description = "Model the demo trains (default: ${DEFAULT-VALUE}).")
  String model;

  @Option(names = "--workers", defaultValue = "2", paramLabel = "K",
      description = "Spark barrier-stage workers that train the model together with an exact loss over each batch"
          + " (default: ${DEFAULT-VALUE}; fewer when Spark offers fewer task slots; 1 trains in the driver).")
  int workers;

  private java.time.Duration timeout;

  @Override
  Config commandDefaults() {
    return ConfigFactory.parseResources(DemoCommand.class, "/clipspark/demo.conf");
  }

  @Override
  void prepare(Settings settings) {
    queryOptions = QueryOptions.from(settings);
    buildOptions = BuildOptions.from(settings);
    sourceOptions = SourceOptions.from(settings);
    tokenizerOptions = TokenizerOptions.from(settings);
    trainOptions = TrainOptions.from(settings);
    evalOptions = EvalOptions.from(settings);
    modelConfig = ModelConfigs.load(model);
    lmOptions = LmOptions.from(settings);
    lmTrainOptions = TrainOptions.from(new Settings(ConfigFactory.parseMap(LM_TRAINING).withFallback(settings.config())));
    limberOptions = LimberOptions.from(settings);
    captionOptions = CaptionOptions.from(settings);
    if (workers < 1) {
      throw new IllegalArgumentException("Cannot run demo with --workers " + workers + ": must be at least 1");
    }
    trainOptions.shareOf(workers);
    timeout = SparkBarrierTrainer.timeout(settings);
    if (corpusLines < 1) {
      throw new IllegalArgumentException("Cannot run demo with --corpus-lines " + corpusLines + ": must be at least 1");
    }
  }

  @Override
  int run(SparkSession spark) {
    var printer = out();
    File corpus = new File(out, "corpus/corpus.txt");
    try {
      Files.createDirectories(corpus.getParentFile().toPath());
      DemoCorpus.write(corpus.toPath(), corpusLines, sourceOptions.syntheticSeed());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the demo corpus to " + corpus, e);
    }
    printer.println("1/9 corpus: " + corpusLines + " lines in " + corpus);
    String wordnet = !noWordnet && new File(DEBIAN_WORDNET, "data.noun").isFile() ? DEBIAN_WORDNET : null;
    String queriesDir = new File(out, "queries").getPath();
    QuerySummary queries = QueryListBuilder.build(spark,
        new QueryInputs(List.of(corpus.getPath()), null, wordnet), queryOptions, queriesDir);
    printer.println("2/9 " + Reports.queries(queries, queriesDir)
        + (wordnet == null ? "\n  (WordNet not added: install Debian's wordnet-base for " + DEBIAN_WORDNET + ")" : ""));
    String datasetDir = new File(out, "dataset").getPath();
    var result = DatasetBuild.run(spark, new DatasetBuild.Request(queriesDir,
        List.of(Sources.synthetic(sourceOptions)), datasetDir, true), buildOptions);
    printer.println("3/9 " + Reports.dataset(result, datasetDir));
    String merges = new File(out, "tokenizer/merges.txt.gz").getPath();
    TrainResult tokenizer = BpeTrainer.train(spark, datasetDir, tokenizerOptions.vocabSize(),
        tokenizerOptions.minWordCount(), merges);
    printer.println(String.format(Locale.ROOT, "4/9 tokenizer: %,d BPE merges learned from the captions (vocabulary %,d of the %,d asked%s) in %s",
        tokenizer.mergesLearned(), tokenizer.vocabSize(), tokenizer.vocabSizeAsked(),
        tokenizer.complete() ? "" : "; the captions support no more", merges));
    printer.flush();
    // The demo starts fresh: a previous demo's checkpoints would otherwise be resumed.
    File trainDir = new File(out, "train");
    deleteRecursively(trainDir);
    var request = new Trainer.Request(datasetDir, modelConfig, merges, tokenizer.vocabSize(), trainDir.getPath());
    int slots = spark.sparkContext().defaultParallelism() / spark.sparkContext().getConf().getInt("spark.task.cpus", 1);
    int k = dividing(Math.max(1, Math.min(workers, slots)), trainOptions.batchSize());
    printer.println(String.format(Locale.ROOT, "5/9 training %s: batch %d, %d epochs, %d worker%s%s", modelConfig.name(),
        trainOptions.batchSize(), trainOptions.epochs(), k, k == 1 ? "" : "s",
        k < workers ? " (Spark offers " + slots + " task slots)" : ""));
    printer.flush();
    java.util.function.Consumer<String> progress = line -> {
      printer.println("  " + line);
      printer.flush();
    };
    TrainSummary trained = k > 1
        ? SparkBarrierTrainer.run(spark, request, trainOptions, k, timeout, progress)
        : Trainer.run(request, trainOptions, spark.sparkContext().hadoopConfiguration(), progress);
    printer.println(String.format(Locale.ROOT, "  loss %.4f at step 1 -> %.4f at step %d (chance level ln(%d) = %.4f)",
        trained.firstLoss(), trained.lastLoss(), trained.steps(), trainOptions.batchSize(),
        Math.log(trainOptions.batchSize())));
    printer.println("  checkpoint " + trained.checkpoint());
    printer.flush();

    // Zero-shot on images the model never saw (a seed the dataset did not use), one folder per class, scored
    // against prompts that are none of the captions' templates.
    File evalData = new File(out, "eval-images");
    deleteRecursively(evalData);
    int perClass = 8;
    writeEvalImages(evalData, perClass, sourceOptions.syntheticSeed() + 1_000_003L,
        sourceOptions.syntheticImageSize());
    File reportDir = new File(out, "evaluation");
    var evalRequest = new Evaluation.Request(Evaluation.Task.ZEROSHOT, trainDir.getPath(),
        EvalData.Spec.parse("folder:" + evalData.getPath()), null, reportDir.getPath(), "both");
    Map<String, Object> report = Evaluation.run(spark, evalRequest, evalOptions.withTemplates("shapes"));
    @SuppressWarnings("unchecked")
    var zeroshot = (Map<String, Object>) report.get("zeroshot");
    int classes = SyntheticShapes.classes().size();
    printer.println(String.format(Locale.ROOT, "6/9 zero-shot on %d unseen images of the %d classes: top-1 %.3f, top-5"
            + " %.3f (chance %.3f)%n  report %s", classes * perClass, classes, (Double) zeroshot.get("top1"),
        (Double) zeroshot.get("top5"), 1.0 / classes, new File(reportDir, Evaluation.REPORT_HTML).getAbsolutePath()));
    if (noLimber) {
      printer.println("Demo dataset: " + new File(datasetDir).getAbsolutePath());
      printer.println("Demo model:   " + trainDir.getAbsolutePath());
      printer.flush();
      return 0;
    }
    // LiMBeR: a small GPT-2 learns the captions, then one linear map P from the frozen CLIP image tower to soft
    // prompts of the frozen language model learns to caption.
    File lmCorpus = new File(out, "corpus/lm-corpus.txt");
    writeLmCorpus(lmCorpus, LM_TEXTS, sourceOptions.syntheticSeed() + 3_000_017L);
    File lmTokenizer = new File(out, "lm-tokenizer");
    Gpt2Tokenizer gpt2 = Gpt2BpeTrainer.learn(spark, datasetDir, lmOptions.tokenizerVocabSize());
    gpt2.write(lmTokenizer.getPath(), spark.sparkContext().hadoopConfiguration());
    File lmDir = new File(out, "lm");
    deleteRecursively(lmDir);
    LmConfig lmConfig = LmConfigs.load("gpt2-tiny");
    int lmWorkers = dividing(k, lmTrainOptions.batchSize());
    printer.println(String.format(Locale.ROOT, "7/9 language model %s on %,d texts of three captions of one shape each"
        + " (%s): a %,d-token GPT-2 BPE learned from the dataset's captions, batch %d, %d steps, %d worker%s",
        lmConfig.name(), LM_TEXTS, lmCorpus, gpt2.vocabSize(), lmTrainOptions.batchSize(), lmTrainOptions.maxSteps(),
        lmWorkers, lmWorkers == 1 ? "" : "s"));
    printer.flush();
    var lmRequest = new LmTrainer.Request(null, List.of(lmCorpus.getPath()), lmConfig, lmTokenizer.getPath(),
        lmDir.getPath());
    TrainSummary lm;
    if (lmWorkers > 1) {
      lm = SparkLmTrainer.run(spark, lmRequest, lmTrainOptions, lmWorkers, timeout, progress);
    } else {
      LmTrainer.checkPlan(lmRequest, lmTrainOptions, spark.sparkContext().hadoopConfiguration(), 1);
      lm = LmTrainer.run(lmRequest, lmTrainOptions, spark.sparkContext().hadoopConfiguration(), progress);
    }
    printer.println(String.format(Locale.ROOT, "  next-token loss %.4f at step 1 -> %.4f at step %d (uniform: ln(%d) ="
        + " %.4f)", lm.firstLoss(), lm.lastLoss(), lm.steps(), gpt2.vocabSize(), Math.log(gpt2.vocabSize())));
    printer.flush();

    File limberDir = new File(out, "limber");
    deleteRecursively(limberDir);
    int limberWorkers = dividing(k, limberOptions.batchSize());
    printer.println(String.format(Locale.ROOT, "8/9 LiMBeR: the linear map P from %s's %s image features to %d soft"
        + " prompts of the frozen language model, batch %d, %d epochs, %d worker%s", modelConfig.name(),
        Settings.spell(limberOptions.features()), limberOptions.prompts(), limberOptions.batchSize(),
        limberOptions.epochs(), limberWorkers, limberWorkers == 1 ? "" : "s"));
    printer.flush();
    TrainSummary limber = LimberTraining.run(spark, new LimberTraining.Job(datasetDir, trainDir.getPath(),
        lmDir.getPath(), limberDir.getPath()), limberOptions, limberWorkers, timeout, progress);
    printer.println(String.format(Locale.ROOT, "  caption loss %.4f at step 1 -> %.4f at step %d", limber.firstLoss(),
        limber.lastLoss(), limber.steps()));
    printer.flush();

    // Captions of the unseen images, scored against captions written for them from the dataset's templates.
    File heldOut = new File(out, "eval-captions.csv");
    writeHeldOutCaptions(evalData, heldOut, sourceOptions.syntheticSeed() + 2_000_003L);
    File captionReportDir = new File(out, "captioning");
    var captionRequest = new Evaluation.Request(Evaluation.Task.CAPTIONING, limberDir.getPath(),
        EvalData.Spec.parse("table:" + heldOut.getPath()), null, captionReportDir.getPath(), "none");
    Map<String, Object> captionReport = Evaluation.captioning(spark, captionRequest, evalOptions, captionOptions,
        LimberCaptionModel.LOADER);
    printer.println(String.format(Locale.ROOT, "9/9 captions of the %d unseen images (chance of naming the colour"
        + " %.3f, the shape %.3f, both %.3f)", classes * perClass, 1.0 / SyntheticShapes.colours().size(),
        1.0 / SyntheticShapes.shapes().size(), 1.0 / classes));
    printer.println("  " + EvaluateCommand.summary(captionReport).replace("\n", "\n  "));
    printer.println("Demo dataset: " + new File(datasetDir).getAbsolutePath());
    printer.println("Demo model:   " + trainDir.getAbsolutePath());
    printer.println("Demo LiMBeR:  " + limberDir.getAbsolutePath());
    printer.flush();
    return 0;
  }

  /** The most workers, at most {@code workers}, that share a global batch of {@code batch} equally. */
  static int dividing(int workers, int batch) {
    int k = workers;
    while (batch % k != 0) {
      k--;
    }
    return k;
  }

  /**
   * Writes {@code csv} (columns image, label, caption): every image under {@code imagesDir/CLASS/} with its class and
   * three captions from the synthetic source's templates (one row each), seeded with {@code seed}.
   */
  static void writeHeldOutCaptions(File imagesDir, File csv, long seed) {
    var rnd = new java.util.SplittableRandom(seed);
    var lines = new java.util.ArrayList<String>();
    lines.add("image,label,caption");
    for (var c : SyntheticShapes.classes()) {
      String label = c.colour() + "_" + c.shape();
      File[] images = new File(imagesDir, label).listFiles();
      if (images == null) {
        throw new IllegalStateException("Cannot caption the demo's images: " + new File(imagesDir, label)
            + " is missing");
      }
      java.util.Arrays.sort(images);
      for (File image : images) {
        for (int i = 0; i < 3; i++) {
          lines.add(image.getAbsolutePath() + "," + label + ",\"" + SyntheticShapes.caption(c, rnd).replace("\"",
              "\"\"") + "\"");
        }
      }
    }
    try {
      Files.write(csv.toPath(), lines);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the demo's held-out captions to " + csv, e);
    }
  }
}
