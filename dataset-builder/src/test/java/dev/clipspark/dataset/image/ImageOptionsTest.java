package dev.clipspark.dataset.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ImageOptionsTest {

  private static Settings settings(String hocon) {
    return new Settings(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.parseResources("reference.conf"))
        .resolve());
  }

  @Test
  void referenceConfMatchesTheDefaults() {
    ImageOptions fromConf = ImageOptions.from(settings(""));
    assertThat(fromConf).isEqualTo(ImageOptions.defaults());
    assertThat(fromConf).isEqualTo(new ImageOptions(256, ResizeMode.CENTER_CROP, 32, 89_478_485L, 95));
  }

  @Test
  void readsEveryKey() {
    ImageOptions o = ImageOptions.from(settings(
        "image { size = 224, resize-mode = keep-ratio, min-side = 10, max-pixels = 1000000, jpeg-quality = 80 }"));
    assertThat(o).isEqualTo(new ImageOptions(224, ResizeMode.KEEP_RATIO, 10, 1_000_000L, 80));
    assertThat(ImageOptions.from(settings("image.resize-mode = border")).resizeMode()).isEqualTo(ResizeMode.BORDER);
    assertThat(ImageOptions.from(settings("image.resize-mode = center-crop")).resizeMode())
        .isEqualTo(ResizeMode.CENTER_CROP);
    // min-side's bound does not depend on size
    assertThat(ImageOptions.from(settings("image { size = 64, min-side = 1000 }")).minSide()).isEqualTo(1000);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "image.size = 7          | Cannot set image.size to 7: must be between 8 and 4096",
    "image.size = 4097       | Cannot set image.size to 4097: must be between 8 and 4096",
    "image.size = big        | Cannot set image.size to \"big\": must be a whole number between 8 and 4096",
    "image.min-side = 0      | Cannot set image.min-side to 0: must be between 1 and 65535",
    "image.max-pixels = 0    | Cannot set image.max-pixels to 0: must be between 1 and 9223372036854775807",
    "image.jpeg-quality = 0  | Cannot set image.jpeg-quality to 0: must be between 1 and 100",
    "image.jpeg-quality = 101 | Cannot set image.jpeg-quality to 101: must be between 1 and 100",
    "image.resize-mode = stretch | Cannot set image.resize-mode to \"stretch\": must be one of center-crop, keep-ratio, border",
  })
  void badValuesAreRefusedWithKeyValueAndAllowed(String hocon, String message) {
    assertThatThrownBy(() -> ImageOptions.from(settings(hocon)))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage(message);
  }

  @Test
  void theConstructorValidatesToo() {
    assertThatThrownBy(() -> ImageOptions.defaults().withJpegQuality(0))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set image.jpeg-quality to 0: must be between 1 and 100")
        .extracting(e -> ((ConfigValueException) e).key()).isEqualTo("image.jpeg-quality");
    assertThatThrownBy(() -> ImageOptions.defaults().withResizeMode(null))
        .hasMessage("Cannot set image.resize-mode to nothing: must be one of center-crop, keep-ratio, border");
    assertThatThrownBy(() -> ImageOptions.defaults().withSize(5000))
        .hasMessage("Cannot set image.size to 5000: must be between 8 and 4096");
  }

  @Test
  void configSpellingOfModes() {
    assertThat(Settings.allowed(ResizeMode.class)).isEqualTo("center-crop, keep-ratio, border");
  }
}
