/**
 * Evaluation metrics on plain arrays, without Spark or ND4J: classification ({@link ClassificationMetrics}:
 * top-k accuracy, per-class recall, confusion matrix) and retrieval ({@link RetrievalMetrics}: recall@k and
 * median rank, with ties counted against the model).
 */
package dev.clipspark.evaluation.metrics;
