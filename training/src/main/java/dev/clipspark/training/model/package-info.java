/**
 * CLIP model descriptions: architectures as data ({@link dev.clipspark.training.model.ModelConfig},
 * loaded from {@code conf/models/NAME.conf} by {@link dev.clipspark.training.model.ModelConfigs}) and
 * the parameter tensors they imply ({@link dev.clipspark.training.model.ClipParameters}), named, shaped
 * and initialised as in OpenAI's CLIP so that checkpoints map one to one onto its {@code state_dict};
 * the model that composes the two towers and the logit scale ({@link dev.clipspark.training.model.ClipModel})
 * and the symmetric contrastive loss ({@link dev.clipspark.training.model.ContrastiveLoss}), with its two
 * distributed forms: the exact tiled {@link dev.clipspark.training.model.ShardedContrastiveLoss} and open_clip's
 * gather-with-gradient scheme ({@link dev.clipspark.training.model.GatherWithGradientLoss}), compared by
 * {@link dev.clipspark.training.model.LossBenchmark}.
 */
package dev.clipspark.training.model;
