/**
 * Candidate sources: where the (image, caption) pairs of a dataset build come from.
 *
 * <p>A {@link dev.clipspark.dataset.source.CandidateSource} turns a spec such as
 * {@code webdataset:/data/shards}, {@code table:s3a://bucket/pairs.parquet}, {@code folder:/photos} or
 * {@code synthetic:demo} into a {@code JavaRDD} of {@link dev.clipspark.dataset.Candidate}s whose files
 * are read in Spark executors. Sources are built by the facade {@link dev.clipspark.dataset.source.Sources}
 * from a spec and validated {@link dev.clipspark.dataset.source.SourceOptions}; the implementations are
 * package-private.
 *
 * <p>Also here, for reuse by the rest of the build: {@link dev.clipspark.dataset.source.HadoopConf}, which
 * ships a Hadoop {@code Configuration} to executors; {@link dev.clipspark.dataset.source.Sources#readFile}
 * which reads a {@code Candidate.path} with a size limit; and
 * {@link dev.clipspark.dataset.source.SyntheticShapes}, the seeded coloured-shape generator whose classes
 * double as a zero-shot evaluation set.
 *
 * <p>All sources follow the same rules: keys are stable across runs and Spark partitionings; a missing
 * path or an empty listing fails on the driver before any task runs; bad input inside the files never
 * fails a task but becomes a rejected candidate with its {@link dev.clipspark.dataset.RejectReason}.
 */
package dev.clipspark.dataset.source;
