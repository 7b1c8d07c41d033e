package dev.clipspark.evaluation;

/** Small float-vector helpers for embeddings. */
public final class Vectors {

  private Vectors() {}

  /** Scales {@code v} to unit length in place (a zero vector stays zero). */
  public static float[] normaliseInPlace(float[] v) {
    double s = 0;
    for (float x : v) {
      s += (double) x * x;
    }
    double norm = Math.sqrt(s);
    if (norm > 0) {
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (v[i] / norm);
      }
    }
    return v;
  }

  /** The dot product, accumulated in double. */
  public static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return s;
  }
}
