package dev.clipspark.training.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {

  static SparkSession spark;
  @TempDir Path dir;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder()
        .master("local[2]")
        .appName("BpeTrainerTest")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** Captions holding low x5, lower x2, newest x6, widest x3 (in mixed case and punctuation-free), and one rare word. */
  static List<String> classicCaptions() {
    var captions = new ArrayList<String>();
    captions.addAll(Collections.nCopies(5, "LOW"));
    captions.add("lower newest");
    captions.add("  newest Lower  widest");
    captions.addAll(Collections.nCopies(3, "newest"));
    captions.add("newest widest widest");
    captions.add(null);
    captions.add("zebra");
    return captions;
  }

  Dataset<String> captions(List<String> texts, int partitions) {
    return spark.createDataset(texts, Encoders.STRING()).repartition(partitions);
  }

  @Test
  void learnsTheClassicMergesFromCaptions() throws Exception {
    String out = dir.resolve("merges.txt").toString();
    TrainResult r = BpeTrainer.train(captions(classicCaptions(), 3), 514 + 10, 2, out);
    assertThat(r.mergesLearned()).isEqualTo(10);
    assertThat(r.complete()).isTrue();
    assertThat(r.vocabSize()).isEqualTo(524);
    assertThat(r.distinctWords()).isEqualTo(5);
    assertThat(r.wordOccurrences()).isEqualTo(5 + 2 + 6 + 3 + 1);
    assertThat(r.wordsUsed()).isEqualTo(4);
    assertThat(MergesFile.readAll(out, new Configuration()))
        .containsExactlyElementsOf(BpeLearnerTest.CLASSIC_MERGES.subList(0, 10));
    assertThat(Files.readAllLines(Path.of(out)).get(0)).isEqualTo("#version: 0.2 - trained by ClipSpark");
    assertThat(Files.readAllLines(Path.of(out)).get(1)).isEqualTo("e s");
  }

  @Test
  void fewerMergesThanAskedAreWrittenAndReported() {
    String out = dir.resolve("merges.txt.gz").toString();
    TrainResult r = BpeTrainer.train(captions(classicCaptions(), 2), 49408, 1, out);
    // "zebra" (seen once) is used, but adds no pair seen twice
    assertThat(r.wordsUsed()).isEqualTo(5);
    assertThat(r.mergesLearned()).isEqualTo(13);
    assertThat(r.complete()).isFalse();
    assertThat(r.mergesAsked()).isEqualTo(48894);
    assertThat(r.vocabSize()).isEqualTo(527);
    ClipTokenizer tok = ClipTokenizer.load(out, r.vocabSize());
    assertThat(tok.merges()).containsExactlyElementsOf(BpeLearnerTest.CLASSIC_MERGES);
    assertThatThrownBy(() -> ClipTokenizer.load(out, 49408))
        .hasMessageContaining("it has 13 merges, but a vocabulary of 49408 tokens needs 48894")
        .hasMessageEndingWith("use a vocabulary size of at most 527");
  }

  @Test
  void resultDoesNotDependOnPartitioningAndRoundTrips() throws Exception {
    var random = new Random(42);
    String[] common = {"red", "buses", "café", "東京", "towers", "naïve", "😀", "it's", "rock'n'roll", "&amp;",
        "photograph", "photos", "2024"};
    String[] syllables = {"ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ven", "dar", "qu", "é", "ø", "ß", "ton",
        "gra", "phy", "ing", "er", "s"};
    var texts = new ArrayList<String>();
    for (int i = 0; i < 3000; i++) {
      var sb = new StringBuilder();
      int n = 3 + random.nextInt(10);
      for (int w = 0; w < n; w++) {
        if (random.nextBoolean()) {
          sb.append(common[(int) Math.floor(Math.pow(random.nextDouble(), 2) * common.length)]);
        } else {
          for (int k = 1 + random.nextInt(4); k > 0; k--) {
            sb.append(syllables[(int) Math.floor(Math.pow(random.nextDouble(), 2) * syllables.length)]);
          }
        }
        sb.append(random.nextInt(8) == 0 ? ", " : " ");
      }
      texts.add(sb.toString());
    }
    String one = dir.resolve("one.txt").toString();
    String five = dir.resolve("five.txt").toString();
    long t0 = System.nanoTime();
    TrainResult r1 = BpeTrainer.train(captions(texts, 1), 1000, 2, one);
    long t1 = System.nanoTime();
    TrainResult r5 = BpeTrainer.train(captions(texts, 5), 1000, 2, five);
    System.out.printf("BpeTrainer: 3000 captions, %d merges, %.2f s%n", r1.mergesLearned(), (t1 - t0) / 1e9);
    assertThat(Files.readAllBytes(Path.of(one))).isEqualTo(Files.readAllBytes(Path.of(five)));
    assertThat(r1).isEqualTo(new TrainResult(one, r5.vocabSizeAsked(), r5.vocabSize(), r5.mergesLearned(),
        r5.distinctWords(), r5.wordOccurrences(), r5.wordsUsed(), r5.minWordCount()));
    assertThat(r1.mergesLearned()).isEqualTo(486);
    assertThat(r1.complete()).isTrue();
    assertThat(r1.distinctWords()).isGreaterThan(r1.wordsUsed()).isGreaterThan(1000);

    // the file loads back to exactly the learned vocabulary, and the words encode to whole tokens
    ClipTokenizer tok = ClipTokenizer.load(one, r1.vocabSize());
    var merges = MergesFile.readAll(one, new Configuration());
    assertThat(tok.merges()).isEqualTo(merges);
    assertThat(tok.vocabSize()).isEqualTo(514 + merges.size());
    for (int i = 0; i < merges.size(); i++) {
      assertThat(tok.token(512 + i)).isEqualTo(merges.get(i).token());
    }
    assertThat(tok.encode("photograph")).hasSize(1);
    assertThat(tok.encode("café")).hasSize(1);
    assertThat(tok.decode(tok.encode("Red buses & naïve photos"))).isEqualTo("red buses & naïve photos ");
    // the learned merges are the driver algorithm's on the same counts (words seen at least twice)
    var counts = BpeTrainer.countWords(texts);
    counts.values().removeIf(c -> c < 2);
    assertThat(counts).hasSize((int) r1.wordsUsed());
    assertThat(merges).isEqualTo(BpeLearner.learn(counts, r1.mergesAsked()));
  }

  @Test
  void trainsFromAParquetDatasetWithAManifest() throws Exception {
    Path dataset = dir.resolve("dataset");
    List<String> texts = classicCaptions().stream().filter(t -> t != null).toList();
    var rows = new ArrayList<Caption>();
    for (int i = 0; i < texts.size(); i++) {
      rows.add(new Caption("k" + i, texts.get(i), i));
    }
    var shards = new ArrayList<String>();
    long total = 0;
    for (int s = 0; s < 2; s++) {
      var part = rows.subList(s * 6, Math.min(rows.size(), (s + 1) * 6));
      Path tmp = dir.resolve("tmp" + s);
      spark.createDataFrame(part, Caption.class).coalesce(1).write().parquet(tmp.toString());
      Path file;
      try (var files = Files.list(tmp)) {
        file = files.filter(p -> p.getFileName().toString().endsWith(".parquet")).findFirst().orElseThrow();
      }
      Path target = dataset.resolve(String.format("shards/part-%05d.parquet", s));
      Files.createDirectories(target.getParent());
      Files.move(file, target);
      shards.add(String.format("{\"path\":\"shards/part-%05d.parquet\",\"rows\":%d,\"bytes\":%d}", s, part.size(),
          Files.size(target)));
      total += part.size();
    }
    // a stray file the manifest does not list is not read
    Files.writeString(dataset.resolve("shards/notes.txt"), "not a shard");
    Files.writeString(dataset.resolve("manifest.json"), String.format(
        "{\"schema_version\":1,\"total_rows\":%d,\"shard_rows\":6,\"shards\":[%s],\"queries\":\"q\",\"sources\":[],"
            + "\"fingerprint\":\"x\",\"settings\":{},\"created\":\"2024-01-01T00:00:00Z\"}", total, String.join(",", shards)));
    String out = dir.resolve("from-dataset.txt.gz").toString();
    TrainResult r = BpeTrainer.train(spark, dataset.toString(), 1000, 2, out);
    assertThat(r.mergesLearned()).isEqualTo(13);
    assertThat(ClipTokenizer.load(out, r.vocabSize()).merges()).containsExactlyElementsOf(BpeLearnerTest.CLASSIC_MERGES);
  }

  @Test
  void argumentsAndDatasetsAreChecked() {
    String out = dir.resolve("x.txt").toString();
    assertThatThrownBy(() -> BpeTrainer.train(spark, dir.toString(), 514, 2, out))
        .hasMessage("Cannot train a tokenizer with a vocabulary of 514 tokens: it must be between 515 (512 byte "
            + "symbols, 2 special tokens and at least 1 merge) and 1000000");
    assertThatThrownBy(() -> BpeTrainer.train(spark, dir.toString(), 600, 0, out))
        .hasMessage("Cannot train a tokenizer with a minimum word count of 0: it must be at least 1");
    assertThatThrownBy(() -> BpeTrainer.train(spark, dir.toString(), 600, 2, out))
        .hasMessageStartingWith("Cannot read dataset " + dir + ": it has no manifest.json");
    assertThat(Files.exists(Path.of(out))).isFalse();
  }

  /** A shard row: the columns a dataset has besides the caption do not matter to the trainer. */
  public static final class Caption implements java.io.Serializable {
    private String key;
    private String caption;
    private int width;

    public Caption() {}

    Caption(String key, String caption, int width) {
      this.key = key;
      this.caption = caption;
      this.width = width;
    }

    public String getKey() {
      return key;
    }

    public void setKey(String key) {
      this.key = key;
    }

    public String getCaption() {
      return caption;
    }

    public void setCaption(String caption) {
      this.caption = caption;
    }

    public int getWidth() {
      return width;
    }

    public void setWidth(int width) {
      this.width = width;
    }
  }
}
