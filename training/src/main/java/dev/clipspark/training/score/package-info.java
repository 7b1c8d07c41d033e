/**
 * CLIP scores of image-text pairs for {@code build-dataset}'s CLIP filter ({@code filter.clip.*}):
 * {@link dev.clipspark.training.score.ClipScorer} implements the dataset builder's
 * {@link dev.clipspark.dataset.build.CandidateScorer} with any weights {@code train --init} and
 * {@code evaluate --checkpoint} read.
 */
package dev.clipspark.training.score;
