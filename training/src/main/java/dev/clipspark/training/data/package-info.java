/**
 * The training data pipeline: a built ClipSpark dataset's Parquet shards streamed into training batches.
 *
 * <p>{@link dev.clipspark.training.data.TrainingData} reads the shards listed in the dataset's manifest
 * without Spark, in a seeded per-epoch order through a shuffle buffer, decodes and transforms images on
 * background threads with an {@link dev.clipspark.training.data.ImagePreprocessor} (CLIP's evaluation
 * transform, or torchvision's random resized crop for training), tokenizes captions and yields
 * {@link dev.clipspark.training.data.Batch}es. The stream is deterministic (independent of thread count),
 * resumable from a saved {@link dev.clipspark.training.data.DataPosition}, and splits each global batch
 * across ranks for distributed training.
 */
package dev.clipspark.training.data;
