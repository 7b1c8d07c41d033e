/**
 * Captioning with a LiMBeR model in Spark executors: {@link dev.clipspark.evaluation.caption.CaptionModel} (what
 * captioning needs from a model, with {@link dev.clipspark.evaluation.caption.CaptionModels} reaching the trained
 * ones), {@link dev.clipspark.evaluation.caption.Captioning} (image features and captions per partition, the model read
 * once per executor JVM), {@link dev.clipspark.evaluation.caption.CaptionPage} (the HTML page of {@code clip caption})
 * and {@link dev.clipspark.evaluation.caption.CaptioningEvaluation} ({@code evaluate --task captioning}: BLEU-4 and
 * CIDEr-D of the model beside the shuffled-images and no-image baselines).
 */
package dev.clipspark.evaluation.caption;
