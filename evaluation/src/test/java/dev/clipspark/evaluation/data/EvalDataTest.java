package dev.clipspark.evaluation.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalDataTest {

  @TempDir static Path dir;
  static SparkSession spark;

  static final EvalData.TableColumns COLUMNS = new EvalData.TableColumns("image", "label", "caption", "key", "split");

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("EvalDataTest").config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  static List<Row> sorted(EvalData.Loaded loaded) {
    var rows = new ArrayList<>(loaded.rows().collectAsList());
    rows.sort(Comparator.comparing(r -> r.getString(0)));
    return rows;
  }

  @Test
  void idxFilesBecomeGreyPngRowsWithTheirLabelsForAnyPartitioning() throws Exception {
    Path idx = Files.createDirectories(dir.resolve("fashion-mnist-small"));
    int n = 25;
    byte[][] images = new byte[n][];
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) {
      images[i] = new byte[3 * 4];
      for (int p = 0; p < images[i].length; p++) {
        images[i][p] = (byte) (i * 10 + p);
      }
      labels[i] = i % 10;
    }
    IdxFilesTestSupport.write(idx, "t10k", images, labels, 3, 4);
    var one = EvalData.read(spark, EvalData.Spec.parse("idx:" + idx), EvalData.Split.TEST,
        new EvalData.Options("auto", 1, COLUMNS));
    var seven = EvalData.read(spark, EvalData.Spec.parse("idx:" + idx), EvalData.Split.TEST,
        new EvalData.Options("auto", 7, COLUMNS));
    assertThat(one.classes()).hasSize(10).startsWith("t-shirt", "trouser");
    assertThat(one.classSource()).isEqualTo("fashion-mnist");
    List<Row> a = sorted(one);
    List<Row> b = sorted(seven);
    assertThat(a).hasSize(n);
    for (int i = 0; i < n; i++) {
      assertThat(a.get(i).getString(0)).isEqualTo(String.format("test-%02d", i));
      assertThat(a.get(i).getInt(2)).isEqualTo(i % 10);
      assertThat((byte[]) b.get(i).get(1)).isEqualTo((byte[]) a.get(i).get(1));
      BufferedImage image = ImageIO.read(new ByteArrayInputStream((byte[]) a.get(i).get(1)));
      assertThat(image.getWidth()).isEqualTo(4);
      assertThat(image.getHeight()).isEqualTo(3);
      assertThat(image.getRaster().getSample(1, 2, 0)).isEqualTo(Byte.toUnsignedInt(images[i][2 * 4 + 1]));
    }
    assertThatThrownBy(() -> EvalData.read(spark, EvalData.Spec.parse("idx:" + idx), EvalData.Split.TRAIN,
        new EvalData.Options("auto", 1, COLUMNS))).hasMessageContaining("has no train-images-idx3-ubyte or"
            + " train-images-idx3-ubyte.gz");
  }

  @Test
  void tablesNumberStringLabelsInSortedOrderAcrossSplitsAndReadImagePaths() throws Exception {
    Path png = dir.resolve("one.png");
    ImageIO.write(new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB), "png", png.toFile());
    byte[] bytes = Files.readAllBytes(png);
    var schema = new StructType().add("image", DataTypes.BinaryType).add("label", DataTypes.StringType)
        .add("split", DataTypes.StringType).add("caption", DataTypes.StringType);
    var rows = List.of(RowFactory.create(bytes, "zebra", "train", "z"), RowFactory.create(bytes, "ant", "train", "a"),
        RowFactory.create(bytes, "moth", "test", "m"), RowFactory.create(bytes, "zebra", "test", "z2"));
    Path parquet = dir.resolve("table.parquet");
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(parquet.toString());
    var test = EvalData.read(spark, EvalData.Spec.parse("table:" + parquet), EvalData.Split.TEST,
        new EvalData.Options("auto", 2, COLUMNS));
    assertThat(test.classes()).containsExactly("ant", "moth", "zebra");
    List<Integer> labels = test.rows().collectAsList().stream().map(r -> r.getInt(2)).sorted().toList();
    assertThat(labels).containsExactly(1, 2);
    // Keys default to the SHA-256 of the image bytes when there is no key column and images are bytes.
    assertThat(test.rows().first().getString(0)).hasSize(64);

    Path csv = dir.resolve("paths.csv");
    Files.writeString(csv, "image,caption\n" + png + ",\"a black, square image\"\n");
    var captions = EvalData.read(spark, EvalData.Spec.parse("table:" + csv), EvalData.Split.TEST,
        new EvalData.Options("auto", 2, COLUMNS));
    Row r = captions.rows().first();
    assertThat(captions.labelled()).isFalse();
    assertThat(r.getString(0)).isEqualTo(png.toString());
    assertThat((byte[]) r.get(1)).isEqualTo(bytes);
    assertThat(r.getString(3)).isEqualTo("a black, square image");

    assertThatThrownBy(() -> EvalData.read(spark, EvalData.Spec.parse("table:" + csv), EvalData.Split.TEST,
        new EvalData.Options("auto", 2, new EvalData.TableColumns("img", "label", "caption", "key", "split"))))
        .hasMessageContaining("has no image column \"img\" (eval.table.image-column); its columns: image, caption");
  }

  @Test
  void aBuildDatasetOutputReadsAsCaptionedImages() throws Exception {
    Path shards = Files.createDirectories(dir.resolve("wit"));
    var schema = new StructType().add("key", DataTypes.StringType).add("caption", DataTypes.StringType)
        .add("image", DataTypes.BinaryType).add("width", DataTypes.IntegerType);
    spark.createDataFrame(List.of(RowFactory.create("k1", "a cat", new byte[] {1}, 2),
        RowFactory.create("k2", "a dog", new byte[] {2}, 2)), schema).write().parquet(shards.resolve("shards")
        .toString());
    var loaded = EvalData.read(spark, EvalData.Spec.parse("shards:" + shards), EvalData.Split.TEST,
        new EvalData.Options("auto", 0, COLUMNS));
    assertThat(sorted(loaded)).extracting(r -> r.getString(3)).containsExactly("a cat", "a dog");
    assertThat(loaded.labelled()).isFalse();
  }
}
