package dev.clipspark.jobs;

import dev.clipspark.dataset.build.DatasetBuild;
import dev.clipspark.dataset.queries.QuerySummary;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The human-readable summaries the commands print. */
final class Reports {

  private Reports() {}

  /** A two-column table of named figures under a title. */
  static String table(String title, Map<String, ?> figures) {
    int width = figures.keySet().stream().mapToInt(String::length).max().orElse(0);
    var sb = new StringBuilder(title).append('\n');
    figures.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "  %-" + width + "s  %s%n", k, format(v))));
    return sb.toString().stripTrailing();
  }

  static String format(Object v) {
    if (v instanceof Double d) {
      return Math.abs(d) >= 100 ? String.format(Locale.ROOT, "%,.0f", d) : String.format(Locale.ROOT, "%.3f", d);
    }
    if (v instanceof Long || v instanceof Integer) {
      return String.format(Locale.ROOT, "%,d", ((Number) v).longValue());
    }
    return String.valueOf(v);
  }

  /** What build-queries did. */
  static String queries(QuerySummary s, String out) {
    var kinds = new StringBuilder();
    s.afterCap().forEach((kind, n) -> kinds.append(kinds.length() == 0 ? "" : ", ").append(kind).append(' ')
        .append(String.format(Locale.ROOT, "%,d", n)));
    var sb = new StringBuilder(String.format(Locale.ROOT, "Wrote %,d queries to %s/queries.parquet (%s)", s.total(),
        out, kinds));
    sb.append(String.format(Locale.ROOT, "%n  corpus words %,d; before the cap %,d, dropped by the cap %,d",
        s.corpusWords(), s.totalBeforeCap(), s.droppedByCap()));
    if (s.malformedTitleLines() > 0) {
      sb.append(String.format(Locale.ROOT, "; malformed title lines skipped %,d", s.malformedTitleLines()));
    }
    sb.append(String.format(Locale.ROOT, "%n  summary: %s/summary.json", out));
    return sb.toString();
  }

  /** What build-dataset did. */
  @SuppressWarnings("unchecked")
  static String dataset(DatasetBuild.Result result, String out) {
    var m = result.manifest();
    var sb = new StringBuilder();
    if (result.reused()) {
      sb.append("Dataset already complete (same inputs and settings): ").append(out).append('\n');
    }
    sb.append(String.format(Locale.ROOT, "Wrote %,d pairs in %d shards to %s%n", m.totalRows(), m.shards().size(), out));
    Map<String, Object> s = result.stats();
    if (!s.isEmpty()) {
      sb.append(String.format(Locale.ROOT, "  candidates %,d, matched (planned) %,d, fetched or decoded %,d,"
              + " processed ok %,d, duplicates %,d, admitted %,d; never fetched %,d (%.1f%% of the pool)%n",
          num(s.get("candidates")), num(s.get("planned")), num(s.get("fetched")), num(s.get("processed_ok")),
          num(s.get("duplicates")), num(s.get("admitted")), num(s.get("never_fetched")),
          100 * dbl(s.get("never_fetched_share"))));
      var clip = (Map<String, Object>) s.get("clip_filter");
      if (clip != null) {
        sb.append(String.format(Locale.ROOT, "  CLIP filter %s at min-similarity %s: scored %,d (only pairs about to be"
                + " admitted), passed %,d, rejected %,d (clip_score)%n", clip.get("checkpoint"),
            clip.get("min_similarity"), num(clip.get("scored")), num(clip.get("passed")), num(clip.get("rejected"))));
      }
      var rounds = (List<Map<String, Object>>) s.get("rounds");
      if (rounds != null) {
        sb.append(String.format(Locale.ROOT, "  plan %s, %d round(s):", s.get("plan"), rounds.size()));
        for (var r : rounds) {
          sb.append(String.format(Locale.ROOT, " [%d: requested %,d, fetched %,d, ok %,d,%s admitted %,d]",
              num(r.get("round")), num(r.get("requested")), num(r.get("fetched")), num(r.get("ok")),
              r.containsKey("scored") ? String.format(Locale.ROOT, " scored %,d, clip_score %,d,",
                  num(r.get("scored")), num(r.get("clip_score"))) : "",
              num(r.get("admitted"))));
        }
        sb.append('\n');
        if (Boolean.TRUE.equals(s.get("max_rounds_reached"))) {
          sb.append(String.format(Locale.ROOT, "  WARNING: balance.max-rounds was reached: %,d candidates that"
              + " queries still needed were never fetched (round_limit); raise balance.max-rounds and re-run"
              + " with --overwrite to fill those queries%n", num(((Map<String, Object>) s.get("rejected")).get("round_limit"))));
        }
      }
      var rejected = (Map<String, Object>) s.get("rejected");
      var nonZero = new StringBuilder();
      rejected.forEach((k, v) -> {
        if (num(v) > 0) {
          nonZero.append(nonZero.length() == 0 ? "" : ", ").append(k).append(' ').append(String.format(Locale.ROOT, "%,d", num(v)));
        }
      });
      sb.append("  rejected: ").append(nonZero.length() == 0 ? "none" : nonZero).append('\n');
      var queries = (Map<String, Object>) s.get("queries");
      if (queries != null) {
        var top = (List<Map<String, Object>>) queries.get("top");
        sb.append(String.format(Locale.ROOT, "  queries with pairs %,d of %,d, at the cap of %,d: %,d%n",
            num(queries.get("with_pairs")), num(queries.get("total")), num(queries.get("max_per_query")),
            num(queries.get("at_cap"))));
        if (top != null && !top.isEmpty()) {
          sb.append("  top queries (matched -> admitted):");
          top.stream().limit(5).forEach(q -> sb.append(String.format(Locale.ROOT, " '%s' %,d -> %,d;",
              q.get("query"), num(q.get("matched")), num(q.get("admitted")))));
          sb.append('\n');
        }
      }
    }
    sb.append("  manifest: ").append(out).append("/manifest.json, stats: ").append(out).append("/stats.json");
    return sb.toString();
  }

  private static double dbl(Object o) {
    return o == null ? 0 : ((Number) o).doubleValue();
  }

  private static long num(Object o) {
    return o == null ? 0 : ((Number) o).longValue();
  }
}
