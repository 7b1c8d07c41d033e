/**
 * Captioning with a LiMBeR model in Spark executors: {@link dev.clipspark.evaluation.caption.CaptionModel} (what
 * captioning needs from a model) and its one adapter {@link dev.clipspark.evaluation.caption.LimberCaptionModel} over
 * {@code dev.clipspark.training.limber.LimberModel}; {@link dev.clipspark.evaluation.caption.Captioning} (image
 * features and captions per partition, the model read once per executor JVM);
 * {@link dev.clipspark.evaluation.caption.CaptionRun} ({@code clip caption}: Parquet and an HTML page) and
 * {@link dev.clipspark.evaluation.caption.CaptioningEvaluation} ({@code evaluate --task captioning}: BLEU-4 and
 * CIDEr-D of the model beside the shuffled-images and no-image baselines); {@link
 * dev.clipspark.evaluation.caption.CaptionOptions} (the {@code eval.captioning.*} and {@code lm.decode.*} settings).
 */
package dev.clipspark.evaluation.caption;
