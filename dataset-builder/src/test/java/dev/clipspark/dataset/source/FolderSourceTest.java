package dev.clipspark.dataset.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.groups.Tuple.tuple;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FolderSourceTest {

  private static SparkSession spark;
  private static Path tree;

  @TempDir
  static Path dir;

  @BeforeAll
  static void start() throws IOException {
    spark = TestSpark.start("FolderSourceTest");
    tree = dir.resolve("photos");
    write("a/cat.jpg", "JPEG cat");
    write("a/cat.txt", "\uFEFFa cat\n");
    write("a/cat.png", "PNG cat");
    write("a/b/dog.PNG", "PNG dog");
    write("a/b/dog.txt", "a dog");
    write("a/b/lonely.webp", "WEBP lonely");
    write("a/b/c/orphan.txt", "caption without image");
    write("bad.jpg", "JPEG bad");
    Files.write(tree.resolve("bad.txt"), new byte[] {'b', (byte) 0xE2, (byte) 0x82});
    write("empty.gif", "");
    write("empty.txt", "an empty image");
    write("big.bmp", "B".repeat(200));
    write("big.txt", "too big");
    write("notes.md", "not an image");
    write(".hidden/x.jpg", "hidden");
    write(".hidden/x.txt", "hidden");
    Files.createDirectories(dir.resolve("nothing/here"));
    Files.writeString(Files.createDirectories(dir.resolve("docs")).resolve("readme.md"), "no images");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static void write(String rel, String text) throws IOException {
    Path p = tree.resolve(rel);
    Files.createDirectories(p.getParent());
    Files.writeString(p, text, StandardCharsets.UTF_8);
  }

  @Test
  void pairsImagesWithCaptionsAcrossNestedDirectories() {
    var options = TestSpark.options("source { partitions = 3, max-file-bytes = 100 }");
    var source = Sources.folder(tree.toString(), options);
    List<Candidate> candidates = source.candidates(spark).collect();
    assertThat(candidates).extracting(Candidate::key, Candidate::caption, Candidate::reject).containsExactly(
        tuple("a/b/c/orphan", "caption without image", RejectReason.MISSING_IMAGE),
        tuple("a/b/dog", "a dog", null),
        tuple("a/b/lonely", null, RejectReason.MISSING_CAPTION),
        tuple("a/cat", "a cat", null),
        tuple("a/cat.png", "a cat", null),
        tuple("bad", null, RejectReason.CAPTION_NOT_UTF8),
        tuple("big", "too big", RejectReason.READ_ERROR),
        tuple("empty", "an empty image", null));
    Map<String, Candidate> byKey = TestSpark.byKey(candidates);
    assertThat(new String(byKey.get("a/cat").imageBytes(), StandardCharsets.UTF_8)).isEqualTo("JPEG cat");
    assertThat(new String(byKey.get("a/cat.png").imageBytes(), StandardCharsets.UTF_8)).isEqualTo("PNG cat");
    assertThat(new String(byKey.get("a/b/dog").imageBytes(), StandardCharsets.UTF_8)).isEqualTo("PNG dog");
    assertThat(byKey.get("empty").imageBytes()).isEmpty();
    assertThat(candidates).allSatisfy(c -> {
      assertThat(c.source()).isEqualTo("folder:" + tree);
      assertThat(c.url()).isNull();
      assertThat(c.path()).isNull();
    });
  }

  @Test
  void keysDoNotDependOnPartitions() {
    var one = Sources.folder("file:" + tree, TestSpark.options("source.partitions = 1"));
    var five = Sources.folder(tree.toString(), TestSpark.options("source.partitions = 5"));
    assertThat(one.candidates(spark).getNumPartitions()).isEqualTo(1);
    assertThat(five.candidates(spark).getNumPartitions()).isEqualTo(5);
    Map<String, Candidate> a = TestSpark.byKey(one.candidates(spark).collect());
    Map<String, Candidate> b = TestSpark.byKey(five.candidates(spark).collect());
    assertThat(a.keySet()).isEqualTo(b.keySet()).hasSize(8);
    a.forEach((k, c) -> {
      assertThat(b.get(k).caption()).isEqualTo(c.caption());
      assertThat(b.get(k).imageBytes()).isEqualTo(c.imageBytes());
      assertThat(b.get(k).reject()).isEqualTo(c.reject());
    });
  }

  @Test
  void onlyConfiguredExtensionsAreImages() {
    var source = Sources.folder(tree.resolve("a").toString(), TestSpark.options("source.folder.extensions = [png]"));
    assertThat(source.candidates(spark).collect()).extracting(Candidate::key, Candidate::reject).containsExactly(
        tuple("b/c/orphan", RejectReason.MISSING_IMAGE),
        tuple("b/dog", null),
        tuple("cat", null));
  }

  @Test
  void badPathsFailOnTheDriver() {
    String expected = "expected a directory of images (jpg, jpeg, png, webp, bmp, gif) with a .txt caption beside each";
    String missing = dir.resolve("missing").toString();
    assertThatThrownBy(() -> Sources.folder(missing, SourceOptions.defaults()).candidates(spark))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read source 'folder:" + missing + "': " + missing + " does not exist; " + expected);
    String file = tree.resolve("a/cat.jpg").toString();
    assertThatThrownBy(() -> Sources.folder(file, SourceOptions.defaults()).candidates(spark))
        .hasMessage("Cannot read source 'folder:" + file + "': " + file + " is a file; " + expected);
    String docs = dir.resolve("docs").toString();
    assertThatThrownBy(() -> Sources.folder(docs, SourceOptions.defaults()).candidates(spark))
        .hasMessage("Cannot read source 'folder:" + docs + "': no images or .txt captions in " + docs + "; "
            + expected);
  }
}
