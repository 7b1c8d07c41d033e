/**
 * Evaluation metrics on plain arrays, without Spark or ND4J: classification ({@link ClassificationMetrics}:
 * top-k accuracy, per-class recall, confusion matrix) and retrieval ({@link RetrievalMetrics}: recall@k and
 * median rank, with ties counted against the model) and captioning ({@link CaptionMetrics}: BLEU-1..4 and
 * CIDEr-D as coco-caption computes them, on captions split by {@link CaptionTokenizer}).
 */
package dev.clipspark.evaluation.metrics;
