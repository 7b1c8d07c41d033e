/**
 * The build-dataset pipeline: candidates from every source are loaded (bytes in hand, fetched or read),
 * validated and re-encoded into {@code _work/processed}; then exact duplicates are dropped, captions are
 * matched against the query list, each query admits at most {@code balance.max-per-query} pairs, and the
 * admitted pairs are written as Parquet shards with {@code manifest.json} and {@code stats.json}.
 * {@link dev.clipspark.dataset.build.DatasetBuild} is the entry point.
 */
package dev.clipspark.dataset.build;
