package dev.clipspark.dataset.image;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ResamplerTest {

  private static final double ONE = 1 << 22;

  @Test
  void areaWeightsAreCoveredFractions() {
    // 3 source pixels onto 2: each output covers 1.5 pixels -> (1, 0.5) / 1.5 and (0.5, 1) / 1.5
    Resampler.Coeffs c = Resampler.coeffs(3, 0, 3, 2);
    assertThat(c.first()).containsExactly(0, 1);
    assertThat(c.count()).containsExactly(2, 2);
    assertThat(c.weights()[0] / ONE).isCloseTo(2 / 3.0, org.assertj.core.api.Assertions.within(1e-6));
    assertThat(c.weights()[1] / ONE).isCloseTo(1 / 3.0, org.assertj.core.api.Assertions.within(1e-6));
    assertThat(c.weights()[c.taps()] / ONE).isCloseTo(1 / 3.0, org.assertj.core.api.Assertions.within(1e-6));
  }

  @Test
  void fractionalWindowsCrop() {
    // the window [1.5, 3.5) of 5 pixels onto 1: half of pixel 1, all of pixel 2, half of pixel 3
    Resampler.Coeffs c = Resampler.coeffs(5, 1.5, 2, 1);
    assertThat(c.first()[0]).isEqualTo(1);
    assertThat(c.count()[0]).isEqualTo(3);
    assertThat(c.weights()[0] / ONE).isCloseTo(0.25, org.assertj.core.api.Assertions.within(1e-6));
    assertThat(c.weights()[1] / ONE).isCloseTo(0.5, org.assertj.core.api.Assertions.within(1e-6));
  }

  @Test
  void resizesByHandComputedAverages() {
    // 4 x 2 source, one channel pattern per pixel; halving gives the mean of each 2 x 2 block
    byte[] src = new byte[4 * 2 * 3];
    int[] values = {10, 30, 100, 200, 50, 70, 0, 252};
    for (int i = 0; i < 8; i++) {
      src[i * 3] = (byte) values[i];
      src[i * 3 + 1] = (byte) (255 - values[i]);
      src[i * 3 + 2] = 7;
    }
    var px = new Pixels(src, 0, 12, 4, 2, false);
    byte[] dst = new byte[2 * 3];
    new Resampler().resize(px, 0, 0, 4, 2, dst, 0, 6, 2, 1);
    // (10+30+50+70)/4 = 40, (100+200+0+252)/4 = 138; second channel (245+225+205+185)/4 = 215,
    // (155+55+255+3)/4 = 117
    assertThat(dst[0] & 0xff).isEqualTo(40);
    assertThat(dst[1] & 0xff).isEqualTo(215);
    assertThat(dst[2] & 0xff).isEqualTo(7);
    assertThat(dst[3] & 0xff).isEqualTo(138);
    assertThat(dst[4] & 0xff).isEqualTo(117);
  }

  @Test
  void upscalingInterpolatesAndKeepsFlatAreasFlat() {
    byte[] src = new byte[2 * 1 * 3];
    src[0] = 0;
    src[3] = (byte) 200;
    var px = new Pixels(src, 0, 6, 2, 1, false);
    byte[] dst = new byte[4 * 3];
    new Resampler().resize(px, 0, 0, 2, 1, dst, 0, 12, 4, 1);
    int[] row = {dst[0] & 0xff, dst[3] & 0xff, dst[6] & 0xff, dst[9] & 0xff};
    assertThat(row).isSorted();
    assertThat(row[0]).isLessThan(20);
    assertThat(row[3]).isGreaterThan(180);
    assertThat(dst[1]).isZero();
  }
}
