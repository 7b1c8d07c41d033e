package dev.clipspark.jobs;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.queries.QueryInputs;
import dev.clipspark.dataset.queries.QueryListBuilder;
import dev.clipspark.dataset.queries.QueryOptions;
import dev.clipspark.dataset.queries.QuerySummary;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip build-queries}: the CLIP query list from a text corpus, article titles and WordNet. */
@Command(
    name = "build-queries",
    mixinStandardHelpOptions = true,
    description = {
        "Builds the query list as the CLIP paper did, from a text corpus, article titles and WordNet.",
        "Words seen at least queries.min-count times in the corpus, bigrams with high pointwise mutual"
            + " information, article titles with at least queries.title.min-views views, and WordNet lemma names"
            + " not already in the list, capped at queries.max. Writes OUT/queries.parquet (query, kind, score,"
            + " rank) and OUT/summary.json."})
final class BuildQueriesCommand extends JobCommand {

  @Option(names = "--corpus", required = true, arity = "1..*", paramLabel = "PATH",
      description = "Text files, directories or globs (one line at a time), or Parquet with a text column"
          + " (queries.corpus.column). Repeatable.")
  List<String> corpus = new ArrayList<>();

  @Option(names = "--titles", paramLabel = "FILE",
      description = "TSV of article titles and their views: title<TAB>views.")
  String titles;

  @Option(names = "--wordnet", paramLabel = "DIR",
      description = "WordNet 3.0 database directory (data.noun, data.verb, ...), e.g. /usr/share/wordnet"
          + " from Debian's wordnet-base.")
  String wordnet;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
  String out;

  private QueryOptions options;

  @Override
  void prepare(Settings settings) {
    options = QueryOptions.from(settings);
    for (String c : corpus) {
      if (!c.contains("*")) {
        Inputs.requireLocalExists("--corpus", c);
      }
    }
    if (titles != null) {
      Inputs.requireLocalExists("--titles", titles);
    }
    if (wordnet != null) {
      Inputs.requireLocalExists("--wordnet", wordnet);
    }
  }

  @Override
  int run(SparkSession spark) {
    QuerySummary summary = QueryListBuilder.build(spark, new QueryInputs(corpus, titles, wordnet), options, out);
    out().println(Reports.queries(summary, out));
    return 0;
  }
}
