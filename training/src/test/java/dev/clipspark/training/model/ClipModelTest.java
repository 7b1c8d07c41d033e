package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.training.nn.ParameterSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class ClipModelTest {

  private static final TextConfig TEXT = new TextConfig(6, 20, 16, 2, 2);
  private static final ModelConfig TINY = new ModelConfig("tiny-test", 8, VisionConfig.vit(8, 2, 16, 4, 8), TEXT);
  /** Four captions: end-of-text id 19 at different positions, ids 3, 7 and 0 (padding) repeated. */
  private static final long[][] TOKENS = {
      {1, 7, 19, 0, 0, 0},
      {1, 3, 3, 7, 19, 0},
      {1, 7, 7, 3, 7, 19},
      {1, 19, 0, 0, 0, 0}};
  /** Elements checked per tensor, beyond the ones every check includes. */
  private static final int SAMPLES = 6;

  /** A tiny model in double with every tensor jittered, so that no gain is exactly 1 nor any bias 0. */
  private static ClipModel tinyModel(long seed) {
    return tinyModel(TINY, seed);
  }

  private static ClipModel tinyModel(ModelConfig config, long seed) {
    ParameterSet params = ClipParameters.initialize(config, seed, DataType.DOUBLE);
    var r = new Random(seed);
    for (String name : params.names()) {
      INDArray v = params.value(name);
      if (v.rank() > 0) {
        v.addi(normal(r, 0.1, v.shape()));
      }
    }
    return ClipModel.create(config, params);
  }

  @Test
  void everyGradientOfAStepMatchesFiniteDifferencesOfTheLoss() {
    ClipModel model = tinyModel(TINY, 1);
    List<String> failures = finiteDifferenceMismatches(model, normal(new Random(2), 1, 4, 3, 8, 8), new Random(2));
    assertThat(failures).as("gradient mismatches").isEmpty();
  }

  @Test
  void theResNetModelsGradientsMatchFiniteDifferencesToo() {
    // Stem, one bottleneck per stage, BatchNorm in training mode over the batch of 4, attention pooling.
    var resNet = new ModelConfig("tiny-rn-test", 8, VisionConfig.resNet(32, List.of(1, 1, 1, 1), 8, 64), TEXT);
    ClipModel model = tinyModel(resNet, 11);
    model.setTraining(true);
    List<String> failures = finiteDifferenceMismatches(model, normal(new Random(12), 1, 4, 3, 32, 32), new Random(13));
    // A step of 1e-6 can move a ReLU input across 0, where the loss has a kink and the central difference is
    // off; such crossings are rare, a wrong gradient fails everywhere.
    int checked = ClipParameters.specs(resNet).size() * SAMPLES;
    assertThat(failures.size()).as("gradient mismatches: %s", failures).isLessThanOrEqualTo(checked / 50);
    assertThat(failures).noneMatch(f -> f.startsWith("logit_scale") || f.startsWith("visual.attnpool"));
  }

  /** Central differences of the loss for sampled elements of every tensor; the mismatching ones. */
  private static List<String> finiteDifferenceMismatches(ClipModel model, INDArray images, Random r) {
    ParameterSet params = model.parameters();
    INDArray tokens = Nd4j.createFromArray(TOKENS);
    params.zeroGradients();
    model.forwardBackward(images, tokens);
    var failures = new ArrayList<String>();
    int tensors = 0;
    double h = 1e-6;
    for (String name : params.names()) {
      INDArray flat = params.value(name).reshape('c', new long[] {params.value(name).length()});
      INDArray analytic = params.gradient(name).dup().reshape('c', new long[] {flat.length()});
      for (long i : elements(name, flat.length(), r)) {
        double original = flat.getDouble(i);
        flat.putScalar(i, original + h);
        double plus = loss(model, images, tokens);
        flat.putScalar(i, original - h);
        double minus = loss(model, images, tokens);
        flat.putScalar(i, original);
        double numeric = (plus - minus) / (2 * h);
        double a = analytic.getDouble(i);
        if (Math.abs(a - numeric) > 1e-8 + 1e-6 * Math.abs(numeric)) {
          failures.add(String.format("%s[%d]: analytic %.12g, numeric %.12g", name, i, a, numeric));
        }
      }
      tensors++;
    }
    assertThat(tensors).isEqualTo(ClipParameters.specs(model.config()).size());
    return failures;
  }

  @Test
  void everyTensorReceivesAGradientAndStepsAccumulate() {
    ClipModel model = tinyModel(3);
    ParameterSet params = model.parameters();
    INDArray images = normal(new Random(4), 1, 4, 3, 8, 8);
    INDArray tokens = Nd4j.createFromArray(TOKENS);
    params.zeroGradients();
    ClipModel.Step step = model.forwardBackward(images, tokens);
    var once = new ArrayList<INDArray>();
    for (String name : params.names()) {
      assertThat(params.gradient(name).norm2Number().doubleValue()).as(name).isGreaterThan(0);
      once.add(params.gradient(name).dup());
    }
    ClipModel.Step again = model.forwardBackward(images, tokens);
    assertThat(again).isEqualTo(step);
    List<String> names = params.names();
    for (int k = 0; k < names.size(); k++) {
      INDArray twice = params.gradient(names.get(k));
      assertThat(twice.sub(once.get(k).mul(2)).amaxNumber().doubleValue()).as(names.get(k)).isLessThan(1e-12);
    }
    // The step's numbers are the loss of the two encodings.
    var direct = ContrastiveLoss.compute(model.encodeImage(images), model.encodeText(tokens), model.logitScale());
    assertThat(step.loss()).isEqualTo(direct.loss());
    assertThat(step.imageToTextAccuracy()).isEqualTo(direct.imageToTextAccuracy());
  }

  @Test
  void encodersReturnUnnormalisedFeaturesOfTheJointWidth() {
    ClipModel model = tinyModel(5);
    INDArray image = model.encodeImage(normal(new Random(6), 1, 2, 3, 8, 8));
    INDArray text = model.encodeText(Nd4j.createFromArray(TOKENS));
    assertThat(image.shape()).containsExactly(2, 8);
    assertThat(text.shape()).containsExactly(4, 8);
    assertThat(image.norm2(1).sub(1).amaxNumber().doubleValue()).isGreaterThan(1e-3);
    assertThat(model.config()).isEqualTo(TINY);
  }

  @Test
  void logitScaleIsStoredAsALogAndClampedToLn100() {
    ClipModel model = ClipModel.create(TINY, ClipParameters.initialize(TINY, 7, DataType.FLOAT));
    assertThat(model.logitScale()).isCloseTo(Math.log(1 / 0.07), within(1e-6));
    INDArray stored = model.parameters().value("logit_scale");
    stored.assign(5.0);
    model.clampLogitScale();
    assertThat(model.logitScale()).isCloseTo(Math.log(100), within(1e-6));
    stored.assign(-0.5);
    model.clampLogitScale();
    assertThat(model.logitScale()).isEqualTo(0.0);
    stored.assign(2.0);
    model.clampLogitScale();
    assertThat(model.logitScale()).isEqualTo(2.0);
  }

  @Test
  void rejectsUnpairedBatches() {
    ClipModel model = tinyModel(8);
    assertThatThrownBy(() -> model.forwardBackward(normal(new Random(9), 1, 3, 3, 8, 8), Nd4j.createFromArray(TOKENS)))
        .hasMessage("Cannot train on 3 images and 4 texts: every image needs exactly one text");
  }

  private static double loss(ClipModel model, INDArray images, INDArray tokens) {
    return ContrastiveLoss.compute(model.encodeImage(images), model.encodeText(tokens), model.logitScale()).loss();
  }

  /**
   * The elements of one tensor to check: all of the class embedding, the rows of every id that occurs in
   * the token embedding (each once), and a few random others everywhere.
   */
  private static TreeSet<Long> elements(String name, long length, Random r) {
    var chosen = new TreeSet<Long>();
    if (name.equals("visual.class_embedding") || length <= SAMPLES) {
      for (long i = 0; i < length; i++) {
        chosen.add(i);
      }
      return chosen;
    }
    if (name.equals("token_embedding.weight")) {
      long width = TEXT.width();
      for (long id : new long[] {0, 1, 3, 7, 19}) {
        chosen.add(id * width + r.nextInt((int) width));
      }
    }
    while (chosen.size() < SAMPLES + (name.equals("token_embedding.weight") ? 5 : 0)) {
      chosen.add((long) r.nextInt((int) length));
    }
    return chosen;
  }

  private static INDArray normal(Random r, double std, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = std * r.nextGaussian();
    }
    return Nd4j.createFromArray(v).reshape('c', shape);
  }
}
