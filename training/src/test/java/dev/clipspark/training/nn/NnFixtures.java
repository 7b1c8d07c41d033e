package dev.clipspark.training.nn;

import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Random double-precision tensors and plain-loop reference computations for the layer tests. */
final class NnFixtures {

  private NnFixtures() {}

  /** Normal(mean, std) values of the given shape, from {@code random}. */
  static INDArray normal(Random random, double mean, double std, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = mean + std * random.nextGaussian();
    }
    return Nd4j.createFromArray(v).reshape('c', shape);
  }

  /** Adds {@code prefix.weight [out, in]} and {@code prefix.bias [out]}. */
  static void linear(ParameterSet p, Random r, String prefix, long out, long in) {
    p.add(prefix + ".weight", normal(r, 0, 1 / Math.sqrt(in), out, in));
    p.add(prefix + ".bias", normal(r, 0, 0.3, out));
  }

  /** Adds a LayerNorm with gains near 1 and small biases. */
  static void layerNorm(ParameterSet p, Random r, String prefix, long width) {
    p.add(prefix + ".weight", normal(r, 1, 0.3, width));
    p.add(prefix + ".bias", normal(r, 0, 0.3, width));
  }

  /** Adds the parameters of an attention layer under {@code prefix}. */
  static void attention(ParameterSet p, Random r, String prefix, long width) {
    p.add(prefix + ".in_proj_weight", normal(r, 0, 1 / Math.sqrt(width), 3 * width, width));
    p.add(prefix + ".in_proj_bias", normal(r, 0, 0.3, 3 * width));
    linear(p, r, prefix + ".out_proj", width, width);
  }

  /** x [n, in] times w^T [in, out] plus b, by loops. */
  static double[][] linear(double[][] x, double[][] w, double[] b) {
    double[][] y = new double[x.length][w.length];
    for (int i = 0; i < x.length; i++) {
      for (int o = 0; o < w.length; o++) {
        double s = b == null ? 0 : b[o];
        for (int k = 0; k < x[i].length; k++) {
          s += x[i][k] * w[o][k];
        }
        y[i][o] = s;
      }
    }
    return y;
  }

  /** Row-wise LayerNorm by loops (biased variance). */
  static double[][] layerNorm(double[][] x, double[] g, double[] b, double eps) {
    double[][] y = new double[x.length][x[0].length];
    for (int i = 0; i < x.length; i++) {
      double mean = 0;
      for (double v : x[i]) {
        mean += v;
      }
      mean /= x[i].length;
      double var = 0;
      for (double v : x[i]) {
        var += (v - mean) * (v - mean);
      }
      var /= x[i].length;
      for (int j = 0; j < x[i].length; j++) {
        y[i][j] = (x[i][j] - mean) / Math.sqrt(var + eps) * g[j] + b[j];
      }
    }
    return y;
  }

  /** x * sigmoid(1.702 x). */
  static double quickGelu(double x) {
    return x / (1 + Math.exp(-1.702 * x));
  }

  /** One sequence [t, width] through multi-head self-attention, by loops, as PyTorch computes it. */
  static double[][] attention(double[][] x, ParameterSet p, String prefix, int heads, boolean causal) {
    int t = x.length;
    int w = x[0].length;
    int d = w / heads;
    double[][] qkv = linear(x, p.value(prefix + ".in_proj_weight").toDoubleMatrix(),
        p.value(prefix + ".in_proj_bias").toDoubleVector());
    double[][] merged = new double[t][w];
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < t; i++) {
        double[] s = new double[t];
        double max = Double.NEGATIVE_INFINITY;
        int last = causal ? i : t - 1;
        for (int j = 0; j <= last; j++) {
          double dot = 0;
          for (int c = 0; c < d; c++) {
            dot += qkv[i][h * d + c] * qkv[j][w + h * d + c];
          }
          s[j] = dot / Math.sqrt(d);
          max = Math.max(max, s[j]);
        }
        double sum = 0;
        for (int j = 0; j <= last; j++) {
          s[j] = Math.exp(s[j] - max);
          sum += s[j];
        }
        for (int j = 0; j <= last; j++) {
          for (int c = 0; c < d; c++) {
            merged[i][h * d + c] += s[j] / sum * qkv[j][2 * w + h * d + c];
          }
        }
      }
    }
    return linear(merged, p.value(prefix + ".out_proj.weight").toDoubleMatrix(),
        p.value(prefix + ".out_proj.bias").toDoubleVector());
  }

  /** One sequence [t, width] through a pre-norm residual attention block {@code prefix}, by loops. */
  static double[][] residualBlock(double[][] x, ParameterSet p, String prefix, int heads, boolean causal) {
    double[][] h = plus(x, attention(layerNorm(x, p, prefix + ".ln_1"), p, prefix + ".attn", heads, causal));
    double[][] hidden = linear(layerNorm(h, p, prefix + ".ln_2"), p.value(prefix + ".mlp.c_fc.weight").toDoubleMatrix(),
        p.value(prefix + ".mlp.c_fc.bias").toDoubleVector());
    for (double[] row : hidden) {
      for (int j = 0; j < row.length; j++) {
        row[j] = quickGelu(row[j]);
      }
    }
    return plus(h, linear(hidden, p.value(prefix + ".mlp.c_proj.weight").toDoubleMatrix(),
        p.value(prefix + ".mlp.c_proj.bias").toDoubleVector()));
  }

  /** Rows through the LayerNorm {@code prefix} of {@code p} (default epsilon), by loops. */
  static double[][] layerNorm(double[][] x, ParameterSet p, String prefix) {
    return layerNorm(x, p.value(prefix + ".weight").toDoubleVector(), p.value(prefix + ".bias").toDoubleVector(),
        LayerNorm.EPS_DEFAULT);
  }

  /** x [n, in] times m [in, out], by loops. */
  static double[][] times(double[][] x, double[][] m) {
    double[][] y = new double[x.length][m[0].length];
    for (int i = 0; i < x.length; i++) {
      for (int o = 0; o < m[0].length; o++) {
        for (int k = 0; k < m.length; k++) {
          y[i][o] += x[i][k] * m[k][o];
        }
      }
    }
    return y;
  }

  /** Rows of a [batch, seq, width] tensor's batch entry {@code b}. */
  static double[][] sequence(INDArray x, int b) {
    return x.slice(b).toDoubleMatrix();
  }

  /** Element-wise sum of two matrices. */
  static double[][] plus(double[][] a, double[][] b) {
    double[][] y = new double[a.length][a[0].length];
    for (int i = 0; i < a.length; i++) {
      for (int j = 0; j < a[0].length; j++) {
        y[i][j] = a[i][j] + b[i][j];
      }
    }
    return y;
  }

  /** Checks that every element of {@code actual[b]} is within {@code tolerance} of {@code expected}. */
  static void assertSequence(INDArray actual, int b, double[][] expected, double tolerance) {
    double[][] got = sequence(actual, b);
    for (int i = 0; i < expected.length; i++) {
      for (int j = 0; j < expected[0].length; j++) {
        org.assertj.core.api.Assertions.assertThat(got[i][j]).as("[%d][%d][%d]", b, i, j)
            .isCloseTo(expected[i][j], org.assertj.core.api.Assertions.within(tolerance));
      }
    }
  }

  /** A DOUBLE tensor. */
  static INDArray doubles(INDArray a) {
    return a.castTo(DataType.DOUBLE);
  }
}
