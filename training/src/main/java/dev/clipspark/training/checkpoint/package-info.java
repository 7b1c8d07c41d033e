/**
 * Atomic, checksummed training checkpoints on any Hadoop file system (local paths, {@code hdfs:},
 * {@code s3a:}), reached through the {@link dev.clipspark.training.checkpoint.Checkpoints} facade.
 *
 * <p>Layout under a run's output directory {@code OUT}:
 * <pre>
 *   OUT/checkpoints/latest                    the name of the newest checkpoint directory
 *   OUT/checkpoints/step-0000000123/
 *     model.bin        parameters then buffers, raw little-endian, one tensor after another
 *     optimizer.bin    AdamW first moments then second moments, same encoding
 *     state.json       step, optimizer step count and the trainer's state (epoch, position, RNG, metrics)
 *     model.conf       the model architecture as HOCON, readable by ModelConfigs
 *     tokenizer.txt    the tokenizer's merges file, byte for byte
 *     checkpoint.json  written last: every file's size and SHA-256 and the tensor index
 *                      (name, kind, dtype, shape, offset, bytes)
 * </pre>
 * A checkpoint is complete only when {@code checkpoint.json} exists and every file matches it. Saving
 * writes into a temporary sibling {@code _tmp-step-...-UUID}, verifies it by reading it back, then renames
 * it and replaces the {@code latest} pointer, so a crash at any point leaves either the previous state or a
 * directory that fails verification and is skipped.
 */
package dev.clipspark.training.checkpoint;
