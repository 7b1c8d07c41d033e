package dev.clipspark.dataset.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.util.HashSet;
import org.junit.jupiter.api.Test;

class ImageBenchmarkTest {

  @Test
  void measuresWhatItProcessed() {
    var options = ImageOptions.defaults().withSize(32);
    ImageBenchmark.Result r = ImageBenchmark.run(5, 96, options);
    assertThat(r.images()).isEqualTo(5);
    assertThat(r.seconds()).isPositive();
    assertThat(r.imagesPerSecond()).isCloseTo(5 / r.seconds(), org.assertj.core.api.Assertions.within(1e-6));
    // a 96 x 96 photo-like JPEG at quality 90 is several kilobytes; a 32 x 32 output is far smaller
    assertThat(r.meanSourceBytes()).isGreaterThan(3000);
    assertThat(r.meanOutputBytes()).isPositive().isLessThan(r.meanSourceBytes());
  }

  @Test
  void sourcesArePhotoLikeNotFlat() {
    BufferedImage a = ImageBenchmark.photoLike(64, 64, 1);
    var colours = new HashSet<Integer>();
    for (int y = 0; y < 64; y++) {
      for (int x = 0; x < 64; x++) {
        colours.add(a.getRGB(x, y));
      }
    }
    assertThat(colours.size()).isGreaterThan(2000);
    // deterministic per seed, different across seeds
    assertThat(ImageBenchmark.photoLike(64, 64, 1).getRGB(10, 10)).isEqualTo(a.getRGB(10, 10));
    assertThat(ImageBenchmark.encodeJpeg(ImageBenchmark.photoLike(64, 64, 2), 90))
        .isNotEqualTo(ImageBenchmark.encodeJpeg(a, 90));
  }

  @Test
  void refusesSourcesTheOptionsWouldReject() {
    assertThatThrownBy(() -> ImageBenchmark.run(1, 16, ImageOptions.defaults()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("image.min-side = 32");
    assertThatThrownBy(() -> ImageBenchmark.run(0, 64, ImageOptions.defaults()))
        .hasMessage("Cannot run the image benchmark with 0 images: need at least 1");
  }
}
