/**
 * Evaluation datasets read into Spark as rows of {@code (key, image, label, caption)}: {@code idx:} (MNIST-format
 * IDX files), {@code folder:} (one sub-directory per class), {@code table:} (Parquet, CSV or TSV) and
 * {@code shards:} (a dataset written by build-dataset). {@link EvalData} is the facade.
 */
package dev.clipspark.evaluation.data;
