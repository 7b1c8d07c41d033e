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
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.tokenizer.BpeTrainer;
import dev.clipspark.training.tokenizer.TokenizerOptions;
import dev.clipspark.training.tokenizer.TrainResult;
import dev.clipspark.training.trainer.SparkBarrierTrainer;
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
 * evaluates it zero-shot on images it never saw and prints where everything went, how the loss fell and the
 * path of the evaluation's report.html. Its smaller sizes come from conf/demo.conf;
 * {@code --conf} and {@code --set} override them.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the whole pipeline end to end in Spark local mode on data it generates.",
        "corpus -> queries -> dataset -> tokenizer -> a tiny CLIP model trained on the dataset -> its zero-shot"
            + " accuracy on unseen images (report.html). Settings: conf/demo.conf, overridable with --conf and"
            + " --set."})
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

  /** Where Debian's wordnet-base installs WordNet 3.0. */
  static final String DEBIAN_WORDNET = "/usr/share/wordnet";

  @Option(names = "--out", defaultValue = "demo-output", paramLabel = "DIR",
      description = "Output directory (default: ${DEFAULT-VALUE}).")
  File out;

  @Option(names = "--corpus-lines", defaultValue = "4000", paramLabel = "N",
      description = "Lines of generated corpus text (default: ${DEFAULT-VALUE}).")
  int corpusLines;

  @Option(names = "--no-wordnet", description = "Do not add WordNet lemmas even when " + DEBIAN_WORDNET + " exists.")
  boolean noWordnet;

  private QueryOptions queryOptions;
  private BuildOptions buildOptions;
  private SourceOptions sourceOptions;
  private TokenizerOptions tokenizerOptions;
  private TrainOptions trainOptions;
  private EvalOptions evalOptions;
  private ModelConfig modelConfig;

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
    printer.println("1/6 corpus: " + corpusLines + " lines in " + corpus);
    String wordnet = !noWordnet && new File(DEBIAN_WORDNET, "data.noun").isFile() ? DEBIAN_WORDNET : null;
    String queriesDir = new File(out, "queries").getPath();
    QuerySummary queries = QueryListBuilder.build(spark,
        new QueryInputs(List.of(corpus.getPath()), null, wordnet), queryOptions, queriesDir);
    printer.println("2/6 " + Reports.queries(queries, queriesDir)
        + (wordnet == null ? "\n  (WordNet not added: install Debian's wordnet-base for " + DEBIAN_WORDNET + ")" : ""));
    String datasetDir = new File(out, "dataset").getPath();
    var result = DatasetBuild.run(spark, new DatasetBuild.Request(queriesDir,
        List.of(Sources.synthetic(sourceOptions)), datasetDir, true), buildOptions);
    printer.println("3/6 " + Reports.dataset(result, datasetDir));
    String merges = new File(out, "tokenizer/merges.txt.gz").getPath();
    TrainResult tokenizer = BpeTrainer.train(spark, datasetDir, tokenizerOptions.vocabSize(),
        tokenizerOptions.minWordCount(), merges);
    printer.println(String.format(Locale.ROOT, "4/6 tokenizer: %,d BPE merges learned from the captions (vocabulary %,d of the %,d asked%s) in %s",
        tokenizer.mergesLearned(), tokenizer.vocabSize(), tokenizer.vocabSizeAsked(),
        tokenizer.complete() ? "" : "; the captions support no more", merges));
    printer.flush();
    // The demo starts fresh: a previous demo's checkpoints would otherwise be resumed.
    File trainDir = new File(out, "train");
    deleteRecursively(trainDir);
    var request = new Trainer.Request(datasetDir, modelConfig, merges, tokenizer.vocabSize(), trainDir.getPath());
    int slots = spark.sparkContext().defaultParallelism() / spark.sparkContext().getConf().getInt("spark.task.cpus", 1);
    int k = Math.max(1, Math.min(workers, slots));
    while (trainOptions.batchSize() % k != 0) {
      k--;
    }
    printer.println(String.format(Locale.ROOT, "5/6 training %s: batch %d, %d epochs, %d worker%s%s", modelConfig.name(),
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
    printer.println(String.format(Locale.ROOT, "6/6 zero-shot on %d unseen images of the %d classes: top-1 %.3f, top-5"
            + " %.3f (chance %.3f)%n  report %s", classes * perClass, classes, (Double) zeroshot.get("top1"),
        (Double) zeroshot.get("top5"), 1.0 / classes, new File(reportDir, Evaluation.REPORT_HTML).getAbsolutePath()));
    printer.println("Demo dataset: " + new File(datasetDir).getAbsolutePath());
    printer.println("Demo model:   " + trainDir.getAbsolutePath());
    printer.flush();
    return 0;
  }
}
