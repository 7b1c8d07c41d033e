/**
 * LiMBeR (Merullo et al., "Linearly mapping from image to text space", ICLR 2023) on top of a CLIP checkpoint and a
 * GPT-2 language model: image features from the frozen CLIP image tower computed once per image in Spark executors
 * and stored as Parquet ({@link dev.clipspark.training.limber.FeatureStore}), the training of the linear map P
 * alone, data-parallel with one all-reduce of P's gradient per step ({@link dev.clipspark.training.limber.LimberTrainer}),
 * its checkpoints, and {@link dev.clipspark.training.limber.LimberModel}, the loader captioning and evaluation use.
 */
package dev.clipspark.training.limber;
