/**
 * The build-dataset pipeline: every source's metadata is read into a plan ({@code _work/plan}: captions
 * checked and matched against the query list, each candidate ranked by a seeded hash; no image loaded);
 * then rounds fetch and process only the candidates each query can still admit
 * ({@code _work/fetched/round-NNNNN}), {@link dev.clipspark.dataset.build.Admission} decides which are
 * admitted (at most {@code balance.max-per-query} per query, the first copy of an image wins), with
 * {@code filter.clip.*} a {@link dev.clipspark.dataset.build.CandidateScorer} (a CLIP model, implemented in
 * {@code clipspark-training}) scores the pairs about to be admitted and those below the threshold give their
 * places away ({@code _work/scored/score-NNNNN}), and the admitted pairs are written as Parquet shards with {@code manifest.json} and {@code stats.json}.
 * {@link dev.clipspark.dataset.build.DatasetBuild} is the entry point; {@code BuildBenchmark} measures it.
 */
package dev.clipspark.dataset.build;
