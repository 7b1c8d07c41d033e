package dev.clipspark.evaluation.caption;

import dev.clipspark.dataset.config.Settings;
import dev.clipspark.training.lm.Decoding;
import java.io.Serializable;

/**
 * Settings of {@code clip caption} and {@code evaluate --task captioning}: the decoding ({@code lm.decode.*}, see
 * {@link Decoding}) and the {@code eval.captioning.*} keys, validated with messages naming the key.
 *
 * @param decoding    how captions are written
 * @param batchSize   images encoded and captioned at once per Spark task
 * @param examples    evaluate: images shown with their captions in the report
 * @param htmlImages  caption: images shown on the HTML page at most (the Parquet output has all)
 * @param shuffleSeed evaluate: the seed of the permutation of the shuffled-images baseline
 */
public record CaptionOptions(Decoding decoding, int batchSize, int examples, int htmlImages, long shuffleSeed)
    implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Key of {@link #batchSize}. */
  public static final String BATCH_SIZE = "eval.captioning.batch-size";
  /** Default of {@link #BATCH_SIZE}. */
  public static final int BATCH_SIZE_DEFAULT = 16;
  /** Key of {@link #examples}. */
  public static final String EXAMPLES = "eval.captioning.examples";
  /** Default of {@link #EXAMPLES}. */
  public static final int EXAMPLES_DEFAULT = 12;
  /** Key of {@link #htmlImages}. */
  public static final String HTML_IMAGES = "eval.captioning.html-images";
  /** Default of {@link #HTML_IMAGES}. */
  public static final int HTML_IMAGES_DEFAULT = 500;
  /** Key of {@link #shuffleSeed}. */
  public static final String SHUFFLE_SEED = "eval.captioning.shuffle-seed";
  /** Default of {@link #SHUFFLE_SEED}. */
  public static final long SHUFFLE_SEED_DEFAULT = 0;

  /** Reads and validates every key. */
  public static CaptionOptions from(Settings s) {
    return new CaptionOptions(Decoding.from(s), s.intIn(BATCH_SIZE, 1, 65536), s.intIn(EXAMPLES, 0, 1000),
        s.intIn(HTML_IMAGES, 0, 1_000_000), s.longIn(SHUFFLE_SEED, Long.MIN_VALUE, Long.MAX_VALUE));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static CaptionOptions defaults() {
    return new CaptionOptions(Decoding.defaults(), BATCH_SIZE_DEFAULT, EXAMPLES_DEFAULT, HTML_IMAGES_DEFAULT,
        SHUFFLE_SEED_DEFAULT);
  }

  /** With other decoding settings. */
  public CaptionOptions withDecoding(Decoding d) {
    return new CaptionOptions(d, batchSize, examples, htmlImages, shuffleSeed);
  }
}
