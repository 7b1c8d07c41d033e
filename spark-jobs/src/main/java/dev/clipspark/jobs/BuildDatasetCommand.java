package dev.clipspark.jobs;

import dev.clipspark.dataset.build.BuildOptions;
import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.source.CandidateSource;
import dev.clipspark.dataset.source.SourceOptions;
import dev.clipspark.dataset.source.Sources;
import java.util.ArrayList;
import java.util.List;
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
            + " Re-running into the same OUT resumes: committed rounds are reused and the output is rewritten whole."})
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

  private BuildOptions options;
  private List<CandidateSource> parsed;

  @Override
  void prepare(Settings settings) {
    options = BuildOptions.from(settings);
    SourceOptions sourceOptions = SourceOptions.from(settings);
    parsed = new ArrayList<>();
    for (String s : sources) {
      parsed.add(Sources.parse(s, sourceOptions));
    }
    Inputs.requireLocalExists("--queries", queries);
  }

  @Override
  int run(SparkSession spark) {
    var result = DatasetBuild.run(spark, new DatasetBuild.Request(queries, parsed, out, overwrite), options);
    out().println(Reports.dataset(result, out));
    return 0;
  }
}
