package dev.clipspark.dataset.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.source.SourceOptions.TableFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class SourceOptionsTest {

  @Test
  void defaultsEqualReferenceConf() {
    assertThat(TestSpark.options("")).isEqualTo(SourceOptions.defaults());
  }

  @Test
  void readsEveryKey() {
    SourceOptions o = TestSpark.options("""
        source {
          partitions = 3
          max-file-bytes = 1MiB
          table { image-column = img, caption-column = text, key-column = id, format = tsv, header = false }
          folder.extensions = [png]
          synthetic { count = 10, seed = -5, image-size = 32 }
        }
        """);
    assertThat(o).isEqualTo(new SourceOptions(3, "img", "text", "id", TableFormat.TSV, false, List.of("png"),
        10, -5, 32, 1 << 20));
    assertThat(o.hasKeyColumn()).isTrue();
    assertThat(SourceOptions.defaults().hasKeyColumn()).isFalse();
  }

  @Test
  void badValuesNameKeyValueAndWhatIsAllowed() {
    assertThatThrownBy(() -> TestSpark.options("source.partitions = -1"))
        .isInstanceOf(ConfigValueException.class)
        .hasMessage("Cannot set source.partitions to -1: must be between 0 and 100000");
    assertThatThrownBy(() -> TestSpark.options("source.table.format = xml"))
        .hasMessage("Cannot set source.table.format to \"xml\": must be one of auto, parquet, csv, tsv");
    assertThatThrownBy(() -> TestSpark.options("source.table.image-column = \" \""))
        .hasMessage("Cannot set source.table.image-column to \" \": must not be empty");
    assertThatThrownBy(() -> TestSpark.options("source.folder.extensions = [\".jpg\"]"))
        .hasMessageStartingWith("Cannot set source.folder.extensions to [.jpg]: must be lower-case");
    assertThatThrownBy(() -> TestSpark.options("source.folder.extensions = [jpg, txt]"))
        .hasMessageContaining("not txt");
    assertThatThrownBy(() -> TestSpark.options("source.folder.extensions = []"))
        .hasMessage("Cannot set source.folder.extensions to []: must list at least one image extension");
    assertThatThrownBy(() -> TestSpark.options("source.synthetic.count = 0"))
        .hasMessage("Cannot set source.synthetic.count to 0: must be between 1 and 1000000000");
    assertThatThrownBy(() -> TestSpark.options("source.synthetic.image-size = 8"))
        .hasMessage("Cannot set source.synthetic.image-size to 8: must be between 16 and 4096");
    assertThatThrownBy(() -> TestSpark.options("source.max-file-bytes = 0"))
        .hasMessageStartingWith("Cannot set source.max-file-bytes to 0 bytes");
    assertThatThrownBy(() -> TestSpark.options("source.table.header = maybe"))
        .hasMessage("Cannot set source.table.header to \"maybe\": must be true or false");
  }

  @Test
  void constructorChecksTheSameRanges() {
    assertThatThrownBy(() -> SourceOptions.defaults().withPartitions(-2))
        .isInstanceOf(ConfigValueException.class)
        .hasMessageStartingWith("Cannot set source.partitions to -2");
    assertThat(SourceOptions.defaults().withSyntheticCount(5).withSyntheticSeed(9))
        .extracting(SourceOptions::syntheticCount, SourceOptions::syntheticSeed)
        .containsExactly(5L, 9L);
  }
}
