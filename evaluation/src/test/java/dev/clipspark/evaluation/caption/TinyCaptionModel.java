package dev.clipspark.evaluation.caption;

import dev.clipspark.training.lm.Gpt2Model;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.SoftPromptMap;
import dev.clipspark.training.tokenizer.BytesToUnicode;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A real, untrained captioning model for the tests: an image's features are its mean red, green and blue
 * (the "image encoder"), P maps them to 2 soft prompts of a 1-layer GPT-2 of width 16 over a byte-level vocabulary
 * (256 byte symbols and {@code <|endoftext|>}). {@code location} is {@code tiny:SEED}.
 */
final class TinyCaptionModel implements CaptionModel {

  static final LmConfig CONFIG = new LmConfig("tiny-caption", 257, 32, 16, 1, 2, 1e-5);
  /** The loader the tests ship to executors: one model per location and thread. */
  static final CaptionModel.Loader LOADER = (location, conf) -> cached(location);

  private static final ThreadLocal<Map<String, TinyCaptionModel>> CACHE = ThreadLocal.withInitial(HashMap::new);

  private final String location;
  private final Gpt2Model lm;
  private final SoftPromptMap map;
  private final Gpt2Tokenizer tokenizer;

  private TinyCaptionModel(String location) {
    if (!location.startsWith("tiny:")) {
      throw new IllegalArgumentException("Cannot read the caption model " + location + ": expected tiny:SEED");
    }
    long seed = Long.parseLong(location.substring(5));
    this.location = location;
    this.lm = Gpt2Model.initialize(CONFIG, seed, DataType.FLOAT);
    // Larger embeddings make the next-token distributions peaked, so captions end at <|endoftext|> now and then.
    lm.parameters().value("wte.weight").muli(40);
    this.map = new SoftPromptMap(SoftPromptMap.initialize(3, 2, CONFIG.nEmbd(), seed + 1, DataType.FLOAT), 2);
    map.parameters().value(SoftPromptMap.WEIGHT).muli(20);
    var vocab = new HashMap<String, Integer>();
    for (int b = 0; b < 256; b++) {
      vocab.put(String.valueOf(BytesToUnicode.charOf(b)), b);
    }
    vocab.put(Gpt2Tokenizer.END_OF_TEXT, 256);
    this.tokenizer = Gpt2Tokenizer.of(vocab, List.of());
  }

  static TinyCaptionModel cached(String location) {
    return CACHE.get().computeIfAbsent(location, TinyCaptionModel::new);
  }

  @Override
  public String directory() {
    return location;
  }

  @Override
  public String name() {
    return "tiny-caption, k = 2";
  }

  @Override
  public long step() {
    return 7;
  }

  @Override
  public float[] preprocess(byte[] image) {
    BufferedImage img;
    try {
      img = ImageIO.read(new ByteArrayInputStream(image));
    } catch (IOException e) {
      img = null;
    }
    if (img == null) {
      throw new IllegalArgumentException("the bytes do not decode as an image");
    }
    double[] sum = new double[3];
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int rgb = img.getRGB(x, y);
        sum[0] += (rgb >> 16) & 0xff;
        sum[1] += (rgb >> 8) & 0xff;
        sum[2] += rgb & 0xff;
      }
    }
    double n = 255.0 * img.getWidth() * img.getHeight();
    return new float[] {(float) (sum[0] / n), (float) (sum[1] / n), (float) (sum[2] / n)};
  }

  @Override
  public INDArray features(List<float[]> pixels) {
    return Nd4j.createFromArray(pixels.toArray(new float[0][]));
  }

  @Override
  public INDArray prompts(INDArray features) {
    return map.forward(features);
  }

  @Override
  public Gpt2Model languageModel() {
    return lm;
  }

  @Override
  public int endOfText() {
    return tokenizer.endOfText();
  }

  @Override
  public String decode(int[] tokens) {
    return tokenizer.decode(tokens);
  }

}
