package dev.clipspark.dataset.image;

import static dev.clipspark.dataset.image.Fixtures.blue;
import static dev.clipspark.dataset.image.Fixtures.decode;
import static dev.clipspark.dataset.image.Fixtures.encode;
import static dev.clipspark.dataset.image.Fixtures.green;
import static dev.clipspark.dataset.image.Fixtures.image;
import static dev.clipspark.dataset.image.Fixtures.red;
import static org.assertj.core.api.Assertions.assertThat;

import dev.clipspark.dataset.RejectReason;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ImageProcessorTest {

  /** 48 x 36, left half (221, 34, 34), right half (34, 34, 221); {@code cwebp -lossless} 1.2.4. */
  static final String WEBP_LOSSLESS = "UklGRioAAABXRUJQVlA4TB0AAAAvL8AIAA8wIhfZfVH3/EcLxILJ/KVD6I3of1Q4AgA=";
  /** The same image through {@code cwebp -q 80} (lossy VP8). */
  static final String WEBP_LOSSY = "UklGRmIAAABXRUJQVlA4IFYAAACQBACdASowACQAPm0wk0YkIyGhLigAgA2JQBoguB/APxA0wHyAAG/y4/3IegAA"
      + "/u7Tf8DdfFrkmD/fr9+v9rH3///AF4Zm/8Yl2g/4s7eCrEIDxgAAAA==";

  private static final ImageOptions SMALL = ImageOptions.defaults().withSize(32).withMinSide(8);

  private ImageProcessor processor = new ImageProcessor(SMALL);

  @AfterEach
  void close() {
    processor.close();
  }

  private ImageResult process(ImageOptions options, byte[] bytes) {
    processor.close();
    processor = new ImageProcessor(options);
    return processor.process(bytes);
  }

  private static BufferedImage photo(int w, int h) {
    return ImageBenchmark.photoLike(w, h, 5);
  }

  private static BufferedImage halves(int w, int h, int type, int left, int right) {
    return image(w, h, type, (x, y) -> x < w / 2 ? left : right);
  }

  /** Asserts a colour within {@code tol} per channel (JPEG is lossy). */
  private static void assertColour(int rgb, int r, int g, int b, int tol) {
    assertThat(new int[] {red(rgb), green(rgb), blue(rgb)})
        .as("rgb %06x", rgb & 0xffffff)
        .satisfies(c -> {
          assertThat(c[0]).isBetween(r - tol, r + tol);
          assertThat(c[1]).isBetween(g - tol, g + tol);
          assertThat(c[2]).isBetween(b - tol, b + tol);
        });
  }

  @Test
  void jpegBecomesBaselineJpegOfTheConfiguredSize() {
    byte[] source = ImageBenchmark.encodeJpeg(photo(400, 300), 90);
    ImageResult r = process(ImageOptions.defaults(), source);

    assertThat(r.ok()).as(r.detail()).isTrue();
    assertThat(r.reject()).isNull();
    assertThat(r.detail()).isNull();
    assertThat(r.sourceFormat()).isEqualTo("jpeg");
    assertThat(r.sourceWidth()).isEqualTo(400);
    assertThat(r.sourceHeight()).isEqualTo(300);
    assertThat(r.width()).isEqualTo(256);
    assertThat(r.height()).isEqualTo(256);
    BufferedImage out = decode(r.jpeg());
    assertThat(out.getWidth()).isEqualTo(256);
    assertThat(out.getHeight()).isEqualTo(256);
    assertThat(markers(r.jpeg())).contains(0xc0).doesNotContain(0xc2); // baseline, not progressive
  }

  @Test
  void outputKeepsTheImageContent() {
    // red left, blue right, through the JPEG path: colours and their sides survive
    byte[] source = ImageBenchmark.encodeJpeg(
        halves(200, 200, BufferedImage.TYPE_INT_RGB, 0xdd2222, 0x2222dd), 95);
    ImageResult r = processor.process(source);
    BufferedImage out = decode(r.jpeg());
    assertColour(out.getRGB(4, 16), 0xdd, 0x22, 0x22, 12);
    assertColour(out.getRGB(27, 16), 0x22, 0x22, 0xdd, 12);
  }

  @Test
  void pngAlphaIsCompositedOntoWhite() {
    // left half fully transparent red, right half opaque green, a translucent black square in the middle
    BufferedImage src = image(64, 64, BufferedImage.TYPE_INT_ARGB, (x, y) -> {
      if (x >= 24 && x < 40 && y >= 24 && y < 40) {
        return 0x80000000;
      }
      return x < 32 ? 0x00ff0000 : 0xff00c000;
    });
    ImageResult r = processor.process(encode(src, "png"));

    assertThat(r.ok()).as(r.detail()).isTrue();
    assertThat(r.sourceFormat()).isEqualTo("png");
    BufferedImage out = decode(r.jpeg());
    assertColour(out.getRGB(2, 2), 255, 255, 255, 6);
    assertColour(out.getRGB(29, 2), 0, 0xc0, 0, 10);
    assertColour(out.getRGB(16, 16), 127, 127, 127, 8);
  }

  @Test
  void gifAndBmpDecode() {
    BufferedImage indexed = halves(60, 40, BufferedImage.TYPE_BYTE_INDEXED, 0xff0000, 0x0000ff);
    ImageResult gif = processor.process(encode(indexed, "gif"));
    assertThat(gif.ok()).as(gif.detail()).isTrue();
    assertThat(gif.sourceFormat()).isEqualTo("gif");
    assertThat(gif.sourceWidth()).isEqualTo(60);
    assertColour(decode(gif.jpeg()).getRGB(1, 16), 255, 0, 0, 12);

    BufferedImage bgr = halves(60, 40, BufferedImage.TYPE_3BYTE_BGR, 0x00ff00, 0xffff00);
    ImageResult bmp = processor.process(encode(bgr, "bmp"));
    assertThat(bmp.ok()).as(bmp.detail()).isTrue();
    assertThat(bmp.sourceFormat()).isEqualTo("bmp");
    assertThat(bmp.sourceHeight()).isEqualTo(40);
    BufferedImage out = decode(bmp.jpeg());
    assertColour(out.getRGB(1, 16), 0, 255, 0, 12);
    assertColour(out.getRGB(30, 16), 255, 255, 0, 12);
  }

  @Test
  void grayscalePngIsReplicatedNotGammaShifted() {
    var gray = new BufferedImage(40, 40, BufferedImage.TYPE_BYTE_GRAY);
    gray.getRaster().setSamples(0, 0, 40, 40, 0, filled(1600, 100));
    ImageResult r = processor.process(encode(gray, "png"));

    assertThat(r.ok()).as(r.detail()).isTrue();
    assertColour(decode(r.jpeg()).getRGB(16, 16), 100, 100, 100, 3);
  }

  @Test
  void sixteenBitPngIsRoundedToEightBits() {
    var cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), new int[] {16, 16, 16}, false,
        false, Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
    WritableRaster raster = cm.createCompatibleWritableRaster(40, 40);
    for (int y = 0; y < 40; y++) {
      for (int x = 0; x < 40; x++) {
        raster.setPixel(x, y, new int[] {40000, 10000, 60000}); // 155.6, 38.9, 233.5 in 8 bits
      }
    }
    byte[] png = encode(new BufferedImage(cm, raster, false, null), "png");
    assertThat(png[24]).as("bit depth in IHDR").isEqualTo((byte) 16);

    ImageResult r = processor.process(png);
    assertThat(r.ok()).as(r.detail()).isTrue();
    assertColour(decode(r.jpeg()).getRGB(16, 16), 156, 39, 233, 4);
  }

  @ParameterizedTest
  @CsvSource({"lossless", "lossy"})
  void webpDecodes(String kind) {
    byte[] webp = Base64.getDecoder().decode(kind.equals("lossless") ? WEBP_LOSSLESS : WEBP_LOSSY);
    ImageResult r = process(SMALL.withResizeMode(ResizeMode.KEEP_RATIO), webp);

    assertThat(r.ok()).as(r.detail()).isTrue();
    assertThat(r.sourceFormat()).isEqualTo("webp");
    assertThat(r.sourceWidth()).isEqualTo(48);
    assertThat(r.sourceHeight()).isEqualTo(36);
    assertThat(r.width()).isEqualTo(43); // 48 * 32 / 36 = 42.67
    assertThat(r.height()).isEqualTo(32);
    BufferedImage out = decode(r.jpeg());
    assertColour(out.getRGB(3, 16), 0xdd, 0x22, 0x22, 20);
    assertColour(out.getRGB(39, 16), 0x22, 0x22, 0xdd, 20);
  }

  @Test
  void cmykJpegsAreConverted() throws IOException {
    // the JDK writes a 4-band raster as a plain CMYK JPEG (no Adobe marker, samples are ink amounts)
    byte[] plain = writeRaster(cmyk(new int[] {0, 255, 255, 0}, new int[] {255, 0, 255, 0}));
    ImageResult r = processor.process(plain);
    assertThat(r.ok()).as(r.detail()).isTrue();
    BufferedImage out = decode(r.jpeg());
    assertColour(out.getRGB(3, 16), 255, 0, 0, 12); // magenta + yellow ink
    assertColour(out.getRGB(28, 16), 0, 255, 0, 12); // cyan + yellow ink

    // Adobe (Photoshop) files store 255 minus the ink; K stored as 255 means no black ink
    byte[] stored = writeRaster(cmyk(new int[] {0, 255, 255, 255}, new int[] {255, 0, 255, 255}));
    byte[] app14 = {(byte) 0xff, (byte) 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0};
    byte[] adobe = new byte[stored.length + app14.length];
    System.arraycopy(stored, 0, adobe, 0, 2);
    System.arraycopy(app14, 0, adobe, 2, app14.length);
    System.arraycopy(stored, 2, adobe, 2 + app14.length, stored.length - 2);
    ImageResult inverted = processor.process(adobe);
    assertThat(inverted.ok()).as(inverted.detail()).isTrue();
    BufferedImage out2 = decode(inverted.jpeg());
    assertColour(out2.getRGB(3, 16), 0, 255, 255, 12); // full cyan ink
    assertColour(out2.getRGB(28, 16), 255, 0, 255, 12); // full magenta ink
  }

  private static Raster cmyk(int[] left, int[] right) {
    WritableRaster raster = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 40, 40, 4, null);
    for (int y = 0; y < 40; y++) {
      for (int x = 0; x < 40; x++) {
        raster.setPixel(x, y, x < 20 ? left : right);
      }
    }
    return raster;
  }

  @Test
  void emptyAndGarbageAreRefused() {
    assertThat(processor.process(new byte[0]).reject()).isEqualTo(RejectReason.EMPTY_FILE);
    assertThat(processor.process(null).reject()).isEqualTo(RejectReason.EMPTY_FILE);

    ImageResult garbage = processor.process("this is not an image, just text".getBytes(StandardCharsets.US_ASCII));
    assertThat(garbage.ok()).isFalse();
    assertThat(garbage.reject()).isEqualTo(RejectReason.UNSUPPORTED_FORMAT);
    assertThat(garbage.detail()).contains("0x74686973"); // "this"
    assertThat(garbage.sourceFormat()).isNull();
    assertThat(garbage.jpeg()).isNull();

    // a TIFF is an image, but not one of the supported formats
    byte[] tiff = encode(photo(40, 40), "tiff");
    assertThat(processor.process(tiff).reject()).isEqualTo(RejectReason.UNSUPPORTED_FORMAT);
  }

  @Test
  void truncatedJpegIsCorruptAndTheProcessorCarriesOn() {
    byte[] jpeg = ImageBenchmark.encodeJpeg(photo(200, 160), 90);
    ImageResult r = processor.process(Arrays.copyOf(jpeg, jpeg.length / 2));

    assertThat(r.reject()).isEqualTo(RejectReason.CORRUPT_IMAGE);
    assertThat(r.detail()).containsIgnoringCase("premature end");
    assertThat(r.sourceFormat()).isEqualTo("jpeg");
    assertThat(r.sourceWidth()).isEqualTo(200);

    // the whole file right after: the reused decoder holds no state from the broken one
    assertThat(processor.process(jpeg).ok()).isTrue();
    // a JPEG cut inside its header
    assertThat(processor.process(Arrays.copyOf(jpeg, 40)).reject()).isEqualTo(RejectReason.CORRUPT_IMAGE);
  }

  @Test
  void harmlessJpegWarningsAreNotCorruption() {
    byte[] jpeg = ImageBenchmark.encodeJpeg(photo(200, 160), 90);
    // junk between the entropy-coded data and EOI: libjpeg warns "extraneous bytes before marker 0xd9"
    byte[] junk = new byte[jpeg.length + 3];
    System.arraycopy(jpeg, 0, junk, 0, jpeg.length - 2);
    junk[jpeg.length - 2] = 0x11;
    junk[jpeg.length - 1] = 0x22;
    junk[jpeg.length] = 0x33;
    junk[jpeg.length + 1] = (byte) 0xff;
    junk[jpeg.length + 2] = (byte) 0xd9;
    ImageResult r = processor.process(junk);
    assertThat(r.ok()).as(r.detail()).isTrue();
  }

  @Test
  void brokenPngsAreCorrupt() {
    byte[] png = encode(photo(64, 48), "png");
    int idat = Fixtures.chunk(png, "IDAT");

    byte[] badCrc = png.clone();
    badCrc[idat + 20] ^= 0x55; // data changed, CRC left as it was
    ImageResult crc = processor.process(badCrc);
    assertThat(crc.reject()).isEqualTo(RejectReason.CORRUPT_IMAGE);
    assertThat(crc.detail()).contains("CRC mismatch in chunk IDAT");

    byte[] badData = png.clone();
    badData[idat + 8] = (byte) 0xff; // the zlib header of the image data, with a matching CRC
    badData[idat + 9] = (byte) 0xff;
    Fixtures.fixCrc(badData, idat);
    ImageResult data = processor.process(badData);
    assertThat(data.reject()).isEqualTo(RejectReason.CORRUPT_IMAGE);
    assertThat(data.detail()).startsWith("Cannot decode the png");

    ImageResult truncated = processor.process(Arrays.copyOf(png, png.length / 2));
    assertThat(truncated.reject()).isEqualTo(RejectReason.CORRUPT_IMAGE);
    assertThat(truncated.detail()).contains("past the end of the data");

    assertThat(processor.process(png).ok()).isTrue();
  }

  @Test
  void hugeDeclaredDimensionsAreRefusedFromTheHeader() {
    // no image data at all: decoding would fail as corrupt, so too_many_pixels proves it was never tried
    ImageResult png = processor.process(Fixtures.pngHeaderOnly(100_000, 100_000));
    assertThat(png.reject()).isEqualTo(RejectReason.TOO_MANY_PIXELS);
    assertThat(png.detail()).contains("100000 x 100000 = 10000000000 pixels", "image.max-pixels = 89478485");
    assertThat(png.sourceWidth()).isEqualTo(100_000);

    // a JPEG whose frame header is patched to 60000 x 60000
    byte[] jpeg = ImageBenchmark.encodeJpeg(photo(64, 64), 90);
    int sof = indexOfMarker(jpeg, 0xc0);
    jpeg[sof + 5] = (byte) 0xea; // height 0xea60 = 60000
    jpeg[sof + 6] = 0x60;
    jpeg[sof + 7] = (byte) 0xea;
    jpeg[sof + 8] = 0x60;
    ImageResult big = processor.process(jpeg);
    assertThat(big.reject()).isEqualTo(RejectReason.TOO_MANY_PIXELS);
    assertThat(big.sourceHeight()).isEqualTo(60_000);

    // the limit is the option's
    ImageResult small = process(SMALL.withMaxPixels(64 * 63), encode(photo(64, 64), "bmp"));
    assertThat(small.reject()).isEqualTo(RejectReason.TOO_MANY_PIXELS);
  }

  @Test
  void tinyImagesAreTooSmall() {
    ImageResult r = process(ImageOptions.defaults(), encode(photo(100, 31), "png"));
    assertThat(r.reject()).isEqualTo(RejectReason.TOO_SMALL);
    assertThat(r.detail()).isEqualTo("100 x 31: the shorter side is under image.min-side = 32");
    assertThat(process(ImageOptions.defaults(), encode(photo(100, 32), "png")).ok()).isTrue();
  }

  @ParameterizedTest
  @CsvSource({
    // mode,       source w, h, output w, h
    "CENTER_CROP, 300, 200, 64, 64",
    "CENTER_CROP, 200, 300, 64, 64",
    "KEEP_RATIO,  300, 200, 96, 64",
    "KEEP_RATIO,  200, 300, 64, 96",
    "KEEP_RATIO,  50,  40,  80, 64", // enlarged
    "BORDER,      300, 200, 64, 64",
    "BORDER,      200, 300, 64, 64",
  })
  void resizeModesGiveTheDocumentedDimensions(ResizeMode mode, int w, int h, int outW, int outH) {
    ImageResult r = process(SMALL.withSize(64).withResizeMode(mode),
        ImageBenchmark.encodeJpeg(photo(w, h), 90));
    assertThat(r.ok()).as(r.detail()).isTrue();
    assertThat(r.width()).isEqualTo(outW);
    assertThat(r.height()).isEqualTo(outH);
    BufferedImage out = decode(r.jpeg());
    assertThat(out.getWidth()).isEqualTo(outW);
    assertThat(out.getHeight()).isEqualTo(outH);
  }

  @Test
  void centerCropCutsTheSides() {
    // 300 x 100: red bands at both ends (x < 60, x >= 240), green in the middle third
    BufferedImage wide = image(300, 100, BufferedImage.TYPE_INT_RGB, (x, y) -> x < 60 || x >= 240 ? 0xff0000 : 0x00b000);
    ImageResult r = process(SMALL.withSize(50), encode(wide, "png"));
    BufferedImage out = decode(r.jpeg());
    for (int y = 0; y < 50; y += 7) {
      for (int x = 0; x < 50; x++) {
        assertColour(out.getRGB(x, y), 0, 0xb0, 0, 16);
      }
    }
    // portrait: bands at top and bottom go
    BufferedImage tall = image(100, 300, BufferedImage.TYPE_INT_RGB, (x, y) -> y < 60 || y >= 240 ? 0xff0000 : 0x00b000);
    BufferedImage out2 = decode(processor.process(encode(tall, "png")).jpeg());
    assertColour(out2.getRGB(25, 0), 0, 0xb0, 0, 16);
    assertColour(out2.getRGB(25, 49), 0, 0xb0, 0, 16);
  }

  @Test
  void borderPadsWithBlack() {
    BufferedImage wide = image(300, 100, BufferedImage.TYPE_INT_RGB, (x, y) -> 0x00b000);
    ImageResult r = process(SMALL.withSize(60).withResizeMode(ResizeMode.BORDER), encode(wide, "png"));
    assertThat(r.width()).isEqualTo(60);
    assertThat(r.height()).isEqualTo(60);
    BufferedImage out = decode(r.jpeg());
    // content is 60 x 20, rows 20..39
    for (int[] corner : new int[][] {{1, 1}, {58, 1}, {1, 58}, {58, 58}, {30, 10}, {30, 50}}) {
      assertColour(out.getRGB(corner[0], corner[1]), 0, 0, 0, 10);
    }
    assertColour(out.getRGB(30, 30), 0, 0xb0, 0, 12);
    assertColour(out.getRGB(2, 30), 0, 0xb0, 0, 16);

    BufferedImage tall = image(100, 300, BufferedImage.TYPE_INT_RGB, (x, y) -> 0x00b000);
    BufferedImage out2 = decode(processor.process(encode(tall, "png")).jpeg());
    assertColour(out2.getRGB(5, 30), 0, 0, 0, 10);
    assertColour(out2.getRGB(30, 30), 0, 0xb0, 0, 12);
  }

  @Test
  void strongDownscalingDoesNotAlias() {
    // a one-pixel checkerboard averages to grey; point sampling or plain bilinear would give black, white or
    // moire
    BufferedImage checker = image(512, 512, BufferedImage.TYPE_BYTE_GRAY,
        (x, y) -> ((x + y) & 1) == 0 ? 0xffffff : 0x000000);
    ImageResult r = process(SMALL.withSize(40), encode(checker, "png"));
    BufferedImage out = decode(r.jpeg());
    for (int y = 0; y < 40; y++) {
      for (int x = 0; x < 40; x++) {
        assertColour(out.getRGB(x, y), 128, 128, 128, 4);
      }
    }
  }

  @Test
  void largeJpegsAreSubsampledWithoutLosingGeometry() {
    var options = SMALL.withSize(16);
    processor = new ImageProcessor(options);
    assertThat(processor.subsampling("jpeg", 400, 300)).isEqualTo(4); // 300 / 4 = 75 >= 4 * 16
    assertThat(processor.subsampling("jpeg", 100, 60)).isEqualTo(1);
    assertThat(processor.subsampling("png", 400, 300)).isEqualTo(1);
    assertThat(new ImageProcessor(options.withResizeMode(ResizeMode.BORDER)).subsampling("jpeg", 400, 300))
        .isEqualTo(6); // by the longer side: 400 / 6 = 66

    // 400 x 300, left 200 columns red: after the 300 x 300 centre crop, the boundary sits at the middle
    BufferedImage src = halves(400, 300, BufferedImage.TYPE_INT_RGB, 0xff0000, 0x0000ff);
    ImageResult r = processor.process(ImageBenchmark.encodeJpeg(src, 95));
    assertThat(r.ok()).as(r.detail()).isTrue();
    assertThat(r.width()).isEqualTo(16);
    assertThat(r.sourceWidth()).isEqualTo(400);
    BufferedImage out = decode(r.jpeg());
    assertColour(out.getRGB(4, 8), 255, 0, 0, 16);
    assertColour(out.getRGB(11, 8), 0, 0, 255, 16);
  }

  @Test
  void qualityChangesTheOutputSize() {
    byte[] source = ImageBenchmark.encodeJpeg(photo(300, 300), 95);
    int high = process(SMALL.withSize(128).withJpegQuality(95), source).jpeg().length;
    int low = process(SMALL.withSize(128).withJpegQuality(30), source).jpeg().length;
    assertThat(low).isLessThan(high * 2 / 3);
  }

  private static byte[] writeRaster(Raster raster) throws IOException {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    var bytes = new ByteArrayOutputStream();
    try (var out = new MemoryCacheImageOutputStream(bytes)) {
      writer.setOutput(out);
      writer.write(null, new IIOImage(raster, null, null), null);
    } finally {
      writer.dispose();
    }
    return bytes.toByteArray();
  }

  private static int[] filled(int n, int v) {
    int[] a = new int[n];
    Arrays.fill(a, v);
    return a;
  }

  /** The markers of a JPEG up to its first scan. */
  private static java.util.List<Integer> markers(byte[] jpeg) {
    var list = new java.util.ArrayList<Integer>();
    int pos = 2;
    while (pos + 4 <= jpeg.length) {
      int m = jpeg[pos + 1] & 0xff;
      list.add(m);
      if (m == 0xda) {
        break;
      }
      pos += 2 + (((jpeg[pos + 2] & 0xff) << 8) | (jpeg[pos + 3] & 0xff));
    }
    return list;
  }

  private static int indexOfMarker(byte[] jpeg, int marker) {
    int pos = 2;
    while (pos + 4 <= jpeg.length) {
      if ((jpeg[pos + 1] & 0xff) == marker) {
        return pos;
      }
      pos += 2 + (((jpeg[pos + 2] & 0xff) << 8) | (jpeg[pos + 3] & 0xff));
    }
    throw new IllegalStateException("no marker " + marker);
  }
}
