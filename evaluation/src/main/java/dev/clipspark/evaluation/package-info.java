/**
 * Evaluation of CLIP checkpoints, the way CLIP's users measure models: {@link dev.clipspark.evaluation.ClipEvaluator}
 * (a checkpoint ready to embed images and texts, the entry point for code and notebooks),
 * {@link dev.clipspark.evaluation.ZeroShotClassifier} (prompt ensembling), the Spark jobs behind
 * {@code clip evaluate} ({@link dev.clipspark.evaluation.Evaluation}: zero-shot, linear probe, retrieval, embed),
 * embeddings computed in executors ({@link dev.clipspark.evaluation.Embeddings}), the {@code eval.*} settings
 * ({@link dev.clipspark.evaluation.EvalOptions}), class and template lists ({@link dev.clipspark.evaluation.Prompts})
 * and the notebooks' entry point ({@link dev.clipspark.evaluation.Notebook}).
 */
package dev.clipspark.evaluation;
