package dev.clipspark.training.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.clipspark.dataset.image.ResampleWeights;
import dev.clipspark.training.data.ImagePreprocessor.Resample;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * The bicubic evaluation transform against PIL: {@code src/test/resources/bicubic} holds windows of three
 * photographs and what OpenAI's {@code preprocess} (torchvision's Resize + CenterCrop on PIL) makes of them at
 * several sizes, written by {@code tools/reference/pil_preprocess.py make-fixture}. With the environment variable
 * {@code CLIPSPARK_BICUBIC_CASES=DIR} (a directory written by the script's {@code measure}) it also measures
 * other images and prints the differences (docs/evaluation.md quotes them).
 */
class ImagePreprocessorBicubicTest {

  private static final double[] MEAN = {0.48145466, 0.4578275, 0.40821073};
  private static final double[] STD = {0.26862954, 0.26130258, 0.27577711};
  /**
   * The largest difference allowed, in 8-bit units: PIL sums in 22-bit fixed point, this class in float, so a
   * sum within float rounding of a half rounds the other way now and then; nothing else may differ.
   */
  static final double MAX_ABS_BOUND = 1.0;

  record Case(String input, int size, String expected) {}

  record Difference(double maxAbs, double meanAbs, long pixels, long differing) {}

  @Test
  void pilBicubicWeightsMatchAHandComputation() {
    // 4 pixels to 2: scale 2, support 4, output 0 centred at 1.0 reads pixels 0..3 at kernel positions
    // (j - 1 + 0.5) / 2 = -0.25, 0.25, 0.75, 1.25: 0.8671875, 0.8671875, 0.2265625, -0.0703125 over their sum.
    ResampleWeights w = ResampleWeights.bicubic(4, 2, 0, 2);
    double sum = 0.8671875 * 2 + 0.2265625 - 0.0703125;
    assertThat(w.first()[0]).isZero();
    assertThat(w.count()[0]).isEqualTo(4);
    assertThat(w.weights()[0]).isCloseTo(0.8671875 / sum, within(1e-15));
    assertThat(w.weights()[1]).isCloseTo(0.8671875 / sum, within(1e-15));
    assertThat(w.weights()[2]).isCloseTo(0.2265625 / sum, within(1e-15));
    assertThat(w.weights()[3]).isCloseTo(-0.0703125 / sum, within(1e-15));
    // output 1 is the mirror image: pixels 0..3 at 1.75, 1.25, 0.75, 0.25
    assertThat(w.weights()[w.taps()]).isCloseTo(-0.0703125 / sum, within(1e-15));
    assertThat(w.weights()[w.taps() + 3]).isCloseTo(0.8671875 / sum, within(1e-15));
    // a sub-range is the same weights as the whole: the crop computes only what it keeps
    ResampleWeights part = ResampleWeights.bicubic(4, 2, 1, 1);
    assertThat(part.first()[0]).isEqualTo(w.first()[1]);
    assertThat(part.weights()[0]).isEqualTo(w.weights()[w.taps()]);
  }

  @Test
  void bicubicMatchesPilOnPhotographs() throws IOException {
    List<Case> cases = cases(null);
    assertThat(cases).hasSize(7);
    for (Case c : cases) {
      Difference bicubic = difference(null, c, Resample.BICUBIC);
      assertThat(bicubic.maxAbs()).as("%s at %d: max abs difference to PIL", c.input(), c.size())
          .isLessThanOrEqualTo(MAX_ABS_BOUND + 1e-3);
      assertThat(bicubic.meanAbs()).as("%s at %d: mean abs difference to PIL", c.input(), c.size())
          .isLessThan(0.01);
    }
  }

  @Test
  void areaResamplingIsNotWhatPilComputes() throws IOException {
    // the bound above is tight enough to tell the two transforms apart
    double worst = 0;
    for (Case c : cases(null)) {
      worst = Math.max(worst, difference(null, c, Resample.AREA).maxAbs());
    }
    assertThat(worst).isGreaterThan(4 * MAX_ABS_BOUND);
  }

  @Test
  void measuresOtherImagesWhenAsked() throws IOException {
    String dir = System.getenv("CLIPSPARK_BICUBIC_CASES");
    if (dir == null) {
      return;
    }
    Path root = Path.of(dir);
    for (Resample r : Resample.values()) {
      double max = 0;
      double sum = 0;
      long n = 0;
      long differing = 0;
      for (Case c : cases(root)) {
        Difference d = difference(root, c, r);
        System.out.printf(Locale.ROOT, "%s %s at %d: mean abs %.4f, max abs %.1f, %d values off by more than 0.5"
            + " (0..255 units)%n", r, c.input(), c.size(), d.meanAbs(), d.maxAbs(), d.differing());
        max = Math.max(max, d.maxAbs());
        sum += d.meanAbs() * d.pixels();
        n += d.pixels();
        differing += d.differing();
      }
      System.out.printf(Locale.ROOT, "%s overall: mean abs %.5f, max abs %.1f, %d of %d values off by more than"
          + " 0.5%n", r, sum / n, max, differing, n);
    }
  }

  private static List<Case> cases(Path root) throws IOException {
    var out = new ArrayList<Case>();
    for (String line : new String(read(root, "cases.tsv"), StandardCharsets.UTF_8).split("\n")) {
      if (!line.isBlank()) {
        String[] f = line.split("\t");
        out.add(new Case(f[0], Integer.parseInt(f[1]), f[2]));
      }
    }
    return out;
  }

  private static byte[] read(Path root, String name) throws IOException {
    if (root != null) {
      return Files.readAllBytes(root.resolve(name));
    }
    try (InputStream in = ImagePreprocessorBicubicTest.class.getResourceAsStream("/bicubic/" + name)) {
      assertThat(in).as("test resource bicubic/%s", name).isNotNull();
      return in.readAllBytes();
    }
  }

  /** The transform's output turned back into 8-bit units, against PIL's 8-bit image. */
  private static Difference difference(Path root, Case c, Resample resample) throws IOException {
    float[] out = ImagePreprocessor.eval(c.size(), resample).apply(read(root, c.input()), null);
    BufferedImage expected = ImageIO.read(new java.io.ByteArrayInputStream(read(root, c.expected())));
    int s = c.size();
    assertThat(expected.getWidth()).isEqualTo(s);
    assertThat(expected.getHeight()).isEqualTo(s);
    double max = 0;
    double sum = 0;
    long differing = 0;
    for (int y = 0; y < s; y++) {
      for (int x = 0; x < s; x++) {
        int rgb = expected.getRGB(x, y);
        for (int ch = 0; ch < 3; ch++) {
          int want = (rgb >> (16 - 8 * ch)) & 0xff;
          double got = (out[ch * s * s + y * s + x] * STD[ch] + MEAN[ch]) * 255.0;
          double d = Math.abs(got - want);
          max = Math.max(max, d);
          sum += d;
          differing += d > 0.5 ? 1 : 0;
        }
      }
    }
    long n = 3L * s * s;
    return new Difference(max, sum / n, n, differing);
  }
}
