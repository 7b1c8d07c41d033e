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
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code clip demo}: the whole pipeline end to end on data it makes itself. Writes a text corpus, builds
 * the query list from it (plus WordNet when installed), builds a dataset from the synthetic
 * coloured-shapes source, learns a BPE tokenizer from its captions, trains a tiny CLIP model on the dataset
 * and prints where everything went and how the loss fell. Its smaller sizes come from conf/demo.conf;
 * {@code --conf} and {@code --set} override them.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the pipeline end to end in Spark on data it generates: corpus -> queries -> dataset -> tokenizer",
        "-> a tiny CLIP model trained on the dataset.",
        "Settings: conf/demo.conf, overridable with --conf and --set."})
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
    printer.println("1/5 corpus: " + corpusLines + " lines in " + corpus);
    String wordnet = !noWordnet && new File(DEBIAN_WORDNET, "data.noun").isFile() ? DEBIAN_WORDNET : null;
    String queriesDir = new File(out, "queries").getPath();
    QuerySummary queries = QueryListBuilder.build(spark,
        new QueryInputs(List.of(corpus.getPath()), null, wordnet), queryOptions, queriesDir);
    printer.println("2/5 " + Reports.queries(queries, queriesDir)
        + (wordnet == null ? "\n  (WordNet not added: install Debian's wordnet-base for " + DEBIAN_WORDNET + ")" : ""));
    String datasetDir = new File(out, "dataset").getPath();
    var result = DatasetBuild.run(spark, new DatasetBuild.Request(queriesDir,
        List.of(Sources.synthetic(sourceOptions)), datasetDir, true), buildOptions);
    printer.println("3/5 " + Reports.dataset(result, datasetDir));
    String merges = new File(out, "tokenizer/merges.txt.gz").getPath();
    TrainResult tokenizer = BpeTrainer.train(spark, datasetDir, tokenizerOptions.vocabSize(),
        tokenizerOptions.minWordCount(), merges);
    printer.println(String.format(Locale.ROOT, "4/5 tokenizer: %,d BPE merges learned from the captions (vocabulary %,d of the %,d asked%s) in %s",
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
    printer.println(String.format(Locale.ROOT, "5/5 training %s: batch %d, %d epochs, %d worker%s%s", modelConfig.name(),
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
    printer.println("Demo dataset: " + new File(datasetDir).getAbsolutePath());
    printer.println("Demo model:   " + trainDir.getAbsolutePath());
    printer.flush();
    return 0;
  }
}
