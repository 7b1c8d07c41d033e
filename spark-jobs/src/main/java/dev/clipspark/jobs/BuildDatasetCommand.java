package dev.clipspark.jobs;

import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import com.typesafe.config.ConfigFactory;
import dev.clipspark.training.score.ClipScorer;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip build-dataset}: candidate pairs to balanced, deduplicated Parquet shards. */
@Command(
    name = "build-dataset",
    mixinStandardHelpOptions = true,
    description = {
        "Builds a WIT-style dataset of image-text pairs whose captions match the query list.",
        "Reads every source's metadata, matches captions against the query list, then fetches and decodes only"
            + " the candidates each query still needs, in rounds (build.plan = lazy; build.plan = all fetches"
            + " everything and writes the same rows), drops duplicates, admits at most balance.max-per-query pairs"
            + " per query, and writes OUT/shards/part-NNNNN.parquet, OUT/manifest.json and OUT/stats.json."
            + " Re-running into the same OUT resumes: committed rounds are reused and the output is rewritten whole.",
        "With filter.clip.checkpoint (or --clip-filter) set, the pairs about to be admitted are scored with that CLIP"
            + " model, as LAION filtered its crawl: those whose image and caption embeddings have a cosine below"
            + " filter.clip.min-similarity are rejected (clip_score) and their places go to the next candidates."})
final class BuildDatasetCommand extends JobCommand {

  @Option(names = "--queries", required = true, paramLabel = "DIR",
      description = "Output directory of build-queries (holds queries.parquet).")
  String queries;

  @Option(names = "--source", required = true, arity = "1..*", paramLabel = "KIND:PATH",
      description = "Candidate source, repeatable: webdataset:TARS (img2dataset tar shards),"
          + " table:FILES (Parquet/CSV/TSV with image and caption columns), folder:DIR (images with .txt"
          + " captions beside them), synthetic:NAME (generated coloured shapes).")
  List<String> sources = new ArrayList<>();

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Dataset directory to write.")
  String out;

  @Option(names = "--overwrite",
      description = "Replace a finished build of other inputs or settings in --out (default: refuse).")
  boolean overwrite;

  @Option(names = "--clip-filter", paramLabel = "CKPT",
      description = "Filter by CLIP score with these weights: a ClipSpark checkpoint or run directory, or a weights"
          + " file import-weights reads (OpenAI's ViT-B-32.pt, open_clip's .bin / .safetensors). Same as --set"
          + " filter.clip.checkpoint=CKPT.")
  String clipFilter;

  @Option(names = "--min-similarity", paramLabel = "X",
      description = "Lowest cosine of image and caption embeddings admitted, -1 to 1 (LAION-5B, English: 0.28 with"
          + " ViT-B/32). Same as --set filter.clip.min-similarity=X.")
  Double minSimilarity;

  @Option(names = "--clip-tokenizer", paramLabel = "FILE",
      description = "The merges file of a --clip-filter weights file (OpenAI's bpe_simple_vocab_16e6.txt.gz); a"
          + " checkpoint directory carries its own. Same as --set filter.clip.tokenizer=FILE.")
  String clipTokenizer;

  private BuildOptions options;
  private ClipScorer scorer;
  private List<CandidateSource> parsed;

  @Override
  void prepare(Settings settings) {
    settings = withClipOptions(settings);
    options = BuildOptions.from(settings);
    SourceOptions sourceOptions = SourceOptions.from(settings);
    parsed = new ArrayList<>();
    for (String s : sources) {
      parsed.add(Sources.parse(s, sourceOptions));
    }
    Inputs.requireLocalExists("--queries", queries);
    // Reads the weights now: a checkpoint that is missing or unreadable stops the job before Spark starts.
    scorer = options.clipFilter().enabled() ? ClipScorer.open(options.clipFilter(), new Configuration()) : null;
  }

  private Settings withClipOptions(Settings settings) {
    var flags = new java.util.LinkedHashMap<String, Object>();
    if (clipFilter != null) {
      flags.put(BuildOptions.CLIP_CHECKPOINT, clipFilter);
    }
    if (minSimilarity != null) {
      flags.put(BuildOptions.CLIP_MIN_SIMILARITY, minSimilarity);
    }
    if (clipTokenizer != null) {
      flags.put(BuildOptions.CLIP_TOKENIZER, clipTokenizer);
    }
    return flags.isEmpty() ? settings
        : new Settings(ConfigFactory.parseMap(flags).withFallback(settings.config()).resolve());
  }

  @Override
  int run(SparkSession spark) {
    var result = DatasetBuild.run(spark, new DatasetBuild.Request(queries, parsed, out, overwrite, scorer),
        options);
    out().println(Reports.dataset(result, out));
    return 0;
  }
}
