package dev.clipspark.evaluation;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * CLIP's zero-shot classifier: one normalised text embedding per class; an image's logits are
 * {@code 100 x cosine} with each class (CLIP's fixed evaluation scale, not the learned one).
 *
 * <p>Prompt ensembling: a class's embedding is {@code normalise(mean_t normalise(text(template_t(class))))},
 * computed once over all classes and templates.
 *
 * @param classNames the classes, in label order
 * @param templates the templates used, each with one {@code {}}
 * @param weights {@code weights[c]}: class c's normalised embedding
 */
public record ZeroShotClassifier(List<String> classNames, List<String> templates, float[][] weights)
    implements Serializable {

  /** CLIP's logit scale at evaluation. */
  public static final double LOGIT_SCALE = 100.0;

  /** Prompts embedded per text batch while building. */
  static final int TEXT_BATCH = 256;

  /** Checks the shapes. */
  public ZeroShotClassifier {
    classNames = List.copyOf(classNames);
    templates = List.copyOf(templates);
    if (weights.length != classNames.size()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Cannot build a classifier of %d classes from %d class embeddings", classNames.size(), weights.length));
    }
  }

  /** The prompt of one class and template: {@code {}} replaced by the class name. */
  public static String prompt(String template, String className) {
    return template.replace("{}", className);
  }

  static ZeroShotClassifier build(ClipEvaluator clip, List<String> classNames, List<String> templates) {
    if (classNames.isEmpty()) {
      throw new IllegalArgumentException("Cannot build a zero-shot classifier without class names");
    }
    if (templates.isEmpty()) {
      throw new IllegalArgumentException("Cannot build a zero-shot classifier without templates");
    }
    for (String t : templates) {
      if (!t.contains("{}")) {
        throw new IllegalArgumentException("Cannot use the template \"" + t + "\": it has no {} for the class name");
      }
    }
    var prompts = new ArrayList<String>(classNames.size() * templates.size());
    for (String c : classNames) {
      for (String t : templates) {
        prompts.add(prompt(t, c));
      }
    }
    int d = clip.embedDim();
    float[][] weights = new float[classNames.size()][d];
    for (int start = 0; start < prompts.size(); start += TEXT_BATCH) {
      int end = Math.min(prompts.size(), start + TEXT_BATCH);
      float[][] e = clip.encodeTexts(prompts.subList(start, end));
      for (int i = start; i < end; i++) {
        float[] w = weights[i / templates.size()];
        float[] row = e[i - start];
        for (int j = 0; j < d; j++) {
          w[j] += row[j];
        }
      }
    }
    for (float[] w : weights) {
      for (int j = 0; j < d; j++) {
        w[j] /= templates.size();
      }
      Vectors.normaliseInPlace(w);
    }
    return new ZeroShotClassifier(classNames, templates, weights);
  }

  /** Number of classes. */
  public int classes() {
    return weights.length;
  }

  /** Logits of one normalised image embedding: {@code 100 x cosine} with each class. */
  public float[] logits(float[] imageEmbedding) {
    float[] out = new float[weights.length];
    for (int c = 0; c < weights.length; c++) {
      out[c] = (float) (LOGIT_SCALE * Vectors.dot(weights[c], imageEmbedding));
    }
    return out;
  }

  /** Softmax of {@link #logits} for each image. */
  public float[][] probabilities(float[][] imageEmbeddings) {
    float[][] out = new float[imageEmbeddings.length][];
    for (int i = 0; i < imageEmbeddings.length; i++) {
      float[] l = logits(imageEmbeddings[i]);
      double max = Double.NEGATIVE_INFINITY;
      for (float x : l) {
        max = Math.max(max, x);
      }
      double sum = 0;
      double[] e = new double[l.length];
      for (int c = 0; c < l.length; c++) {
        e[c] = Math.exp(l[c] - max);
        sum += e[c];
      }
      out[i] = new float[l.length];
      for (int c = 0; c < l.length; c++) {
        out[i][c] = (float) (e[c] / sum);
      }
    }
    return out;
  }

  /** The index of the highest-scoring class for each image (ties: the lower index). */
  public int[] predict(float[][] imageEmbeddings) {
    int[] out = new int[imageEmbeddings.length];
    for (int i = 0; i < imageEmbeddings.length; i++) {
      float[] l = logits(imageEmbeddings[i]);
      int best = 0;
      for (int c = 1; c < l.length; c++) {
        if (l[c] > l[best]) {
          best = c;
        }
      }
      out[i] = best;
    }
    return out;
  }
}
