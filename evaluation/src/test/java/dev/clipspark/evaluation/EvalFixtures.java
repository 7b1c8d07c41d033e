package dev.clipspark.evaluation;

import dev.clipspark.dataset.build.Hashes;
import dev.clipspark.dataset.build.Schemas;
import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.buffer.DataType;

/** Test data made by the tests: an untrained tiny checkpoint and small image datasets. */
final class EvalFixtures {

  /** Three colour classes, far apart in pixel space. */
  static final List<String> COLOURS = List.of("blue", "green", "red");
  static final Color[] RGB = {new Color(30, 40, 220), new Color(40, 200, 50), new Color(220, 30, 40)};

  private EvalFixtures() {}

  /** An untrained tiny-vit checkpoint under {@code run/checkpoints/step-0000000003}, with metrics.jsonl. */
  /** Evaluation options from {@code sets} (HOCON lines) over reference.conf. */
  static EvalOptions options(String... sets) {
    var config = com.typesafe.config.ConfigFactory.parseString(String.join("\n", sets))
        .withFallback(com.typesafe.config.ConfigFactory.defaultReference()).resolve();
    return EvalOptions.from(new dev.clipspark.dataset.config.Settings(config));
  }

  static String checkpoint(Path run, long seed) throws IOException {
    Files.createDirectories(run);
    Path merges = run.resolve("merges.txt");
    Files.writeString(merges, "#version: 0.2\nr e\nb l\ng r\ne e\nre d</w>\n", StandardCharsets.UTF_8);
    ModelConfig config = ModelConfigs.load("tiny-vit");
    var params = ClipParameters.initialize(config, seed, DataType.FLOAT);
    var state = new LinkedHashMap<String, Object>();
    state.put("tokenizer_vocab_size", 514 + 5);
    Checkpoints.save(run.toString(), new Checkpoint(3, state, config, merges.toString(), params, null),
        new Configuration());
    Files.writeString(run.resolve("metrics.jsonl"),
        "{\"step\":1,\"loss\":4.1,\"logit_scale\":14.2,\"lr\":0.001}\n"
            + "{\"step\":2,\"loss\":3.9,\"logit_scale\":14.3,\"lr\":0.001}\n"
            + "{\"step\":3,\"loss\":3.5,\"logit_scale\":14.4,\"lr\":0.0005}\n");
    return run.toString();
  }

  /** A square of one colour with noise, as PNG. */
  static byte[] colourImage(int cls, SplittableRandom rnd, int side) {
    var image = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setColor(Color.DARK_GRAY);
    g.fillRect(0, 0, side, side);
    g.setColor(RGB[cls]);
    int margin = rnd.nextInt(side / 4);
    g.fillRect(margin, margin, side - 2 * margin, side - 2 * margin);
    g.dispose();
    for (int i = 0; i < side; i++) {
      int x = rnd.nextInt(side);
      int y = rnd.nextInt(side);
      image.setRGB(x, y, rnd.nextInt(1 << 24));
    }
    var out = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  /** {@code root/train/CLASS/*.png} and {@code root/test/CLASS/*.png}. */
  static void colourFolders(Path root, int trainPerClass, int testPerClass, long seed) throws IOException {
    var rnd = new SplittableRandom(seed);
    for (String split : List.of("train", "test")) {
      int n = split.equals("train") ? trainPerClass : testPerClass;
      for (int c = 0; c < COLOURS.size(); c++) {
        Path dir = Files.createDirectories(root.resolve(split).resolve(COLOURS.get(c)));
        for (int i = 0; i < n; i++) {
          Files.write(dir.resolve(String.format("%03d.png", i)), colourImage(c, rnd, 20));
        }
      }
    }
  }

  /**
   * One captioned image of a build-dataset output.
   *
   * @param key the row's key
   * @param caption its caption
   * @param image encoded image bytes
   */
  record ShardRow(String key, String caption, byte[] image) {}

  /**
   * Writes {@code root/shards/part-*.parquet} in build-dataset's shard schema ({@link Schemas#SHARD}): sizes read
   * from the images, {@code sha256} of the bytes, the rows spread over {@code files} files.
   */
  static void shards(SparkSession spark, Path root, List<ShardRow> rows, int files) throws IOException {
    var out = new ArrayList<Row>();
    for (ShardRow r : rows) {
      BufferedImage image = ImageIO.read(new ByteArrayInputStream(r.image()));
      out.add(RowFactory.create(r.key(), r.caption(), r.image(), image.getWidth(), image.getHeight(),
          image.getWidth(), image.getHeight(), Hashes.sha256Hex(r.image()), "fixture", null, List.of("square")));
    }
    spark.createDataFrame(out, Schemas.SHARD).coalesce(1).repartition(files).write()
        .parquet(root.resolve("shards").toString());
  }
}
