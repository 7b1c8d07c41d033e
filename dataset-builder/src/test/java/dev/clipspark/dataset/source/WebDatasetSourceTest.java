package dev.clipspark.dataset.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WebDatasetSourceTest {

  private static SparkSession spark;
  private static final byte[] JPEG = image("jpeg");
  private static final byte[] PNG = image("png");
  private static final byte[] WEBP = "RIFF\0\0\0\0WEBPVP8 fake".getBytes(StandardCharsets.ISO_8859_1);
  private static final byte[] GARBAGE = "this is not an image at all".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] NOT_UTF8 = {'c', 'a', 't', ' ', (byte) 0xC3, (byte) 0x28, 'x'};

  @TempDir
  static Path dir;

  @BeforeAll
  static void start() throws IOException {
    spark = TestSpark.start("WebDatasetSourceTest");
    Path shards = Files.createDirectories(dir.resolve("shards"));
    Files.write(shards.resolve("00000.tar"), tar(goodMembers()));
    Files.write(shards.resolve("00001.tar"), truncated());
    Files.write(shards.resolve("broken.tar"), GARBAGE);
    Files.writeString(shards.resolve("_SUCCESS"), "");
    Files.writeString(shards.resolve("notes.txt"), "not a tar");
    Files.createDirectories(dir.resolve("empty"));
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** img2dataset-like members of shard 00000, in order. */
  private static Map<String, byte[]> goodMembers() {
    var m = new LinkedHashMap<String, byte[]>();
    m.put("000000000.jpg", JPEG);
    m.put("000000000.txt", utf8("a cat on a mat\n"));
    m.put("000000000.json", utf8("{\"url\": \"https://example.com/cat.jpg\", \"key\": \"000000000\"}"));
    m.put("000000001.png", PNG);
    m.put("000000001.txt", utf8("\uFEFFa dog, über alles\r\n"));
    m.put("000000001.json", utf8("{\"url\": \"https://example.com/dog.png\"}"));
    m.put("000000002.webp", WEBP);
    m.put("000000002.txt", utf8("a bird"));
    m.put("000000002.parquet", utf8("ignored extra member"));
    m.put("000000003.jpg", GARBAGE);
    m.put("000000003.txt", utf8("corrupt image, passed on"));
    m.put("000000004.jpg", JPEG);
    m.put("000000004.json", utf8("{\"url\": \"https://example.com/no-caption.jpg\"}"));
    m.put("000000005.txt", utf8("caption without image"));
    m.put("000000005.json", utf8("{not json"));
    m.put("000000006.jpg", JPEG);
    m.put("000000006.txt", NOT_UTF8);
    m.put("000000007.jpg", new byte[0]);
    m.put("000000007.txt", utf8("zero-byte image"));
    return m;
  }

  /** Shard 00001: two good keys, then key 12's image cut in the middle, key 13 never reached. */
  private static byte[] truncated() throws IOException {
    var m = new LinkedHashMap<String, byte[]>();
    m.put("000000010.jpg", JPEG);
    m.put("000000010.txt", utf8("ten"));
    m.put("000000011.png", PNG);
    m.put("000000011.txt", utf8("eleven"));
    byte[] big = new byte[5000];
    byte[] marker = utf8("CUT-HERE-MARKER");
    System.arraycopy(marker, 0, big, 2000, marker.length);
    m.put("000000012.txt", utf8("twelve"));
    m.put("000000012.jpg", big);
    m.put("000000013.jpg", JPEG);
    m.put("000000013.txt", utf8("thirteen"));
    byte[] full = tar(m);
    int at = indexOf(full, marker);
    return Arrays.copyOf(full, at + 100);
  }

  @Test
  void readsADirectoryOfTarsOnePartitionEach() {
    var source = Sources.parse("webdataset:" + dir.resolve("shards"), SourceOptions.defaults());
    var rdd = source.candidates(spark);
    assertThat(rdd.getNumPartitions()).isEqualTo(3);
    Map<String, Candidate> c = TestSpark.byKey(rdd.collect());

    assertThat(c.keySet()).containsExactly(
        "00000/000000000", "00000/000000001", "00000/000000002", "00000/000000003", "00000/000000004",
        "00000/000000005", "00000/000000006", "00000/000000007",
        "00001/000000010", "00001/000000011", "00001/000000012",
        "broken.tar");
    assertThat(c.values()).allSatisfy(x -> assertThat(x.source()).isEqualTo(source.spec()));

    Candidate cat = c.get("00000/000000000");
    assertThat(cat.reject()).isNull();
    assertThat(cat.caption()).isEqualTo("a cat on a mat");
    assertThat(cat.imageBytes()).isEqualTo(JPEG);
    assertThat(cat.url()).isEqualTo("https://example.com/cat.jpg");
    assertThat(cat.path()).isNull();

    assertThat(c.get("00000/000000001").caption()).isEqualTo("a dog, über alles");
    assertThat(c.get("00000/000000001").imageBytes()).isEqualTo(PNG);
    assertThat(c.get("00000/000000002").imageBytes()).isEqualTo(WEBP);
    assertThat(c.get("00000/000000002").url()).isNull();
    assertThat(c.get("00000/000000003").reject()).isNull();
    assertThat(c.get("00000/000000003").imageBytes()).isEqualTo(GARBAGE);

    assertThat(c.get("00000/000000004").reject()).isEqualTo(RejectReason.MISSING_CAPTION);
    assertThat(c.get("00000/000000004").url()).isEqualTo("https://example.com/no-caption.jpg");
    assertThat(c.get("00000/000000005").reject()).isEqualTo(RejectReason.MISSING_IMAGE);
    assertThat(c.get("00000/000000005").caption()).isEqualTo("caption without image");
    assertThat(c.get("00000/000000006").reject()).isEqualTo(RejectReason.CAPTION_NOT_UTF8);
    assertThat(c.get("00000/000000006").caption()).isNull();
    assertThat(c.get("00000/000000007").reject()).isNull();
    assertThat(c.get("00000/000000007").imageBytes()).isEmpty();

    assertThat(c.get("00001/000000010").caption()).isEqualTo("ten");
    assertThat(c.get("00001/000000011").imageBytes()).isEqualTo(PNG);
    assertThat(c.get("00001/000000012").reject()).isEqualTo(RejectReason.TRUNCATED_TAR_MEMBER);
    assertThat(c.get("00001/000000012").imageBytes()).isNull();
    assertThat(c.get("broken.tar").reject()).isEqualTo(RejectReason.READ_ERROR);
  }

  @Test
  void readsAGlobAndASingleFileAndGivesTheSameKeysTwice() {
    var glob = Sources.webdataset(dir.resolve("shards") + "/0000*.tar", SourceOptions.defaults());
    List<Candidate> first = glob.candidates(spark).collect();
    assertThat(first).extracting(Candidate::key).startsWith("00000/000000000").endsWith("00001/000000012")
        .hasSize(11).doesNotContain("broken.tar");
    assertThat(glob.candidates(spark).collect()).extracting(Candidate::key)
        .containsExactlyElementsOf(first.stream().map(Candidate::key).toList());

    var single = Sources.webdataset("file:" + dir.resolve("shards/00001.tar"), SourceOptions.defaults());
    assertThat(single.candidates(spark).collect()).extracting(Candidate::key, Candidate::reject)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("00001/000000010", null),
            org.assertj.core.groups.Tuple.tuple("00001/000000011", null),
            org.assertj.core.groups.Tuple.tuple("00001/000000012", RejectReason.TRUNCATED_TAR_MEMBER));
  }

  @Test
  void missingPathsAndEmptyListingsFailOnTheDriver() {
    String missing = dir.resolve("nope").toString();
    assertThatThrownBy(() -> Sources.webdataset(missing, SourceOptions.defaults()).candidates(spark))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot read source 'webdataset:" + missing + "': " + missing + " does not exist; expected "
            + WebDatasetSource.EXPECTED);
    String empty = dir.resolve("empty").toString();
    assertThatThrownBy(() -> Sources.webdataset(empty, SourceOptions.defaults()).candidates(spark))
        .hasMessage("Cannot read source 'webdataset:" + empty + "': no .tar files in " + empty + "; expected "
            + WebDatasetSource.EXPECTED);
    String glob = dir.resolve("shards") + "/*.zip";
    assertThatThrownBy(() -> Sources.webdataset(glob, SourceOptions.defaults()).candidates(spark))
        .hasMessageContaining("no file matches " + glob);
  }

  @Test
  void keyThatReappearsAndMembersOverTheLimitAreRejectedNotFatal() throws IOException {
    var m = new LinkedHashMap<String, byte[]>();
    m.put("a.jpg", JPEG);
    m.put("a.txt", utf8("first a"));
    m.put("b.jpg", new byte[3000]);
    m.put("b.txt", utf8("b is too large"));
    m.put("a.png", PNG);
    m.put("a.cls", utf8("7"));
    m.put("./sub/c.jpg", JPEG);
    m.put("./sub/c.txt", utf8("c"));
    var reader = new TarCandidateReader(new ByteArrayInputStream(tar(m)), "shard", "shard.tar", "webdataset:x", 2000);
    var out = new ArrayList<Candidate>();
    reader.forEachRemaining(out::add);
    assertThat(out).extracting(Candidate::key, Candidate::reject).containsExactly(
        org.assertj.core.groups.Tuple.tuple("shard/a", null),
        org.assertj.core.groups.Tuple.tuple("shard/b", RejectReason.READ_ERROR),
        org.assertj.core.groups.Tuple.tuple("shard/a~2", RejectReason.READ_ERROR),
        org.assertj.core.groups.Tuple.tuple("shard/sub/c", null));
    assertThat(out.get(3).caption()).isEqualTo("c");
  }

  @Test
  void anEmptyFileIsAnEmptyArchiveAndShortGarbageIsAReadError() {
    var empty = new TarCandidateReader(new ByteArrayInputStream(new byte[0]), "e", "e.tar", "s", 100);
    assertThat(empty.hasNext()).isFalse();
    var garbage = new TarCandidateReader(new ByteArrayInputStream(new byte[600]), "g", "g.tar", "s", 100);
    assertThat(garbage.hasNext()).isFalse();
    byte[] junk = new byte[2048];
    Arrays.fill(junk, (byte) 'x');
    var notTar = new TarCandidateReader(new ByteArrayInputStream(junk), "j", "j.tar", "s", 100);
    assertThat(notTar.next()).extracting(Candidate::key, Candidate::reject)
        .containsExactly("j.tar", RejectReason.READ_ERROR);
    assertThat(notTar.hasNext()).isFalse();
  }

  static byte[] tar(Map<String, byte[]> members) throws IOException {
    var bytes = new ByteArrayOutputStream();
    try (var out = new TarArchiveOutputStream(bytes)) {
      out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      for (var e : members.entrySet()) {
        var entry = new TarArchiveEntry(e.getKey());
        entry.setSize(e.getValue().length);
        out.putArchiveEntry(entry);
        out.write(e.getValue());
        out.closeArchiveEntry();
      }
    }
    return bytes.toByteArray();
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("marker not found");
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] image(String format) {
    var img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
    img.setRGB(3, 3, 0xFF0000);
    var out = new ByteArrayOutputStream();
    try {
      ImageIO.write(img, format, out);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return out.toByteArray();
  }
}
