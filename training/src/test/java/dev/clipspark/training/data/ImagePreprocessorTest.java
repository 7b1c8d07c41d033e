package dev.clipspark.training.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class ImagePreprocessorTest {

  /** What CLIP's normalisation makes of an 8-bit value in channel {@code c}, computed by hand. */
  static double normalised(int value, int c) {
    double[] mean = {0.48145466, 0.4578275, 0.40821073};
    double[] std = {0.26862954, 0.26130258, 0.27577711};
    return (value / 255.0 - mean[c]) / std[c];
  }

  static BufferedImage twoColour(int w, int h, int split, Color left, Color right) {
    var img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    var g = img.createGraphics();
    g.setColor(left);
    g.fillRect(0, 0, split, h);
    g.setColor(right);
    g.fillRect(split, 0, w - split, h);
    g.dispose();
    return img;
  }

  static byte[] jpeg(BufferedImage img) throws IOException {
    var out = new ByteArrayOutputStream();
    ImageIO.write(img, "jpg", out);
    return out.toByteArray();
  }

  static double at(float[] chw, int size, int c, int y, int x) {
    return chw[c * size * size + y * size + x];
  }

  @Test
  void evalCropsTheCentreSquareAndAveragesAreas() {
    var red = new Color(200, 30, 40);
    var blue = new Color(20, 40, 220);
    // 64 x 32: the centre square is x in [16, 48), red up to x = 32, blue after; halved to 16 x 16
    float[] out = ImagePreprocessor.eval(16).apply(twoColour(64, 32, 32, red, blue), null);
    assertThat(out).hasSize(3 * 16 * 16);
    int[][] rgb = {{200, 30, 40}, {20, 40, 220}};
    for (int y = 0; y < 16; y++) {
      for (int x = 0; x < 16; x++) {
        int[] expected = x < 8 ? rgb[0] : rgb[1];
        for (int c = 0; c < 3; c++) {
          assertThat(at(out, 16, c, y, x)).as("c=%d y=%d x=%d", c, y, x).isCloseTo(normalised(expected[c], c), within(1e-5));
        }
      }
    }
    // a tall image: the centre square of a 20 x 60 image is rows [20, 40) of three bands
    var tall = new BufferedImage(20, 60, BufferedImage.TYPE_3BYTE_BGR);
    var g = tall.createGraphics();
    g.setColor(Color.BLACK);
    g.fillRect(0, 0, 20, 60);
    g.setColor(new Color(10, 250, 90));
    g.fillRect(0, 20, 20, 20);
    g.dispose();
    float[] middle = ImagePreprocessor.eval(10).apply(tall, null);
    assertThat(at(middle, 10, 1, 0, 0)).isCloseTo(normalised(250, 1), within(1e-5));
    assertThat(at(middle, 10, 2, 9, 9)).isCloseTo(normalised(90, 2), within(1e-5));
  }

  @Test
  void evalUpscalingKeepsAUniformColourAndBlendsAnEdge() {
    var c = new Color(90, 160, 30);
    float[] out = ImagePreprocessor.eval(32).apply(twoColour(10, 10, 10, c, c), null);
    for (int i = 0; i < 32 * 32; i++) {
      assertThat((double) out[i]).isCloseTo(normalised(90, 0), within(1e-5));
      assertThat((double) out[32 * 32 + i]).isCloseTo(normalised(160, 1), within(1e-5));
    }
    // black | white at x = 5 upscaled 4x: the cubic passes through the edge, monotone and clamped
    float[] edge = ImagePreprocessor.eval(40).apply(twoColour(10, 10, 5, Color.BLACK, Color.WHITE), null);
    assertThat(at(edge, 40, 0, 3, 0)).isCloseTo(normalised(0, 0), within(1e-5));
    assertThat(at(edge, 40, 0, 3, 39)).isCloseTo(normalised(255, 0), within(1e-5));
    assertThat(at(edge, 40, 0, 3, 19)).isBetween(normalised(0, 0) + 0.5, normalised(255, 0) - 0.5);
    for (int x = 1; x < 40; x++) {
      assertThat(at(edge, 40, 0, 3, x)).isGreaterThanOrEqualTo(at(edge, 40, 0, 3, x - 1) - 1e-6);
    }
  }

  @Test
  void decodesJpegBytes() throws IOException {
    byte[] bytes = jpeg(twoColour(48, 48, 48, new Color(128, 64, 192), Color.BLACK));
    float[] out = ImagePreprocessor.eval(24).apply(bytes, new Random(1));
    double tolerance = 3 / 255.0 / 0.26; // JPEG is lossy
    assertThat(at(out, 24, 0, 12, 12)).isCloseTo(normalised(128, 0), within(tolerance));
    assertThat(at(out, 24, 1, 12, 12)).isCloseTo(normalised(64, 1), within(tolerance));
    assertThat(at(out, 24, 2, 12, 12)).isCloseTo(normalised(192, 2), within(tolerance));
    // a grey JPEG's stored samples are replicated to three channels, as convert("RGB") does
    var grey = new BufferedImage(16, 16, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 16; y++) {
      for (int x = 0; x < 16; x++) {
        grey.getRaster().setSample(x, y, 0, 100);
      }
    }
    float[] fromGrey = ImagePreprocessor.eval(8).apply(jpeg(grey), null);
    for (int c = 0; c < 3; c++) {
      assertThat(at(fromGrey, 8, c, 4, 4)).isCloseTo(normalised(100, c), within(tolerance));
    }
  }

  @Test
  void undecodableBytesFailClearly() {
    var eval = ImagePreprocessor.eval(8);
    assertThatThrownBy(() -> eval.apply(new byte[0], null))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("Cannot decode image: it has no bytes");
    assertThatThrownBy(() -> eval.apply("not an image at all".getBytes(), null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot decode image: no decoder recognises its 19 bytes");
    byte[] truncated = java.util.Arrays.copyOf(new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE0}, 40);
    assertThatThrownBy(() -> eval.apply(truncated, null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("Cannot decode image of 40 bytes");
  }

  @Test
  void randomResizedCropStaysWithinItsScaleAndRatioBounds() {
    var t = ImagePreprocessor.train(32, 0.25, 0.5);
    var random = new Random(5);
    double sum = 0;
    int n = 4000;
    for (int i = 0; i < n; i++) {
      ImagePreprocessor.Crop c = t.crop(200, 160, random);
      double fraction = c.width() * c.height() / (200.0 * 160.0);
      double ratio = c.width() / c.height();
      // w and h are rounded to whole pixels: allow that much slack
      assertThat(fraction).isBetween(0.25 - 0.01, 0.5 + 0.01);
      assertThat(ratio).isBetween(0.75 - 0.02, 4.0 / 3 + 0.02);
      assertThat(c.left()).isGreaterThanOrEqualTo(0).isLessThanOrEqualTo(200 - c.width());
      assertThat(c.top()).isGreaterThanOrEqualTo(0).isLessThanOrEqualTo(160 - c.height());
      assertThat(c.left()).isEqualTo(Math.rint(c.left()));
      sum += fraction;
    }
    // the area fraction is uniform on [0.25, 0.5] (no draw is rejected here): mean 0.375
    assertThat(sum / n).isCloseTo(0.375, within(0.01));

    var wide = ImagePreprocessor.train(32, 0.08, 1.0);
    double min = 1;
    double max = 0;
    for (int i = 0; i < n; i++) {
      ImagePreprocessor.Crop c = wide.crop(100, 100, random);
      double f = c.width() * c.height() / 1e4;
      min = Math.min(min, f);
      max = Math.max(max, f);
      assertThat(f).isBetween(0.07, 1.0);
    }
    assertThat(min).isLessThan(0.1);
    assertThat(max).isGreaterThan(0.9);
  }

  @Test
  void randomResizedCropFallsBackToAClampedCentreCrop() {
    var t = ImagePreprocessor.train(32, 0.9, 1.0);
    // no 3/4..4/3 crop of 90% of the area fits a 1000 x 10 strip: torchvision's centre fallback
    assertThat(t.crop(1000, 10, new Random(1))).isEqualTo(new ImagePreprocessor.Crop(493, 0, 13, 10));
    assertThat(t.crop(10, 1000, new Random(1))).isEqualTo(new ImagePreprocessor.Crop(0, 493, 10, 13));
    // the evaluation transform draws nothing
    assertThat(ImagePreprocessor.eval(8).crop(30, 20, null)).isEqualTo(new ImagePreprocessor.Crop(5, 0, 20, 20));
  }

  @Test
  void trainingTransformIsDeterministicPerSeed() throws IOException {
    var img = new BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 48; y++) {
      for (int x = 0; x < 64; x++) {
        img.setRGB(x, y, (x * 4) << 16 | (y * 5) << 8 | ((x + y) * 2));
      }
    }
    byte[] bytes = jpeg(img);
    var t = ImagePreprocessor.train(32, 0.3, 1.0);
    assertThat(t.apply(bytes, new Random(11))).isEqualTo(t.apply(bytes, new Random(11)));
    assertThat(t.apply(bytes, new Random(11))).isNotEqualTo(t.apply(bytes, new Random(12)));
    assertThat(t.isTrain()).isTrue();
    assertThat(ImagePreprocessor.eval(32).isTrain()).isFalse();
  }

  @Test
  void refusesBadSettings() {
    assertThatThrownBy(() -> ImagePreprocessor.eval(0))
        .hasMessage("Cannot preprocess images to 0 pixels: the size must be between 1 and 4096");
    assertThatThrownBy(() -> ImagePreprocessor.train(224, 0, 1))
        .hasMessage("Cannot make a random resized crop with scale (0.0, 1.0): need 0 < min <= max <= 1");
    assertThatThrownBy(() -> ImagePreprocessor.train(224, 0.9, 0.5))
        .hasMessageContaining("need 0 < min <= max <= 1");
    assertThatThrownBy(() -> ImagePreprocessor.eval(8).crop(0, 5, null))
        .hasMessage("Cannot crop a 0 x 5 image: both sides must be positive");
  }
}
