package dev.clipspark.training.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.nn.ParameterSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class AdamWTest {

  private static final double LR = 0.1;
  private static final double WD = 0.2;

  @Test
  void firstTwoStepsMatchNumbersWorkedByHand() {
    var p = new ParameterSet().add("w", Nd4j.scalar(1.0)).add("b", Nd4j.scalar(1.0));
    var adam = new AdamW(p, Set.of("w"), 0.9, 0.98, 1e-6, WD);

    p.gradient("w").assign(0.5);
    p.gradient("b").assign(0.5);
    adam.step(LR);
    // m = 0.05, v = 0.005; bias-corrected mhat = 0.5, vhat = 0.25: p -= 0.1 * 0.5 / (0.5 + 1e-6).
    assertThat(p.value("w").getDouble()).isCloseTo(1 * (1 - 0.1 * 0.2) - 0.0999998000004, within(1e-15));
    assertThat(p.value("b").getDouble()).isCloseTo(1 - 0.0999998000004, within(1e-15));
    assertThat(adam.firstMoment("w").getDouble()).isCloseTo(0.05, within(1e-16));
    assertThat(adam.secondMoment("w").getDouble()).isCloseTo(0.005, within(1e-16));

    p.gradient("w").assign(-1.0);
    p.gradient("b").assign(-1.0);
    adam.step(LR);
    // m = 0.9 * 0.05 - 0.1 = -0.055; v = 0.98 * 0.005 + 0.02 = 0.0249;
    // bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.98^2 = 0.0396.
    assertThat(adam.firstMoment("b").getDouble()).isCloseTo(-0.055, within(1e-16));
    assertThat(adam.secondMoment("b").getDouble()).isCloseTo(0.0249, within(1e-16));
    double update = 0.1 / 0.19 * -0.055 / (Math.sqrt(0.0249) / Math.sqrt(0.0396) + 1e-6);
    assertThat(update).isCloseTo(-0.0365053453, within(1e-10));
    double w1 = 1 * (1 - 0.02) - 0.0999998000004;
    assertThat(p.value("w").getDouble()).isCloseTo(w1 * 0.98 - update, within(1e-14));
    assertThat(p.value("b").getDouble()).isCloseTo(1 - 0.0999998000004 - update, within(1e-14));
    assertThat(adam.stepCount()).isEqualTo(2);
  }

  @Test
  void severalStepsMatchAPlainPyTorchAdamWReference() {
    var r = new Random(7);
    var p = new ParameterSet()
        .add("weight", Nd4j.createFromArray(randoms(r, 12)).reshape('c', 3, 4))
        .add("bias", Nd4j.createFromArray(randoms(r, 4)))
        .add("scale", Nd4j.scalar(2.5));
    double beta1 = 0.8;
    double beta2 = 0.95;
    double eps = 1e-3;
    var adam = new AdamW(p, Set.of("weight"), beta1, beta2, eps, WD);
    Map<String, Reference> ref = new LinkedHashMap<>();
    for (String name : p.names()) {
      ref.put(name, new Reference(p.value(name).dup().data().asDouble(), beta1, beta2, eps, name.equals("weight") ? WD : 0));
    }
    double[] lrs = {0.01, 0.05, 0.0, 0.03, 0.02, 0.1};
    for (double lr : lrs) {
      for (String name : p.names()) {
        double[] g = randoms(r, (int) p.value(name).length());
        p.gradient(name).assign(Nd4j.createFromArray(g).reshape('c', p.value(name).shape()));
        ref.get(name).step(g, lr);
      }
      adam.step(lr);
      for (String name : p.names()) {
        assertClose(p.value(name), ref.get(name).p, 1e-14);
        assertClose(adam.firstMoment(name), ref.get(name).m, 1e-15);
        assertClose(adam.secondMoment(name), ref.get(name).v, 1e-15);
      }
    }
    assertThat(adam.stepCount()).isEqualTo(lrs.length);
    // The reference really moved the parameters, differently for the decayed one.
    assertThat(ref.get("scale").p[0]).isNotCloseTo(2.5, within(0.01));
  }

  @Test
  void floatParametersTrackTheDoubleReference() {
    var r = new Random(8);
    double[] init = randoms(r, 64);
    var p = new ParameterSet().add("w", Nd4j.createFromArray(init).castTo(DataType.FLOAT).reshape('c', 8, 8));
    var adam = new AdamW(p, Set.of("w"));
    var ref = new Reference(p.value("w").castTo(DataType.DOUBLE).data().asDouble(), 0.9, 0.98, 1e-6, 0.2);
    for (int step = 0; step < 5; step++) {
      double[] g = randoms(r, 64);
      INDArray gf = Nd4j.createFromArray(g).castTo(DataType.FLOAT);
      p.gradient("w").assign(gf.reshape('c', 8, 8));
      ref.step(gf.castTo(DataType.DOUBLE).data().asDouble(), 1e-2);
      adam.step(1e-2);
    }
    assertClose(p.value("w"), ref.p, 1e-5);
    assertThat(p.value("w").dataType()).isEqualTo(DataType.FLOAT);
    assertThat(adam.firstMoment("w").dataType()).isEqualTo(DataType.FLOAT);
  }

  @Test
  void updatesViewsIntoFlatBuffersWithoutTouchingTheirNeighbours() {
    INDArray flatValues = Nd4j.linspace(1, 20, 20, DataType.DOUBLE);
    INDArray flatGrads = Nd4j.linspace(-1, 1, 20, DataType.DOUBLE);
    INDArray before = flatValues.dup();
    var views = new ParameterSet().add("a", flatValues.get(NDArrayIndex.interval(2, 8)).reshape('c', 2, 3));
    views.gradient("a").assign(flatGrads.get(NDArrayIndex.interval(2, 8)).reshape('c', 2, 3));
    var copy = new ParameterSet().add("a", before.get(NDArrayIndex.interval(2, 8)).dup('c').reshape('c', 2, 3));
    copy.gradient("a").assign(views.gradient("a"));
    new AdamW(views, Set.of("a"), 0.9, 0.98, 1e-6, WD).step(LR);
    new AdamW(copy, Set.of("a"), 0.9, 0.98, 1e-6, WD).step(LR);

    assertThat(views.value("a").toDoubleMatrix()).isDeepEqualTo(copy.value("a").toDoubleMatrix());
    assertThat(views.value("a").getDouble(0, 0)).isNotEqualTo(before.getDouble(2));
    for (int i : new int[] {0, 1, 8, 19}) {
      assertThat(flatValues.getDouble(i)).isEqualTo(before.getDouble(i));
    }
  }

  @Test
  void learningRateZeroStillUpdatesTheMoments() {
    var p = new ParameterSet().add("w", Nd4j.createFromArray(1.0, 2.0));
    p.gradient("w").assign(Nd4j.createFromArray(0.5, -0.5));
    var adam = new AdamW(p, Set.of("w"));
    adam.step(0);
    assertThat(p.value("w").toDoubleVector()).containsExactly(1.0, 2.0);
    assertThat(adam.firstMoment("w").getDouble(0)).isCloseTo(0.05, within(1e-16));
    assertThat(adam.secondMoment("w").getDouble(1)).isCloseTo(0.005, within(1e-16));
    assertThat(adam.stepCount()).isEqualTo(1);
  }

  @Test
  void restoredStateContinuesExactlyLikeTheOriginal() {
    var r = new Random(9);
    double[] init = randoms(r, 6);
    var original = new ParameterSet().add("w", Nd4j.createFromArray(init).reshape('c', 2, 3));
    var adam = new AdamW(original, Set.of("w"));
    for (int i = 0; i < 3; i++) {
      original.gradient("w").assign(Nd4j.createFromArray(randoms(r, 6)).reshape('c', 2, 3));
      adam.step(0.01);
    }
    var resumed = new ParameterSet().add("w", original.value("w").dup());
    var adam2 = new AdamW(resumed, Set.of("w"));
    adam2.restore(adam.stepCount(), Map.of("w", adam.firstMoment("w").dup()), Map.of("w", adam.secondMoment("w").dup()));

    INDArray g = Nd4j.createFromArray(randoms(r, 6)).reshape('c', 2, 3);
    original.gradient("w").assign(g);
    resumed.gradient("w").assign(g);
    adam.step(0.01);
    adam2.step(0.01);
    assertThat(adam2.stepCount()).isEqualTo(4);
    assertThat(resumed.value("w").toDoubleMatrix()).isDeepEqualTo(original.value("w").toDoubleMatrix());
  }

  @Test
  void restoreRejectsMissingExtraAndMisshapenMoments() {
    var p = new ParameterSet().add("w", Nd4j.zeros(DataType.DOUBLE, 2, 3));
    var adam = new AdamW(p, Set.of());
    INDArray ok = Nd4j.zeros(DataType.DOUBLE, 2, 3);
    assertThatThrownBy(() -> adam.restore(1, Map.of(), Map.of("w", ok)))
        .hasMessage("Cannot restore AdamW: the first moments lack 1 of the 1 parameters, e.g. w");
    assertThatThrownBy(() -> adam.restore(1, Map.of("w", ok, "x", ok), Map.of("w", ok)))
        .hasMessage("Cannot restore the first moment of x: not among the 1 parameters of the set");
    assertThatThrownBy(() -> adam.restore(1, Map.of("w", ok), Map.of("w", Nd4j.zeros(DataType.DOUBLE, 3, 2))))
        .hasMessage("Cannot restore the second moment of w: its shape is [3, 2] but the parameter's is [2, 3]");
    assertThatThrownBy(() -> adam.restore(-1, Map.of("w", ok), Map.of("w", ok)))
        .hasMessage("Cannot restore AdamW at step count -1: must be at least 0");
    assertThat(adam.stepCount()).isZero();
  }

  @Test
  void rejectsBadHyperParametersAndArrays() {
    var p = new ParameterSet().add("w", Nd4j.zeros(DataType.DOUBLE, 2, 3));
    assertThatThrownBy(() -> new AdamW(p, Set.of(), 1.0, 0.98, 1e-6, 0.2))
        .hasMessage("Cannot set AdamW beta1 to 1.0: must be in [0, 1)");
    assertThatThrownBy(() -> new AdamW(p, Set.of(), 0.9, Double.NaN, 1e-6, 0.2))
        .hasMessage("Cannot set AdamW beta2 to NaN: must be in [0, 1)");
    assertThatThrownBy(() -> new AdamW(p, Set.of(), 0.9, 0.98, -1, 0.2))
        .hasMessage("Cannot set AdamW eps to -1.0: must be finite and at least 0");
    assertThatThrownBy(() -> new AdamW(p, Set.of("v"), 0.9, 0.98, 1e-6, 0.2))
        .hasMessage("Cannot decay parameter v: not among the 1 parameters of the set");
    assertThatThrownBy(() -> new AdamW(p, Set.of()).step(-0.1))
        .hasMessage("Cannot take an AdamW step with learning rate -0.1: must be finite and at least 0");
    var transposed = new ParameterSet().add("t", Nd4j.zeros(DataType.DOUBLE, 3, 4).transpose());
    assertThatThrownBy(() -> new AdamW(transposed, Set.of()))
        .hasMessageStartingWith("Cannot optimise parameter t: its array is not C-contiguous");
    var ints = new ParameterSet().add("i", Nd4j.zeros(DataType.INT, 3));
    assertThatThrownBy(() -> new AdamW(ints, Set.of()))
        .hasMessage("Cannot optimise parameter i of type INT: only FLOAT and DOUBLE are supported");
  }

  @Test
  void decaysOnlyWeightMatricesOfAClipModel() {
    var specs = ClipParameters.specs(ModelConfigs.load("tiny-vit"));
    Set<String> decayed = AdamW.decayedNames(specs);
    assertThat(decayed).contains("visual.proj", "text_projection", "visual.conv1.weight",
        "transformer.resblocks.0.attn.in_proj_weight", "visual.transformer.resblocks.1.mlp.c_fc.weight");
    assertThat(decayed).doesNotContain("logit_scale", "token_embedding.weight", "positional_embedding",
        "visual.class_embedding", "ln_final.weight", "ln_final.bias", "transformer.resblocks.0.attn.in_proj_bias");
    assertThat(decayed).hasSize((int) specs.stream().filter(s -> s.weightDecay()).count());
  }

  private static double[] randoms(Random r, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = r.nextGaussian();
    }
    return v;
  }

  private static void assertClose(INDArray actual, double[] expected, double tolerance) {
    double[] a = actual.castTo(DataType.DOUBLE).data().asDouble();
    assertThat(a).hasSize(expected.length);
    for (int i = 0; i < a.length; i++) {
      assertThat(a[i]).as("element %d", i).isCloseTo(expected[i], within(tolerance * Math.max(1, Math.abs(expected[i]))));
    }
  }

  /** PyTorch's AdamW for one tensor, transcribed in doubles from {@code torch/optim/adamw.py}. */
  private static final class Reference {
    final double[] p;
    final double[] m;
    final double[] v;
    final double beta1;
    final double beta2;
    final double eps;
    final double weightDecay;
    int t;

    Reference(double[] p, double beta1, double beta2, double eps, double weightDecay) {
      this.p = p.clone();
      this.m = new double[p.length];
      this.v = new double[p.length];
      this.beta1 = beta1;
      this.beta2 = beta2;
      this.eps = eps;
      this.weightDecay = weightDecay;
    }

    void step(double[] g, double lr) {
      t++;
      double bias1 = 1 - Math.pow(beta1, t);
      double bias2 = 1 - Math.pow(beta2, t);
      for (int i = 0; i < p.length; i++) {
        p[i] *= 1 - lr * weightDecay;
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        double mHat = m[i] / bias1;
        double vHat = v[i] / bias2;
        p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
      }
    }
  }
}
