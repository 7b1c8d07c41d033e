package dev.clipspark.training.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ModelFlopsTest {

  // open_clip's model profile (fvcore, which counts one multiply-add as one operation) lists ViT-B-32 at
  // 4.41 image GMACs and 2.96 text GMACs.
  @Test
  void vitB32MatchesTheProfiledMultiplyAdds() {
    var config = ModelConfigs.load("ViT-B-32");
    assertThat(ModelFlops.imageForward(config) / 2 / 1e9).isCloseTo(4.41, within(0.05));
    assertThat(ModelFlops.textForward(config) / 2 / 1e9).isCloseTo(2.96, within(0.05));
    assertThat(ModelFlops.trainingPerSample(config))
        .isEqualTo(3 * (ModelFlops.imageForward(config) + ModelFlops.textForward(config)));
  }

  @Test
  void vitB16HasAboutFourTimesTheImageWorkOfB32() {
    // 197 tokens instead of 50: 4.4 times the token work, slightly more for attention.
    double ratio = ModelFlops.imageForward(ModelConfigs.load("ViT-B-16"))
        / ModelFlops.imageForward(ModelConfigs.load("ViT-B-32"));
    assertThat(ratio).isBetween(3.9, 4.2);
  }

  @Test
  void transformerBlockFormulaByHand() {
    // T = 2, w = 3: 2 * (12 * 2 * 9 + 2 * 4 * 3) = 2 * (216 + 24) = 480
    assertThat(ModelFlops.block(2, 3)).isEqualTo(480.0);
  }

  @Test
  void resNet50IsTorchvisionsPlusClipsChangesByHand() {
    // torchvision's ResNet-50: 4.09 GMACs at 224 px. CLIP's changes, in GMACs:
    //   three-conv stem at 112^2 (3->32, 32->32, 32->64, 3x3) 0.358 instead of the 7x7 3->64 conv's 0.118: +0.240
    //   attention pooling over 50 tokens of 2048 (keys, values 2 * 50 * 2048^2, one query, c_proj): +0.426 - fc 0.002
    //   anti-aliased strides: the 3x3 conv of each strided block runs before the pooling, at 4 times the
    //   positions, in stages 2 to 4: 3 * (0.462 - 0.116) = +1.040
    // 4.09 + 0.240 + 0.424 + 1.040 = 5.79
    double gmacs = ModelFlops.imageForward(ModelConfigs.load("RN50")) / 2 / 1e9;
    assertThat(gmacs).isCloseTo(5.79, within(0.03));
  }
}
