package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

class BottleneckTest {

  /** Adds the tensors of a bottleneck (with a downsample branch when OpenAI's block has one). */
  static void bottleneck(ParameterSet p, Random r, String prefix, long inplanes, long planes, int stride) {
    long out = planes * Bottleneck.EXPANSION;
    p.add(prefix + ".conv1.weight", normal(r, 0, 1 / Math.sqrt(inplanes), planes, inplanes, 1, 1));
    BatchNorm2dTest.batchNorm(p, r, prefix + ".bn1", planes);
    p.add(prefix + ".conv2.weight", normal(r, 0, 1 / Math.sqrt(9 * planes), planes, planes, 3, 3));
    BatchNorm2dTest.batchNorm(p, r, prefix + ".bn2", planes);
    p.add(prefix + ".conv3.weight", normal(r, 0, 1 / Math.sqrt(planes), out, planes, 1, 1));
    BatchNorm2dTest.batchNorm(p, r, prefix + ".bn3", out);
    if (stride > 1 || inplanes != out) {
      p.add(prefix + ".downsample.0.weight", normal(r, 0, 1 / Math.sqrt(inplanes), out, inplanes, 1, 1));
      BatchNorm2dTest.batchNorm(p, r, prefix + ".downsample.1", out);
    }
  }

  /** OpenAI's Bottleneck.forward, step by step with the separately tested layers. */
  private static INDArray reference(ParameterSet p, String q, INDArray x, int stride, boolean training) {
    INDArray out = Transforms.relu(bn(p, q + ".bn1", training).forward(Conv2d.of(p, q + ".conv1", 1, 0).forward(x)));
    out = Transforms.relu(bn(p, q + ".bn2", training).forward(Conv2d.of(p, q + ".conv2", 1, 1).forward(out)));
    if (stride > 1) {
      out = new AvgPool2d(stride).forward(out);
    }
    out = bn(p, q + ".bn3", training).forward(Conv2d.of(p, q + ".conv3", 1, 0).forward(out));
    INDArray identity = x;
    if (p.contains(q + ".downsample.0.weight")) {
      INDArray pooled = stride > 1 ? new AvgPool2d(stride).forward(x) : x;
      identity = bn(p, q + ".downsample.1", training).forward(Conv2d.of(p, q + ".downsample.0", 1, 0).forward(pooled));
    }
    return Transforms.relu(out.add(identity));
  }

  private static BatchNorm2d bn(ParameterSet p, String prefix, boolean training) {
    var bn = new BatchNorm2d(p, prefix);
    bn.setTraining(training);
    return bn;
  }

  @ParameterizedTest
  @CsvSource({"4, 2, 2, true", "8, 2, 1, false", "4, 2, 1, true"})
  void forwardFollowsOpenAisBlock(long inplanes, long planes, int stride, boolean downsamples) {
    var r = new Random(1);
    var p = new ParameterSet();
    bottleneck(p, r, "b", inplanes, planes, stride);
    var block = new Bottleneck(p, "b", inplanes, planes, stride);
    assertThat(block.downsamples()).isEqualTo(downsamples);
    INDArray x = normal(r, 0, 1, 2, inplanes, 6, 6);
    for (boolean training : new boolean[] {true, false}) {
      block.setTraining(training);
      INDArray y = block.forward(x);
      assertThat(y.shape()).containsExactly(2, planes * 4, 6 / stride, 6 / stride);
      assertThat(y.equalsWithEps(reference(p, "b", x, stride, training), 1e-12)).as("training %s", training).isTrue();
    }
  }

  @ParameterizedTest
  @CsvSource({"4, 2, 2, true", "8, 2, 1, true", "4, 2, 1, true", "4, 2, 2, false"})
  void gradientsMatchFiniteDifferences(long inplanes, long planes, int stride, boolean training) {
    var r = new Random(2 + stride);
    var p = new ParameterSet();
    bottleneck(p, r, "b", inplanes, planes, stride);
    var block = new Bottleneck(p, "b", inplanes, planes, stride);
    block.setTraining(training);
    var result = GradientCheck.check(block, p, normal(r, 0, 1, 2, inplanes, 4, 4), 3, 1e-5, 1e-8);
    assertThat(result.checked()).isEqualTo(2 * inplanes * 16 + p.elementCount());
  }

  @Test
  void rejectsMissingOrMisshapenTensors() {
    var p = new ParameterSet();
    bottleneck(p, new Random(3), "b", 8, 2, 1);
    assertThatThrownBy(() -> new Bottleneck(p, "b", 4, 2, 1))
        .hasMessage("Cannot use parameter b.conv1.weight of shape [2, 8, 1, 1]: expected [2, 4, 1, 1]");
    assertThatThrownBy(() -> new Bottleneck(p, "b", 8, 2, 2))
        .hasMessageStartingWith("Cannot find parameter b.downsample.0.weight");
    assertThatThrownBy(() -> new Bottleneck(p, "b", 8, 2, 0))
        .hasMessage("Cannot build bottleneck b with stride 0: must be at least 1");
  }
}
