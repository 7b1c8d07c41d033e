package dev.clipspark.training.nn;

import static dev.clipspark.training.nn.NnFixtures.normal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.model.TextConfig;
import dev.clipspark.training.model.VisionConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

class ModifiedResNetTest {

  /** 64-pixel images, one bottleneck per stage, stem width 4: attention pooling over 2x2 maps of 128 in 4 heads. */
  private static final ModelConfig TINY = new ModelConfig("test-rn", 16,
      VisionConfig.resNet(64, List.of(1, 1, 1, 1), 4, 32), new TextConfig(8, 100, 16, 2, 1));

  /** The image tower's parameters and buffers only, as {@link ClipParameters#initialize} draws them. */
  static ParameterSet visual(ModelConfig config, long seed, DataType type) {
    var p = new ParameterSet();
    for (ParameterSpec spec : ClipParameters.specs(config)) {
      if (spec.name().startsWith("visual.")) {
        p.add(spec.name(), ClipParameters.allocate(spec, seed, type));
      }
    }
    for (ClipParameters.BufferSpec spec : ClipParameters.buffers(config)) {
      p.addBuffer(spec.name(), spec.allocate(type));
    }
    return p;
  }

  /** A tiny tower in double whose BatchNorm gains and biases are random (bn3 starts at zero otherwise). */
  private static ParameterSet tinyDoubles(long seed) {
    ParameterSet p = visual(TINY, seed, DataType.DOUBLE);
    var r = new Random(seed);
    for (String name : p.names()) {
      if (name.contains(".bn") || name.contains("downsample.1")) {
        INDArray v = p.value(name);
        v.assign(normal(r, name.endsWith("weight") ? 1 : 0, 0.3, v.shape()));
      }
    }
    return p;
  }

  /**
   * Central differences of the whole tower on a sample of elements: 12 image pixels and one element of
   * every parameter tensor. A step of 1e-6 can carry some ReLU input across 0 somewhere in the network;
   * the difference is then wrong by half the jump between the two one-sided slopes, so a mismatch is
   * excused only where that jump is at least the mismatch, and at most a few times.
   */
  @Test
  void gradientsMatchFiniteDifferencesOnSampledElements() {
    ParameterSet p = tinyDoubles(1);
    var tower = new ModifiedResNet(p, "visual", TINY.vision(), TINY.embedDim());
    INDArray images = normal(new Random(2), 0, 1, 2, 3, 64, 64);
    INDArray upstream = normal(new Random(3), 0, 1, 2, TINY.embedDim());
    INDArray y = tower.forward(images.dup());
    assertThat(y.shape()).containsExactly(2, TINY.embedDim());
    p.zeroGradients();
    INDArray dImages = tower.backward(upstream.dup()).dup();
    assertThat(dImages.shape()).containsExactly(2, 3, 64, 64);
    var r = new Random(4);
    var failures = new ArrayList<String>();
    var kinks = new ArrayList<String>();
    var check = new SampleCheck(tower, images, upstream, failures, kinks);
    int checked = check.run("images", images, dImages, 12, r);
    for (String name : p.names()) {
      checked += check.run(name, p.value(name), p.gradient(name).dup(), 1, r);
    }
    System.out.println("sampled gradient check ModifiedResNet: " + checked + " elements, excused at ReLU kinks: " + kinks);
    assertThat(failures).as("gradient mismatches").isEmpty();
    assertThat(checked).isEqualTo(12 + p.names().size());
    assertThat(kinks.size()).isLessThanOrEqualTo(checked / 20);
  }

  /** Central differences of sum(forward(images) * upstream) for randomly chosen elements. */
  private record SampleCheck(Layer layer, INDArray images, INDArray upstream, List<String> failures,
      List<String> kinks) {

    int run(String name, INDArray perturbed, INDArray analytic, int count, Random r) {
      double center = loss();
      INDArray flat = perturbed.reshape('c', new long[] {perturbed.length()});
      INDArray analyticFlat = analytic.reshape('c', new long[] {analytic.length()});
      double h = GradientCheck.STEP;
      for (int s = 0; s < count; s++) {
        long i = r.nextInt((int) flat.length());
        double original = flat.getDouble(i);
        flat.putScalar(i, original + h);
        double plus = loss();
        flat.putScalar(i, original - h);
        double minus = loss();
        flat.putScalar(i, original);
        double numeric = (plus - minus) / (2 * h);
        double a = analyticFlat.getDouble(i);
        double error = Math.abs(a - numeric);
        if (error > 1e-8 && error / Math.max(Math.abs(a), Math.abs(numeric)) > 1e-5) {
          double jump = Math.abs((plus - center) / h - (center - minus) / h);
          String what = String.format("%s[%d]: analytic %.12g, numeric %.12g, slope jump %.3g", name, i, a, numeric, jump);
          (jump >= error ? kinks : failures).add(what);
        }
      }
      return count;
    }

    private double loss() {
      return layer.forward(images.dup()).mul(upstream).sumNumber().doubleValue();
    }
  }

  @Test
  void setTrainingSwitchesEveryBatchNormToRunningStatistics() {
    ParameterSet p = tinyDoubles(5);
    var tower = new ModifiedResNet(p, "visual", TINY.vision(), TINY.embedDim());
    INDArray images = normal(new Random(6), 0, 1, 3, 3, 64, 64);
    INDArray firstTwo = images.get(NDArrayIndex.interval(0, 2)).dup();
    // Training mode: an image's embedding depends on its batch, and every BatchNorm counts the batch.
    INDArray trainAll = tower.forward(images).getRow(0).dup();
    INDArray trainTwo = tower.forward(firstTwo).getRow(0).dup();
    assertThat(trainAll.equalsWithEps(trainTwo, 1e-6)).isFalse();
    List<String> counters = p.bufferNames().stream().filter(n -> n.endsWith("num_batches_tracked")).toList();
    assertThat(counters).hasSize(3 + 4 * 4);
    counters.forEach(n -> assertThat(p.buffer(n).getLong(0)).as(n).isEqualTo(2));
    INDArray runningMean = p.buffer("visual.layer4.0.bn2.running_mean").dup();
    // Evaluation mode: each image alone, and the running statistics stay.
    tower.setTraining(false);
    INDArray evalAll = tower.forward(images).getRow(0).dup();
    INDArray evalTwo = tower.forward(firstTwo).getRow(0).dup();
    assertThat(evalAll.equalsWithEps(evalTwo, 1e-12)).isTrue();
    counters.forEach(n -> assertThat(p.buffer(n).getLong(0)).as(n).isEqualTo(2));
    assertThat(p.buffer("visual.layer4.0.bn2.running_mean")).isEqualTo(runningMean);
    tower.setTraining(true);
    tower.forward(firstTwo);
    assertThat(p.buffer("visual.bn1.num_batches_tracked").getLong(0)).isEqualTo(3);
  }

  @Test
  void rn50HasOpenAisStageShapes() {
    ModelConfig config = ModelConfigs.load("RN50");
    ParameterSet p = visual(config, 7, DataType.FLOAT);
    var tower = new ModifiedResNet(p, "visual", config.vision(), config.embedDim());
    assertThat(tower.blocks()).hasSize(3 + 4 + 6 + 3);
    assertThat(tower.blocks()).filteredOn(Bottleneck::downsamples).hasSize(4);
    INDArray x = normal(new Random(8), 0, 1, 1, 3, 224, 224).castTo(DataType.FLOAT);
    for (Layer layer : tower.stem()) {
      x = layer.forward(x);
    }
    assertThat(x.shape()).containsExactly(1, 64, 56, 56);
    long[][] stageShapes = {{1, 256, 56, 56}, {1, 512, 28, 28}, {1, 1024, 14, 14}, {1, 2048, 7, 7}};
    int[] stageEnds = {3, 7, 13, 16};
    int stage = 0;
    for (int i = 0; i < tower.blocks().size(); i++) {
      x = tower.blocks().get(i).forward(x);
      if (i + 1 == stageEnds[stage]) {
        assertThat(x.shape()).as("layer%d", stage + 1).containsExactly(stageShapes[stage]);
        stage++;
      }
    }
    INDArray y = tower.attnpool().forward(x);
    assertThat(y.shape()).containsExactly(1, 1024);
    assertThat(y.dataType()).isEqualTo(DataType.FLOAT);
    // The grid (LiMBeR's grid features): the last stage's map, one 2048-channel token per cell, row-major.
    tower.setTraining(false);
    INDArray images = normal(new Random(9), 0, 1, 1, 3, 224, 224).castTo(DataType.FLOAT);
    INDArray grid = tower.forwardGrid(images);
    assertThat(grid.shape()).containsExactly(1, 49, 2048);
    assertThat(tower.gridPositions()).isEqualTo(49);
    assertThat(tower.gridWidth()).isEqualTo(2048);
    INDArray map = images;
    for (Layer layer : tower.stem()) {
      map = layer.forward(map);
    }
    for (Bottleneck block : tower.blocks()) {
      map = block.forward(map);
    }
    for (int cell : new int[] {0, 8, 48}) {
      for (int c : new int[] {0, 1000, 2047}) {
        assertThat(grid.getDouble(0, cell, c)).as("cell %d channel %d", cell, c)
            .isEqualTo(map.getDouble(0, c, cell / 7, cell % 7));
      }
    }
    assertThat(tower.forward(images)).isEqualTo(tower.attnpool().forward(map));
  }

  @Test
  void rejectsAVitConfigAndWrongImages() {
    ParameterSet p = visual(TINY, 9, DataType.DOUBLE);
    assertThatThrownBy(() -> new ModifiedResNet(p, "visual", VisionConfig.vit(32, 2, 64, 8, 32), 16))
        .hasMessage("Cannot build a modified ResNet from vision.layers [2]: needs a list of 4 block counts");
    assertThatThrownBy(() -> new ModifiedResNet(p, "visual", VisionConfig.resNet(64, List.of(1, 1, 1, 1), 16, 64), 16))
        .hasMessage("Cannot use parameter visual.conv1.weight of shape [2, 3, 3, 3]: expected [8, 3, 3, 3]");
    var tower = new ModifiedResNet(p, "visual", TINY.vision(), TINY.embedDim());
    assertThatThrownBy(() -> tower.forward(normal(new Random(1), 0, 1, 1, 3, 32, 32)))
        .hasMessage("Cannot apply the modified ResNet to images of shape [1, 3, 32, 32]: expected [batch, 3, 64, 64]");
  }
}
