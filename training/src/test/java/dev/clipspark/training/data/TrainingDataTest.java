package dev.clipspark.training.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** The pipeline on real shards written by the dataset builder (300 synthetic pairs at 64 px, 5 shards). */
class TrainingDataTest {

  static final int SIZE = 64;
  static final int CONTEXT = 32;

  @TempDir
  static Path dir;
  static SparkSession spark;
  static String dataset;
  static Map<String, Row> rows;
  static Map<String, Integer> shardOf;
  static ClipTokenizer tokenizer = ClipTokenizer.of(List.of());

  @BeforeAll
  static void build() {
    spark = DataFixtures.spark("TrainingDataTest");
    dataset = DataFixtures.synthetic(spark, dir, "shapes", 300, SIZE, 64);
    rows = DataFixtures.rows(spark, dataset);
    shardOf = DataFixtures.shardOf(spark, dataset);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  static TrainingData.Builder builder(int batch) {
    return TrainingData.builder().setDataset(dataset).setTokenizer(tokenizer).setContextLength(CONTEXT)
        .setImageSize(SIZE).setBatchSize(batch).setSeed(42).optDecodeThreads(2);
  }

  static List<Batch> take(TrainingData data, int n) {
    var out = new ArrayList<Batch>();
    for (int i = 0; i < n; i++) {
      out.add(data.next());
    }
    return out;
  }

  static void assertSameBatches(List<Batch> actual, List<Batch> expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.size(); i++) {
      assertThat(actual.get(i).keys()).as("keys of batch %d", i).isEqualTo(expected.get(i).keys());
      assertThat(actual.get(i).images()).as("images of batch %d", i).isEqualTo(expected.get(i).images());
      assertThat(actual.get(i).tokens()).as("tokens of batch %d", i).isEqualTo(expected.get(i).tokens());
    }
  }

  @Test
  void batchesHoldNormalisedImagesAndTokenizedCaptions() throws Exception {
    assertThat(rows).hasSize(300);
    try (var data = builder(16).build()) {
      assertThat(data.totalRows()).isEqualTo(300);
      assertThat(data.batchesPerEpoch()).isEqualTo(18);
      Batch b = data.next();
      assertThat(b.images().shape()).containsExactly(16, 3, SIZE, SIZE);
      assertThat(b.images().dataType()).isEqualTo(DataType.FLOAT);
      assertThat(b.tokens().shape()).containsExactly(16, CONTEXT);
      assertThat(b.tokens().dataType()).isEqualTo(DataType.INT);
      assertThat(new HashSet<>(b.keys())).hasSize(16);
      double[] mean = {0.48145466, 0.4578275, 0.40821073};
      double[] std = {0.26862954, 0.26130258, 0.27577711};
      for (int i : new int[] {0, 7, 15}) {
        Row row = rows.get(b.keys().get(i));
        assertThat(b.captions().get(i)).isEqualTo(row.getString(1));
        assertThat(b.tokens().getRow(i).toIntVector())
            .containsExactly(tokenizer.tokenize(List.of(row.getString(1)), CONTEXT, true)[0]);
        // the stored JPEG is 64 x 64: the evaluation transform at 64 px keeps every pixel as decoded
        BufferedImage img = ImageIO.read(new ByteArrayInputStream((byte[]) row.get(2)));
        for (int[] xy : new int[][] {{0, 0}, {31, 17}, {63, 63}, {5, 50}}) {
          int rgb = img.getRGB(xy[0], xy[1]);
          int[] v = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
          for (int c = 0; c < 3; c++) {
            assertThat(b.images().getDouble(i, c, xy[1], xy[0])).as("sample %d channel %d at %s", i, c, xy[0] + "," + xy[1])
                .isCloseTo((v[c] / 255.0 - mean[c]) / std[c], within(1e-5));
          }
        }
      }
      assertThat(data.position()).isEqualTo(new DataPosition(0, 16));
    }
  }

  @Test
  void eachEpochCoversEveryRowOnceInAFreshOrderThatMixesShards() {
    try (var data = builder(32).optShuffleBuffer(64).build()) {
      assertThat(data.batchesPerEpoch()).isEqualTo(9);
      var epochs = new ArrayList<List<String>>();
      for (int e = 0; e < 2; e++) {
        var keys = new ArrayList<String>();
        int mixed = 0;
        for (int i = 0; i < 9; i++) {
          Batch b = data.next();
          keys.addAll(b.keys());
          if (b.keys().stream().map(shardOf::get).distinct().count() > 1) {
            mixed++;
          }
        }
        assertThat(data.position()).isEqualTo(new DataPosition(e + 1, 0));
        assertThat(keys).hasSize(288).doesNotHaveDuplicates();
        assertThat(rows.keySet()).containsAll(keys);
        assertThat(mixed).as("batches with keys of several shards").isGreaterThanOrEqualTo(5);
        epochs.add(keys);
      }
      assertThat(epochs.get(1)).isNotEqualTo(epochs.get(0));
      assertThat(epochs.get(1).subList(0, 32)).isNotEqualTo(epochs.get(0).subList(0, 32));
    }
  }

  @Test
  void resultsDoNotDependOnTheDecodeThreads() {
    var augment = ImagePreprocessor.train(SIZE, 0.3, 1.0);
    List<Batch> one;
    try (var data = builder(16).optAugment(augment).optDecodeThreads(1).build()) {
      one = take(data, 20);
    }
    try (var data = builder(16).optAugment(augment).optDecodeThreads(4).optPrefetchBatches(3).build()) {
      assertSameBatches(take(data, 20), one);
    }
    // augmentation actually varies: a key of epoch 1's first batch was cropped differently in epoch 0
    Batch epoch1 = one.get(18);
    boolean compared = false;
    for (int i = 0; i < epoch1.size() && !compared; i++) {
      for (Batch b : one.subList(0, 18)) {
        int j = b.keys().indexOf(epoch1.keys().get(i));
        if (j >= 0) {
          assertThat(epoch1.images().slice(i)).isNotEqualTo(b.images().slice(j));
          compared = true;
        }
      }
    }
    assertThat(compared).isTrue();
  }

  @Test
  void resumingFromASavedPositionContinuesTheUninterruptedStream() throws Exception {
    var augment = ImagePreprocessor.train(SIZE, 0.3, 1.0);
    var all = new ArrayList<Batch>();
    var positions = new ArrayList<DataPosition>();
    try (var data = builder(16).optAugment(augment).build()) {
      for (int i = 0; i < 24; i++) {
        all.add(data.next());
        positions.add(data.position());
      }
    }
    assertThat(positions.get(5)).isEqualTo(new DataPosition(0, 96));
    assertThat(positions.get(17)).isEqualTo(new DataPosition(1, 0));
    var json = new ObjectMapper();
    String saved = json.writeValueAsString(positions.get(5));
    assertThat(saved).isEqualTo("{\"epoch\":0,\"sample_in_epoch\":96}");
    DataPosition restored = json.readValue(saved, DataPosition.class);
    try (var data = builder(16).optAugment(augment).optDecodeThreads(3).optStart(restored).build()) {
      assertThat(data.position()).isEqualTo(restored);
      assertSameBatches(take(data, 18), all.subList(6, 24));
    }
    try (var data = builder(16).optAugment(augment).optStart(positions.get(17)).build()) {
      assertSameBatches(take(data, 6), all.subList(18, 24));
    }
  }

  @Test
  void ranksStreamDisjointContiguousSharesAndTakeTheSameSteps() {
    var augment = ImagePreprocessor.train(SIZE, 0.5, 1.0);
    int k = 3;
    var streams = new ArrayList<TrainingData>();
    try {
      for (int r = 0; r < k; r++) {
        streams.add(builder(48).optAugment(augment).optRank(r, k).build());
      }
      // 300 rows in 3 parts of 100: floor(100 / 16) = 6 steps per epoch on every rank
      for (var data : streams) {
        assertThat(data.batchesPerEpoch()).isEqualTo(6);
      }
      var firstEpochRank0 = new HashSet<String>();
      for (int epoch = 0; epoch < 2; epoch++) {
        var seen = new HashSet<String>();
        for (int r = 0; r < k; r++) {
          var keys = new ArrayList<String>();
          for (int step = 0; step < 6; step++) {
            Batch batch = streams.get(r).next();
            assertThat(batch.size()).isEqualTo(16);
            keys.addAll(batch.keys());
            assertThat(streams.get(r).position()).isEqualTo(
                step == 5 ? new DataPosition(epoch + 1, 0) : new DataPosition(epoch, (step + 1) * 48L));
          }
          // a contiguous 100-row part of the shard sequence touches at most 3 of the 64-row shards
          assertThat(keys.stream().map(shardOf::get).distinct().count()).as("shards of rank %d", r).isLessThanOrEqualTo(3);
          for (String key : keys) {
            assertThat(seen.add(key)).as("key %s seen twice in epoch %d", key, epoch).isTrue();
          }
          if (r == 0 && epoch == 0) {
            firstEpochRank0.addAll(keys);
          } else if (r == 0) {
            assertThat(new HashSet<>(keys)).as("rank 0's share changes with the epoch").isNotEqualTo(firstEpochRank0);
          }
        }
        assertThat(seen).hasSize(288).isSubsetOf(rows.keySet());
      }
    } finally {
      streams.forEach(TrainingData::close);
    }
    // one rank streams the whole sequence, touching every shard
    try (var data = builder(48).optRank(0, 1).build()) {
      var keys = new ArrayList<String>();
      for (int step = 0; step < 6; step++) {
        keys.addAll(data.next().keys());
      }
      assertThat(keys.stream().map(shardOf::get).distinct().count()).isEqualTo(5);
    }
    // 7 ranks: parts of 42 or 43 rows, floor(42 / 2) = 21 steps each
    try (var data = builder(14).optRank(6, 7).build()) {
      assertThat(data.batchesPerEpoch()).isEqualTo(21);
    }
    assertThatThrownBy(() -> builder(15).optRank(1, 2).build())
        .hasMessage("Cannot split a batch of 15 across 2 ranks: the batch size must be a multiple of the world size");
    assertThatThrownBy(() -> builder(48).optRank(1, 3).optStart(new DataPosition(0, 47)).build())
        .hasMessage("Cannot start at sample 47 of epoch 0 with 3 ranks: a position counts whole global batches, so"
            + " it must be a multiple of the ranks");
  }

  @Test
  void aRankResumesItsOwnStreamFromASavedPosition() {
    var augment = ImagePreprocessor.train(SIZE, 0.5, 1.0);
    List<Batch> all;
    DataPosition after3;
    try (var data = builder(32).optAugment(augment).optRank(1, 2).build()) {
      all = take(data, 3);
      after3 = data.position();
      all.addAll(take(data, 8));
    }
    assertThat(after3).isEqualTo(new DataPosition(0, 96));
    try (var data = builder(32).optAugment(augment).optRank(1, 2).optStart(after3).build()) {
      assertSameBatches(take(data, 8), all.subList(3, 11));
    }
  }

  @Test
  void badImagesAreCountedAndReplacedByTheNearestGoodPredecessor() throws Exception {
    var images = new ArrayList<byte[]>();
    for (int i = 0; i < 40; i++) {
      images.add(DataFixtures.colourJpeg(i));
    }
    String good = DataFixtures.handMade(spark, dir, "good", images, 16);
    List<String> order;
    List<Batch> goodBatches;
    try (var data = builder(8).setDataset(good).setImageSize(16).optShuffleBuffer(8).build()) {
      goodBatches = take(data, 5);
      order = goodBatches.stream().flatMap(b -> b.keys().stream()).toList();
      assertThat(data.badImages()).isZero();
    }
    // samples 0, 9 and 10 of epoch 0 do not decode
    var broken = new ArrayList<>(images);
    for (int p : new int[] {0, 9, 10}) {
      broken.set(Integer.parseInt(order.get(p).substring(1)), "not a jpeg".getBytes());
    }
    String bad = DataFixtures.handMade(spark, dir, "bad", broken, 16);
    for (int threads : new int[] {1, 3}) {
      try (var data = builder(8).setDataset(bad).setImageSize(16).optShuffleBuffer(8).optDecodeThreads(threads).build()) {
        List<Batch> batches = take(data, 5);
        assertThat(data.badImages()).isEqualTo(3);
        // sample 0 has no predecessor: mean colour (all zeros), its own key
        assertThat(batches.get(0).keys().get(0)).isEqualTo(order.get(0));
        assertThat(batches.get(0).images().slice(0).sumNumber().doubleValue()).isZero();
        assertThat(batches.get(0).images().slice(1)).isEqualTo(goodBatches.get(0).images().slice(1));
        // samples 9 and 10 become sample 8, the nearest one before them that decodes (eval: same pixels)
        assertThat(batches.get(1).keys()).containsExactly(order.get(8), order.get(8), order.get(8), order.get(11),
            order.get(12), order.get(13), order.get(14), order.get(15));
        assertThat(batches.get(1).captions().get(1)).isEqualTo(goodBatches.get(1).captions().get(0));
        assertThat(batches.get(1).images().slice(2)).isEqualTo(goodBatches.get(1).images().slice(0));
        assertSameBatches(batches.subList(2, 5), goodBatches.subList(2, 5));
      }
    }
  }

  @Test
  void clearErrors() throws Exception {
    Path empty = Files.createDirectories(dir.resolve("no-manifest"));
    assertThatThrownBy(() -> builder(4).setDataset(empty.toString()).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read dataset " + empty + ": it has no manifest.json (not a ClipSpark dataset, or its build"
            + " has not finished)");
    assertThatThrownBy(() -> builder(301).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot make batches of 301 from dataset " + dataset + ": it has only 300 rows");
    assertThatThrownBy(() -> builder(16).optAugment(ImagePreprocessor.eval(32)).build())
        .hasMessage("Cannot augment with a 32-pixel preprocessor: the image size is 64");
    assertThatThrownBy(() -> builder(16).optStart(new DataPosition(0, 301)).build())
        .hasMessage("Cannot start at sample 301 of epoch 0: an epoch of " + dataset + " has 300 samples");
    assertThatThrownBy(() -> TrainingData.builder().setDataset(dataset).build())
        .hasMessage("Cannot build training data: no tokenizer set (setTokenizer)");

    // a shard gone after the build: the stream ends with an exception naming it, every call after too
    var images = IntStream.range(0, 12).mapToObj(DataFixtures::colourJpeg).toList();
    String lost = DataFixtures.handMade(spark, dir, "lost", images, 4);
    Files.delete(Path.of(lost, "shards", "part-00001.parquet"));
    try (var data = builder(4).setDataset(lost).setImageSize(16).optShuffleBuffer(1).build()) {
      assertThatThrownBy(() -> take(data, 3))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("Cannot read shard")
          .hasMessageContaining("part-00001.parquet");
      assertThatThrownBy(data::next).hasMessageContaining("part-00001.parquet");
    }
    var data = builder(4).build();
    data.close();
    assertThatThrownBy(data::next).hasMessage("Cannot read a batch from " + dataset + ": the training data is closed");
  }
}
