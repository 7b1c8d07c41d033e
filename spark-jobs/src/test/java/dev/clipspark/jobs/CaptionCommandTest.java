package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clip caption} and {@code clip evaluate --task captioning} end to end, on a real (untrained) LiMBeR checkpoint:
 * {@link LimberFixture}.
 */
class CaptionCommandTest {

  static final List<String> CAPTIONS = List.of("a red circle on a white background", "a blue square in the corner",
      "a green triangle near the top", "a yellow star at the centre", "a purple ring beside a small dot");

  @TempDir
  static Path dir;
  static String limber;
  static String data;
  static String clipDir;

  @BeforeAll
  static void fixtures() throws Exception {
    clipDir = dir.resolve("clip").toString();
    limber = LimberFixture.checkpoint(dir, CAPTIONS);
    data = "table:" + NotebooksTest.writeCaptionedTable(dir.resolve("data"));
  }

  static byte[] png(Color c, int seed) throws Exception {
    var image = new BufferedImage(24, 24, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, 24, 24);
    g.setColor(c);
    g.fillOval(2 + seed, 2, 14, 14);
    g.dispose();
    var out = new ByteArrayOutputStream();
    ImageIO.write(image, "png", out);
    return out.toByteArray();
  }

  @Test
  void captionWritesParquetAndAPageFromALimberCheckpoint() throws Exception {
    String out = dir.resolve("captions-out").toString();
    var printed = new StringWriter();
    TrainLearnsTest.clip(printed, "caption", "--limber", limber, "--images", data, "--out", out,
        "--decode", "beam", "--beam-width", "2", "--max-tokens", "5", "--master", "local[2]");
    assertThat(printed.toString()).contains("Captioned 5 images of " + data)
        .contains("beam width=2 length-penalty=1.0 max-tokens=5");
    var spark = SparkSession.builder().master("local[2]").appName("CaptionCommandTest").getOrCreate();
    try {
      List<Row> rows = spark.read().parquet(Path.of(out, "captions").toString()).orderBy("key").collectAsList();
      assertThat(rows).hasSize(5);
      for (int i = 0; i < 5; i++) {
        assertThat(rows.get(i).getString(0)).isEqualTo("img-" + i);
        assertThat(rows.get(i).getString(2)).isEqualTo(CAPTIONS.get(i));
        assertThat(rows.get(i).getString(3)).isEqualTo("beam width=2 length-penalty=1.0 max-tokens=5");
        assertThat(rows.get(i).getInt(4)).isBetween(0, 5);
      }
    } finally {
      spark.stop();
    }
    String html = Files.readString(Path.of(out, "captions.html"));
    assertThat(html.split("data:image/jpeg;base64,", -1)).hasSize(6);
    assertThat(html).contains("Reference: a red circle on a white background");
  }

  @Test
  @SuppressWarnings("unchecked")
  void evaluateCaptioningReportsTheModelAndBothBaselines() throws Exception {
    String out = dir.resolve("eval-out").toString();
    var printed = new StringWriter();
    TrainLearnsTest.clip(printed, "evaluate", "--task", "captioning", "--limber", limber, "--dataset",
        data, "--out", out, "--decode", "greedy", "--max-tokens", "4", "--master", "local[2]");
    assertThat(printed.toString()).contains("captioning of 5 distinct images (5 reference captions, 0 skipped)")
        .contains("model:", "shuffled images:", "no image:", "BLEU-4", "CIDEr-D", "report.html");
    Map<String, Object> report = new ObjectMapper().readValue(Path.of(out, "report.json").toFile(), Map.class);
    assertThat(report).containsEntry("task", "captioning");
    var checkpoint = (Map<String, Object>) report.get("checkpoint");
    assertThat(checkpoint).containsEntry("step", 5).containsEntry("features", "pooled").containsEntry("prompts", 2);
    var c = (Map<String, Object>) report.get("captioning");
    for (String v : List.of("model", "shuffled", "no_image")) {
      assertThat((Map<String, Object>) c.get(v)).containsKeys("bleu4", "cider_d", "bleu");
    }
    assertThat((Map<String, Object>) c.get("decoding")).containsEntry("decode", "greedy").containsEntry("max_tokens", 4);
    assertThat(Files.readString(Path.of(out, "report.html"))).contains("metrics-captioning", "caption-example-0");
  }

  @Test
  void badOptionsAreRefusedBeforeSparkStarts() {
    assertThat(fails("caption", "--limber", limber, "--images", data, "--out", "x", "--top-p", "1.5"))
        .contains("Cannot set --top-p to 1.5: must be above 0 and at most 1");
    assertThat(fails("caption", "--limber", limber, "--images", data, "--out", "x", "--decode", "topk"))
        .contains("Cannot set --decode to topk: must be greedy, beam or nucleus");
    assertThat(fails("caption", "--limber", limber, "--images", data, "--out", "x", "--max-tokens", "0"))
        .contains("Cannot set --max-tokens to 0: must be between 1 and 100000");
    assertThat(fails("caption", "--limber", limber, "--images", "nosuch:" + data, "--out", "x"))
        .contains("unknown kind \"nosuch\"");
    assertThat(fails("caption", "--limber", dir.resolve("missing").toString(), "--images", data, "--out",
        "x")).contains("Cannot read --limber " + dir.resolve("missing") + ": no such file or directory");
    assertThat(fails("caption", "--limber", clipDir, "--images", data, "--out", "x")).contains(clipDir);
    assertThat(fails("evaluate", "--task", "captioning", "--dataset", data, "--out", "x"))
        .contains("Cannot run --task captioning without --limber DIR");
    assertThat(fails("evaluate", "--task", "retrieval", "--checkpoint", clipDir, "--dataset", data,
        "--out", "x", "--decode", "greedy")).contains("Cannot use --limber or the decoding options with --task retrieval");
  }

  private static String fails(String... args) {
    var cl = Main.commandLine();
    var out = new StringWriter();
    var err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    assertThat(cl.execute(args)).as(String.join(" ", args)).isNotZero();
    return err.toString();
  }
}
