package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.evaluation.EvalOptions;
import dev.clipspark.evaluation.caption.CaptionModel;
import dev.clipspark.evaluation.caption.CaptionOptions;
import dev.clipspark.evaluation.caption.CaptionRun;
import dev.clipspark.evaluation.caption.LimberCaptionModel;
import dev.clipspark.evaluation.data.EvalData;
import dev.clipspark.training.lm.Decoding;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code clip caption}: captions of images by a trained LiMBeR model, written in Spark executors. */
@Command(
    name = "caption",
    mixinStandardHelpOptions = true,
    description = {
        "Captions images with a LiMBeR model (train-limber's output): each image goes through the frozen CLIP image"
            + " tower, the trained map P turns its features into soft prompts, and the frozen GPT-2 writes the caption"
            + " after them, in Spark executors (the model is read once per executor JVM).",
        "Writes OUT/captions (Parquet: key, caption, reference (the source's caption, if any), decode, tokens,"
            + " finished) and OUT/captions.html (each image with its caption).",
        "Decoding: lm.decode.* (conf/training.conf), overridden by the options below. Settings: eval.captioning.*,"
            + " eval.partitions, eval.max-rows (conf/evaluation.conf)."})
final class CaptionCommand extends JobCommand {

  @Option(names = "--limber", required = true, paramLabel = "DIR",
      description = "A train-limber output directory (its newest checkpoint) or a checkpoints/step-N directory.")
  String limber;

  @Option(names = "--images", required = true, paramLabel = "KIND:PATH",
      description = "shards:DIR (a build-dataset output), folder:DIR (images, in class sub-directories or test/),"
          + " table:FILE (Parquet/CSV/TSV; eval.table.*) or idx:DIR (MNIST-format files); the test split is"
          + " captioned (all of a shards: dataset).")
  String images;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
  String out;

  @Mixin
  DecodeOptions decodeOptions;

  private CaptionOptions options;
  private EvalOptions evalOptions;
  private EvalData.Spec spec;

  private final CaptionModel.Loader loader = LimberCaptionModel.LOADER;

  @Override
  void prepare(Settings settings) {
    evalOptions = EvalOptions.from(settings);
    options = CaptionOptions.from(settings).withDecoding(decodeOptions.apply(Decoding.from(settings)));
    spec = EvalData.Spec.parse(images);
    if (new Path(spec.path()).toUri().getScheme() == null) {
      Inputs.requireLocalExists("--images", spec.path());
    }
    if (new Path(limber).toUri().getScheme() == null) {
      Inputs.requireLocalExists("--limber", limber);
    }
    // Reads P's checkpoint and limber.json and checks the frozen parts, so a wrong --limber stops before Spark.
    loader.describe(limber, new Configuration());
  }

  @Override
  int run(SparkSession spark) {
    var r = CaptionRun.run(spark, spec, evalOptions.dataOptions(), evalOptions.maxRows(), limber, loader, options, out);
    var printer = out();
    printer.println(String.format(Locale.ROOT, "Captioned %,d images of %s with %s (%s); %,d skipped%n  captions %s%n"
        + "  page %s (%,d images)", r.captions(), spec, limber, options.decoding().describe(), r.skipped(), r.parquet(),
        r.page(), r.shown()));
    printer.flush();
    return 0;
  }
}
