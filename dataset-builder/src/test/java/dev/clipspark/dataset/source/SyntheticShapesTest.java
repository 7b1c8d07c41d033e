package dev.clipspark.dataset.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.Words;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SyntheticShapesTest {

  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.start("SyntheticShapesTest");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void classesAreEveryColourTimesEveryShape() {
    List<ShapeClass> classes = SyntheticShapes.classes();
    assertThat(classes).hasSize(SyntheticShapes.colours().size() * SyntheticShapes.shapes().size()).hasSize(48);
    assertThat(classes).extracting(ShapeClass::label).doesNotHaveDuplicates()
        .contains("red circle", "black ring", "orange star", "white cross");
    assertThat(SyntheticShapes.classOf(0)).isEqualTo(classes.get(0));
    assertThat(SyntheticShapes.classOf(48 + 5)).isEqualTo(classes.get(5));
  }

  @Test
  void captionsNameTheirClassAsWholeWordsAndNoOtherClass() {
    var rnd = new SplittableRandom(3);
    var captions = new HashSet<String>();
    for (ShapeClass c : SyntheticShapes.classes()) {
      for (int i = 0; i < 40; i++) {
        String caption = SyntheticShapes.caption(c, rnd);
        captions.add(caption.replace(c.colour(), "C").replace(c.shape(), "S"));
        List<String> words = Words.tokenize(caption);
        assertThat(words).as(caption).contains(c.colour(), c.shape());
        for (String colour : SyntheticShapes.colours()) {
          if (!colour.equals(c.colour())) {
            assertThat(words).as(caption).doesNotContain(colour);
          }
        }
        for (String shape : SyntheticShapes.shapes()) {
          if (!shape.equals(c.shape())) {
            assertThat(words).as(caption).doesNotContain(shape);
          }
        }
      }
    }
    assertThat(captions).as("templates in use").hasSizeGreaterThanOrEqualTo(10);
    assertThat(SyntheticShapes.caption(new ShapeClass("orange", "ring"), new SplittableRandom(0)))
        .doesNotContain("a orange");
  }

  @Test
  void imagesDecodeAndShowTheShapeColour() throws IOException {
    var rnd = new SplittableRandom(11);
    for (ShapeClass c : SyntheticShapes.classes()) {
      byte[] bytes = SyntheticShapes.render(c, 64, rnd);
      BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
      assertThat(img).as(c.label()).isNotNull();
      assertThat(img.getWidth()).isEqualTo(64);
      assertThat(img.getHeight()).isEqualTo(64);
      int rgb = colourOf(c);
      int near = 0;
      for (int y = 0; y < 64; y++) {
        for (int x = 0; x < 64; x++) {
          near += distance(img.getRGB(x, y), rgb) < 60 ? 1 : 0;
        }
      }
      assertThat(near).as("pixels of %s's colour", c.label()).isGreaterThan(64 * 64 / 50);
      assertThat(near).as("background of %s differs from the shape", c.label()).isLessThan(64 * 64 * 6 / 10);
    }
    assertThatThrownBy(() -> SyntheticShapes.render(new ShapeClass("teal", "circle"), 64, rnd))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("teal");
  }

  @Test
  void pairsAreAFunctionOfSeedAndIndex() {
    Candidate a = SyntheticShapes.pair(17, 42, 48);
    Candidate b = SyntheticShapes.pair(17, 42, 48);
    assertThat(a.key()).isEqualTo("synthetic/000000017");
    assertThat(a.imageBytes()).isEqualTo(b.imageBytes());
    assertThat(a.caption()).isEqualTo(b.caption());
    assertThat(Words.tokenize(a.caption())).contains(SyntheticShapes.classOf(17).colour());
    assertThat(SyntheticShapes.pair(17, 43, 48).imageBytes()).isNotEqualTo(a.imageBytes());
    assertThat(SyntheticShapes.pair(18, 42, 48).imageBytes()).isNotEqualTo(a.imageBytes());
  }

  @Test
  void sourceGeneratesCountPairsIndependentOfPartitions() {
    var options = TestSpark.options("source.synthetic { count = 60, image-size = 32, seed = 5 }");
    var two = Sources.parse("synthetic:demo", options);
    var rdd = two.candidates(spark);
    assertThat(rdd.getNumPartitions()).isEqualTo(2);
    List<Candidate> all = rdd.collect();
    assertThat(all).hasSize(60);
    assertThat(all.get(0).key()).isEqualTo("synthetic/000000000");
    assertThat(all.get(59).key()).isEqualTo("synthetic/000000059");
    assertThat(all).allSatisfy(c -> {
      assertThat(c.source()).isEqualTo("synthetic:demo");
      assertThat(c.reject()).isNull();
    });
    assertThat(all.stream().map(c -> SyntheticShapes.classOf(Long.parseLong(c.key().substring(10))))
        .collect(Collectors.toSet())).containsExactlyInAnyOrderElementsOf(SyntheticShapes.classes());

    List<Candidate> seven = Sources.synthetic(options.withPartitions(7)).candidates(spark).collect();
    assertThat(captions(seven)).isEqualTo(captions(all));
    for (int i = 0; i < 60; i++) {
      assertThat(seven.get(i).imageBytes()).isEqualTo(all.get(i).imageBytes());
    }

    List<Candidate> otherSeed = Sources.synthetic(options.withSyntheticSeed(6)).candidates(spark).collect();
    assertThat(otherSeed.get(0).imageBytes()).isNotEqualTo(all.get(0).imageBytes());
  }

  private static Map<String, String> captions(List<Candidate> c) {
    return c.stream().collect(Collectors.toMap(Candidate::key, Candidate::caption));
  }

  private static int colourOf(ShapeClass c) {
    return switch (c.colour()) {
      case "red" -> 0xDC1E1E;
      case "green" -> 0x1EAA32;
      case "blue" -> 0x1E46DC;
      case "yellow" -> 0xF5DC1E;
      case "purple" -> 0x8C2DB4;
      case "orange" -> 0xF58714;
      case "white" -> 0xFAFAFA;
      case "black" -> 0x0C0C0C;
      default -> throw new AssertionError(c);
    };
  }

  private static double distance(int a, int b) {
    int dr = (a >> 16 & 255) - (b >> 16 & 255);
    int dg = (a >> 8 & 255) - (b >> 8 & 255);
    int db = (a & 255) - (b & 255);
    return Math.sqrt(dr * dr + dg * dg + db * db);
  }
}
