/**
 * Atomic, checksummed training checkpoints on any Hadoop file system (local paths, {@code hdfs:}) or object
 * store ({@code s3a:}, {@code gs:}), reached through the {@link dev.clipspark.training.checkpoint.Checkpoints}
 * facade.
 *
 * <p>Layout under a run's output directory {@code OUT}:
 * <pre>
 *   OUT/checkpoints/latest                    the name of the newest checkpoint directory
 *   OUT/checkpoints/step-0000000123/
 *     model.bin        parameters then buffers, raw little-endian, one tensor after another
 *     optimizer.bin    AdamW first moments then second moments, same encoding
 *     state.json       step, optimizer step count and the trainer's state (epoch, position, RNG, metrics)
 *     model.conf       the model architecture as HOCON (for CLIP, readable by ModelConfigs)
 *     tokenizer.txt    extra files, copied byte for byte: a CLIP checkpoint's tokenizer merges file; a GPT-2
 *     ...              checkpoint's vocab.json and merges.txt; a LiMBeR checkpoint's limber.json
 *     checkpoint.json  written last: the checkpoint's kind (clip, gpt2 or limber; CLIP when absent), every file's
 *                      size and SHA-256 and the tensor index (name, kind, dtype, shape, offset, bytes)
 * </pre>
 * A checkpoint is complete only when {@code checkpoint.json} exists and every file matches it, and it is the
 * current one when {@code latest} names it. A save commits in one of two ways ({@link
 * dev.clipspark.training.checkpoint.CommitMode}, setting {@code train.checkpoint-commit}):
 * <ul>
 *   <li><b>rename</b>, for file systems whose rename is atomic (local, {@code hdfs:}, {@code viewfs:}): every file
 *       goes into a temporary sibling {@code _tmp-step-...-UUID}, {@code checkpoint.json} last; the directory is
 *       verified by reading it all back, renamed to {@code step-NNNNNNNNNN}, and {@code latest} is replaced by
 *       writing {@code _tmp-latest-UUID} and renaming it. A crash leaves the previous state plus a {@code _tmp-*}
 *       leftover, which loading deletes.
 *   <li><b>pointer</b>, for object stores ({@code s3a:}, {@code gs:}, {@code abfs:}, ...; the list is {@link
 *       dev.clipspark.training.checkpoint.CommitMode#OBJECT_STORE_SCHEMES}), where a rename is a copy of every
 *       object then a delete, slow and visible half-done: every file goes straight into {@code step-NNNNNNNNNN}
 *       (an existing directory of that step, left by an earlier attempt, is deleted first), {@code checkpoint.json}
 *       last; the directory is verified by reading it all back, then published by overwriting {@code latest} in
 *       a single create, which is one PUT, atomic on S3, GCS and Azure. Nothing is renamed. A crash before the
 *       publish leaves {@code latest} naming the previous checkpoint and a step directory without
 *       {@code checkpoint.json}, or one that does not verify, or one that verifies but is not published; the
 *       resumed run's save of that step replaces it (and retention deletes incomplete step directories older
 *       than the newest save).
 * </ul>
 * {@code auto}, the default, chooses pointer for those schemes and rename for any other. Loading trusts
 * {@code latest} first when the checkpoint it names verifies, so a stale pointer to an older complete checkpoint
 * wins over newer step directories; only without a usable pointer does it scan the step directories newest
 * first, skipping (with a warning) those without {@code checkpoint.json} and those that fail verification.
 * Either way a crash at any point leaves the previous checkpoint loadable and never something torn that loads.
 */
package dev.clipspark.training.checkpoint;
