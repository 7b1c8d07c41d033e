package dev.clipspark.training.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.weights.Pickled.Tensor;
import java.io.IOException;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;

/** The pickle reader on PyTorch's own pickles, cut short and damaged: it builds data or fails with a clear error. */
class SafeUnpicklerTest {

  private static byte[] dataPkl(String fixture) throws IOException {
    try (var zip = new ZipFile(ReferenceFixtures.DIR.resolve(fixture).toFile())) {
      var entry = zip.stream().filter(e -> e.getName().endsWith("/data.pkl")).findFirst().orElseThrow();
      return zip.getInputStream(entry).readAllBytes();
    }
  }

  @Test
  void readsAStateDictPickleOfTorchSave() throws IOException {
    Object top = SafeUnpickler.load("vit.pytorch.pt", dataPkl("vit.pytorch.pt"));
    assertThat(top).isInstanceOf(Map.class);
    var checkpoint = (Map<?, ?>) top;
    assertThat(checkpoint.get("epoch")).isEqualTo(3L);
    assertThat(checkpoint.get("name")).isEqualTo("fixture-vit");
    var stateDict = (Map<?, ?>) checkpoint.get("state_dict");
    var t = (Tensor) stateDict.get("module.visual.conv1.weight");
    assertThat(t.size()).containsExactly(64, 3, 4, 4);
    assertThat(t.stride()).containsExactly(48, 16, 4, 1);
    assertThat(t.storage().type()).isEqualTo(TensorType.F16);
    // The optimizer's param_groups: floats, a tuple, a list of ints.
    var groups = (java.util.List<?>) ((Map<?, ?>) checkpoint.get("optimizer")).get("param_groups");
    var group = (Map<?, ?>) groups.get(0);
    assertThat(group.get("lr")).isEqualTo(5e-4);
    assertThat(((Pickled.Tuple) group.get("betas")).items()).containsExactly(0.9, 0.98);
  }

  @Test
  void everyTruncationIsAWeightsException() throws IOException {
    for (String fixture : new String[] {"vit.pytorch.pt", "rn.torchscript.pt"}) {
      byte[] whole = dataPkl(fixture);
      for (int n = 0; n < whole.length - 1; n += n < 200 ? 1 : 11) {
        byte[] cut = java.util.Arrays.copyOf(whole, n);
        assertThatThrownBy(() -> SafeUnpickler.load("x", cut)).as("%s cut at %d", fixture, n)
            .isInstanceOf(WeightsException.class).hasMessageStartingWith("Cannot read x: ");
      }
    }
  }

  @Test
  void damagedBytesGiveDataOrAWeightsExceptionNeverAnythingElse() throws IOException {
    byte[] whole = dataPkl("rn.torchscript.pt");
    var random = new Random(14);
    int refused = 0;
    for (int trial = 0; trial < 1000; trial++) {
      byte[] damaged = whole.clone();
      for (int k = 0; k < 1 + random.nextInt(3); k++) {
        damaged[random.nextInt(damaged.length)] = (byte) random.nextInt(256);
      }
      try {
        SafeUnpickler.load("x", damaged);
      } catch (WeightsException e) {
        refused++;
      }
    }
    assertThat(refused).isGreaterThan(30);
  }
}
