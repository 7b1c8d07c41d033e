package dev.clipspark.dataset.build;

import java.io.Serializable;
import java.util.List;

/**
 * Scores image-text pairs for {@code build-dataset}'s CLIP filter ({@code filter.clip.*}): the cosine of the
 * L2-normalised image and caption embeddings of a CLIP model, as LAION filtered its crawl. The build calls it in
 * its executors ({@code mapPartitions}), in batches of at most {@link #batchSize()} pairs, and only for candidates
 * that are about to be admitted. The dataset builder holds no model: {@code clipspark-training} implements this
 * interface and {@code build-dataset} passes it in. An implementation is serialised into every task, so it
 * carries only where its model is and loads it once per JVM.
 */
public interface CandidateScorer extends Serializable {

  /**
   * What the scores depend on besides the pairs: the model and its weights (e.g. their location, size and
   * modification time) and the preprocessing. Scores stored in a build's {@code _work/} are reused only while it
   * is unchanged.
   */
  String fingerprint();

  /** The most pairs one {@link #score} call takes. */
  int batchSize();

  /**
   * The similarity of each pair, in [-1, 1].
   *
   * @param images the images as the build stores them (encoded, e.g. JPEG; {@code image.*} applied)
   * @param captions the cleaned captions, one per image
   * @return one score per pair, in order
   */
  float[] score(List<byte[]> images, List<String> captions);
}
