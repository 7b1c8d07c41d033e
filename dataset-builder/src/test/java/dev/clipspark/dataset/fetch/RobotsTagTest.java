package dev.clipspark.dataset.fetch;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RobotsTagTest {

  private static final String US = "clipspark";

  @ParameterizedTest
  @ValueSource(strings = {"noai", "noimageai", "noindex", "none", "NOAI", " noai ", "nofollow, noimageai",
      "noarchive,noindex", "clipspark: noai", "ClipSpark: noimageai", "*: none", "googlebot: nofollow, clipspark: noai",
      "unavailable_after: 25 Jun 2010 15:00:00 PST, noai", "noindex nofollow"})
  void disallows(String value) {
    assertThat(RobotsTag.disallowing(List.of(value), US)).contains(value);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "all", "nofollow", "noarchive, nosnippet", "googlebot: noindex",
      "googlebot: noindex, noai", "otherbot: none", "max-image-preview: none", "max-image-preview:none",
      "googlebot: max-image-preview: none", "unavailable_after: 25 Jun 2010 15:00:00 PST", "noindexing",
      "clipsparkbot: noai", "img2dataset: noai"})
  void allows(String value) {
    assertThat(RobotsTag.disallowing(List.of(value), US)).isEmpty();
  }

  @Test
  void aScopeEndsWithItsHeaderValue() {
    // "googlebot:" scopes only its own header line; the next line is unscoped again.
    assertThat(RobotsTag.disallowing(List.of("googlebot: nofollow", "noai"), US)).contains("noai");
    assertThat(RobotsTag.disallowing(List.of("googlebot: nofollow", "noarchive"), US)).isEmpty();
  }

  @Test
  void findsTheDisallowingValueAmongSeveral() {
    assertThat(RobotsTag.disallowing(List.of("nofollow", "otherbot: noai", "*: noimageai", "noindex"), US))
        .contains("*: noimageai");
    assertThat(RobotsTag.disallowing(List.of(), US)).isEmpty();
  }

  @Test
  void theProductTokenComesFromTheUserAgent() {
    assertThat(FetchOptions.defaults().productToken()).isEqualTo("clipspark");
    assertThat(FetchOptions.defaults().withUserAgent("MyBot/2.0 (+https://x)").productToken()).isEqualTo("mybot");
    assertThat(FetchOptions.defaults().withUserAgent("plainagent").productToken()).isEqualTo("plainagent");
  }
}
