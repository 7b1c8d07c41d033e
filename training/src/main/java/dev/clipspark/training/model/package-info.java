/**
 * CLIP model descriptions: architectures as data ({@link dev.clipspark.training.model.ModelConfig},
 * loaded from {@code conf/models/NAME.conf} by {@link dev.clipspark.training.model.ModelConfigs}) and
 * the parameter tensors they imply ({@link dev.clipspark.training.model.ClipParameters}), named, shaped
 * and initialised as in OpenAI's CLIP so that checkpoints map one to one onto its {@code state_dict}.
 */
package dev.clipspark.training.model;
