package dev.clipspark.training.weights;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * OpenAI's ViT-B/32 and RN50 architectures at full size (random weights, saved by PyTorch as OpenAI's archives by
 * {@code make_clip_fixtures.py --full-size DIR}, about 550 MB, so not committed): each imports under its packaged
 * name and matches PyTorch's features. Runs only with {@code -Dclipspark.reference.full-size=DIR}.
 */
class ExternalWeightsFullSizeTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource({"ViT-B-32, 151277313", "RN50, 102007137"})
  void openAiSizedModelsImportUnderTheirNamesAndMatchPyTorch(String name, long parameters) {
    String dir = System.getProperty("clipspark.reference.full-size");
    Assumptions.assumeTrue(dir != null && Files.isRegularFile(Path.of(dir, name + ".pt")),
        "run tools/reference/make_clip_fixtures.py --full-size DIR and pass -Dclipspark.reference.full-size=DIR");
    var ref = ReferenceFixtures.load(Path.of(dir), name);
    long start = System.nanoTime();
    ImportedWeights w = ExternalWeights.read(ref.file(ExternalWeights.TORCHSCRIPT), null);
    double seconds = (System.nanoTime() - start) / 1e9;

    assertThat(w.model().name()).isEqualTo(name);
    assertThat(w.parameters().elementCount()).isEqualTo(parameters);
    List<INDArray> out = ReferenceFixtures.compute(w.model(), w.parameters(), ref.images(), ref.tokens());
    double image = ReferenceFixtures.maxRelative(out.get(0), ref.reference("image_features"));
    double text = ReferenceFixtures.maxRelative(out.get(1), ref.reference("text_features"));
    double logits = ReferenceFixtures.maxRelative(out.get(2), ref.reference("logits_per_image"));
    System.out.printf("%s (OpenAI's archive layout, random weights): read in %.1f s; largest relative "
        + "difference to PyTorch: image %.2e, text %.2e, logits %.2e%n", name, seconds, image, text, logits);
    assertThat(image).isLessThan(1e-4);
    assertThat(text).isLessThan(1e-4);
    assertThat(logits).isLessThan(1e-4);
  }
}
