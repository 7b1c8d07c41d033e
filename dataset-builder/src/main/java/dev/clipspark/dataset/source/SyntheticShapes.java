package dev.clipspark.dataset.source;

import dev.clipspark.dataset.Candidate;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Area;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * A seeded generator of coloured-shape images with varied captions, for demos, tests and zero-shot
 * evaluation.
 *
 * <p>There are 8 colours times 6 shapes, 48 {@link ShapeClass}es
 * in all. An image shows one shape, its extent 40 to 80% of the image side, at a random position and
 * rotation, drawn antialiased over a noisy grey background whose brightness differs clearly from the
 * shape's (so white and black shapes stay visible too). It is encoded as PNG (three in four) or JPEG.
 * Every caption contains the class's colour and shape names as whole words and no other class's colour
 * or shape, so a query such as "red circle" matches exactly the captions of that class.
 *
 * <p>{@link #pair(long, long, int)} is a pure function of (seed, index, size): any executor produces the
 * same bytes and caption (on the same JDK, whose image encoders are deterministic).
 */
public final class SyntheticShapes {

  /** Colour names and their RGB values; chosen to be far apart in hue or brightness. */
  private static final Map<String, Color> COLOURS = new LinkedHashMap<>();

  static {
    COLOURS.put("red", new Color(220, 30, 30));
    COLOURS.put("green", new Color(30, 170, 50));
    COLOURS.put("blue", new Color(30, 70, 220));
    COLOURS.put("yellow", new Color(245, 220, 30));
    COLOURS.put("purple", new Color(140, 45, 180));
    COLOURS.put("orange", new Color(245, 135, 20));
    COLOURS.put("white", new Color(250, 250, 250));
    COLOURS.put("black", new Color(12, 12, 12));
  }

  private static final List<String> SHAPES = List.of("circle", "square", "triangle", "star", "cross", "ring");

  private static final List<ShapeClass> CLASSES;

  static {
    var all = new ArrayList<ShapeClass>();
    for (String c : COLOURS.keySet()) {
      for (String s : SHAPES) {
        all.add(new ShapeClass(c, s));
      }
    }
    CLASSES = Collections.unmodifiableList(all);
  }

  /**
   * Caption templates: {@code {c}} is the colour, {@code {C}} the colour capitalised, {@code {s}} the
   * shape, {@code {a}} "a" or "an" as the colour requires.
   */
  private static final List<String> TEMPLATES = List.of(
      "{a} {c} {s}",
      "a photo of {a} {c} {s}",
      "{a} {c} {s} on a grey background",
      "{c} {s}, digital art",
      "a small {c} {s}",
      "a large {c} {s}",
      "an illustration of a {s} in {c}",
      "a drawing of {a} {c} {s}",
      "a {s} coloured {c}",
      "the {c} {s}",
      "a close-up of {a} {c} {s}",
      "clip art of {a} {c} {s}",
      "{a} {c} {s} shape on a noisy background",
      "a simple picture showing one {c} {s}",
      "{s} ({c})",
      "{C} {s}.");

  /** Smallest brightness difference between shape and background, out of 255. */
  private static final int MIN_CONTRAST = 70;
  private static final int NOISE = 18;

  private SyntheticShapes() {}

  /** All classes, colour-major: red circle, red square, ..., black ring. */
  public static List<ShapeClass> classes() {
    return CLASSES;
  }

  /** The colour names, in order. */
  public static List<String> colours() {
    return List.copyOf(COLOURS.keySet());
  }

  /** The shape names, in order. */
  public static List<String> shapes() {
    return SHAPES;
  }

  /** The class of the pair at {@code index}: classes in turn, so any 48 consecutive indices cover all. */
  public static ShapeClass classOf(long index) {
    return CLASSES.get((int) Math.floorMod(index, (long) CLASSES.size()));
  }

  /**
   * Draws {@code c} on a {@code size} x {@code size} image and encodes it as PNG or JPEG.
   *
   * @param rnd the randomness for size, position, rotation, background, noise and encoding
   * @throws IllegalArgumentException if the class is not one of {@link #classes()} or {@code size < 16}
   */
  public static byte[] render(ShapeClass c, int size, SplittableRandom rnd) {
    Color colour = COLOURS.get(c.colour());
    if (colour == null || !SHAPES.contains(c.shape())) {
      throw new IllegalArgumentException("Cannot render " + c + ": not one of SyntheticShapes.classes()");
    }
    if (size < 16) {
      throw new IllegalArgumentException("Cannot render an image of side " + size + ": must be at least 16");
    }
    var img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    paintBackground(img, colour, rnd);
    double radius = size * (0.4 + 0.4 * rnd.nextDouble()) / 2;
    double cx = radius + rnd.nextDouble() * (size - 2 * radius);
    double cy = radius + rnd.nextDouble() * (size - 2 * radius);
    double angle = rnd.nextDouble() * 2 * Math.PI;
    Shape shape = AffineTransform.getTranslateInstance(cx, cy)
        .createTransformedShape(AffineTransform.getRotateInstance(angle)
            .createTransformedShape(unitShape(c.shape(), radius)));
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
      g.setColor(colour);
      g.fill(shape);
      g.setStroke(new BasicStroke(1f));
      g.draw(shape);
    } finally {
      g.dispose();
    }
    return encode(img, rnd.nextInt(4) == 0);
  }

  /** A caption for {@code c}, one of several templates chosen with {@code rnd}. */
  public static String caption(ShapeClass c, SplittableRandom rnd) {
    String t = TEMPLATES.get(rnd.nextInt(TEMPLATES.size()));
    String article = "aeiou".indexOf(c.colour().charAt(0)) >= 0 ? "an" : "a";
    String capitalised = Character.toUpperCase(c.colour().charAt(0)) + c.colour().substring(1);
    return t.replace("{a}", article)
        .replace("{c}", c.colour())
        .replace("{C}", capitalised)
        .replace("{s}", c.shape());
  }

  /**
   * The pair at {@code index} of the stream seeded with {@code seed}: class {@link #classOf(long)}, image
   * of side {@code size}, key {@code synthetic/%09d} and source {@code synthetic:}.
   */
  public static Candidate pair(long index, long seed, int size) {
    var rnd = new SplittableRandom(mix(seed * 0x9E3779B97F4A7C15L + mix(index)));
    SplittableRandom imageRnd = rnd.split();
    SplittableRandom captionRnd = rnd.split();
    ShapeClass c = classOf(index);
    return Candidate.ofBytes(String.format("synthetic/%09d", index), "synthetic:",
        caption(c, captionRnd), render(c, size, imageRnd));
  }

  /** The unit shape of circumradius {@code r}, centred on the origin (fits any rotation in a circle of r). */
  private static Shape unitShape(String name, double r) {
    switch (name) {
      case "circle":
        return new Ellipse2D.Double(-r, -r, 2 * r, 2 * r);
      case "square": {
        double h = r / Math.sqrt(2);
        return new Rectangle2D.Double(-h, -h, 2 * h, 2 * h);
      }
      case "triangle":
        return polygon(3, r, r, 0);
      case "star":
        return polygon(5, r, r * 0.42, 0);
      case "cross": {
        double a = r * 0.93;
        double w = r * 0.32;
        var area = new Area(new Rectangle2D.Double(-a, -w, 2 * a, 2 * w));
        area.add(new Area(new Rectangle2D.Double(-w, -a, 2 * w, 2 * a)));
        return area;
      }
      case "ring": {
        var area = new Area(new Ellipse2D.Double(-r, -r, 2 * r, 2 * r));
        double in = r * 0.55;
        area.subtract(new Area(new Ellipse2D.Double(-in, -in, 2 * in, 2 * in)));
        return area;
      }
      default:
        throw new IllegalArgumentException("Unknown shape " + name);
    }
  }

  /** A regular polygon ({@code inner == outer}) or star with {@code points} tips. */
  private static Shape polygon(int points, double outer, double inner, double phase) {
    var p = new Path2D.Double();
    int corners = inner == outer ? points : 2 * points;
    for (int i = 0; i < corners; i++) {
      double r = inner == outer || i % 2 == 0 ? outer : inner;
      double a = phase - Math.PI / 2 + 2 * Math.PI * i / corners;
      if (i == 0) {
        p.moveTo(r * Math.cos(a), r * Math.sin(a));
      } else {
        p.lineTo(r * Math.cos(a), r * Math.sin(a));
      }
    }
    p.closePath();
    return p;
  }

  /** Fills the image with noisy grey (slightly tinted) whose brightness is far from the shape's. */
  private static void paintBackground(BufferedImage img, Color shape, SplittableRandom rnd) {
    int lum = luminance(shape.getRed(), shape.getGreen(), shape.getBlue());
    int lo = 30;
    int hi = 225;
    int darkMax = lum - MIN_CONTRAST;
    int lightMin = lum + MIN_CONTRAST;
    int darkCount = Math.max(0, darkMax - lo + 1);
    int lightCount = Math.max(0, hi - lightMin + 1);
    int pick = rnd.nextInt(darkCount + lightCount);
    int base = pick < darkCount ? lo + pick : lightMin + (pick - darkCount);
    int tr = rnd.nextInt(-8, 9);
    int tg = rnd.nextInt(-8, 9);
    int tb = rnd.nextInt(-8, 9);
    int[] px = ((DataBufferInt) img.getRaster().getDataBuffer()).getData();
    for (int i = 0; i < px.length; i++) {
      int n = rnd.nextInt(-NOISE, NOISE + 1);
      px[i] = clamp(base + tr + n) << 16 | clamp(base + tg + n) << 8 | clamp(base + tb + n);
    }
  }

  /** Rec. 601 luma of an RGB colour, 0 to 255. */
  static int luminance(int r, int g, int b) {
    return (int) Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  private static byte[] encode(BufferedImage img, boolean jpeg) {
    var out = new ByteArrayOutputStream();
    try {
      if (!jpeg) {
        ImageIO.write(img, "png", out);
        return out.toByteArray();
      }
      ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
      try (var stream = new MemoryCacheImageOutputStream(out)) {
        ImageWriteParam param = writer.getDefaultWriteParam();
        param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        param.setCompressionQuality(0.92f);
        writer.setOutput(stream);
        writer.write(null, new IIOImage(img, null, null), param);
      } finally {
        writer.dispose();
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot encode a synthetic image: " + e.getMessage(), e);
    }
  }

  /** SplitMix64's finaliser: spreads nearby seeds and indices over the whole 64-bit range. */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
