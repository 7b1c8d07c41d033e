package dev.clipspark.training.lm;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * How {@link CaptionDecoder} writes a caption: the {@code lm.decode.*} settings, validated with messages naming the
 * key (e.g. {@code Cannot set lm.decode.top-p to 1.5: must be above 0 and at most 1}).
 *
 * @param strategy       greedy, beam search or nucleus sampling
 * @param maxTokens      tokens generated at most, {@code <|endoftext|>} included (capped so that the prefix and
 *                       the caption fit in n_ctx)
 * @param beamWidth      beams kept per image (beam search)
 * @param lengthPenalty  alpha of beam search's length normalisation: a finished caption of n tokens
 *                       ({@code <|endoftext|>} included) with log-probability s scores {@code s / n^alpha}; 0 ranks
 *                       by log-probability alone, 1 by the mean per token
 * @param topP           nucleus sampling: the smallest set of most likely tokens whose probabilities reach top-p
 * @param temperature    nucleus sampling: logits are divided by it before the softmax
 * @param seed           nucleus sampling: the seed each caption's own random stream is derived from
 */
public record Decoding(Strategy strategy, int maxTokens, int beamWidth, double lengthPenalty, double topP,
    double temperature, long seed) implements Serializable {

  private static final long serialVersionUID = 1L;

  /** The decoding strategies. */
  public enum Strategy {
    /** The most likely next token at every step. */
    GREEDY,
    /** Beam search with length normalisation. */
    BEAM,
    /** Nucleus (top-p) sampling with a temperature. */
    NUCLEUS;

    /** As on the command line. */
    public String spelling() {
      return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses a spelling.
     *
     * @throws IllegalArgumentException naming {@code what} (an option or key), the value and what is allowed
     */
    public static Strategy parse(String what, String s) {
      for (Strategy v : values()) {
        if (v.spelling().equals(s)) {
          return v;
        }
      }
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot set %s to %s: must be greedy, beam or"
          + " nucleus", what, s));
    }
  }

  /** Key of {@link #strategy}. */
  public static final String DECODE = "lm.decode.strategy";
  /** Default of {@link #DECODE}. */
  public static final String DECODE_DEFAULT = "beam";
  /** Key of {@link #maxTokens}. */
  public static final String MAX_TOKENS = "lm.decode.max-tokens";
  /** Default of {@link #MAX_TOKENS}. */
  public static final int MAX_TOKENS_DEFAULT = 32;
  /** Largest {@link #MAX_TOKENS}. */
  public static final int MAX_TOKENS_MAX = 100_000;
  /** Key of {@link #beamWidth}. */
  public static final String BEAM_WIDTH = "lm.decode.beam-width";
  /** Default of {@link #BEAM_WIDTH}. */
  public static final int BEAM_WIDTH_DEFAULT = 5;
  /** Largest {@link #BEAM_WIDTH}. */
  public static final int BEAM_WIDTH_MAX = 1000;
  /** Key of {@link #lengthPenalty}. */
  public static final String LENGTH_PENALTY = "lm.decode.length-penalty";
  /** Default of {@link #LENGTH_PENALTY}: the mean log-probability per token (Hugging Face's default). */
  public static final double LENGTH_PENALTY_DEFAULT = 1.0;
  /** Key of {@link #topP}. */
  public static final String TOP_P = "lm.decode.top-p";
  /** Default of {@link #TOP_P}. */
  public static final double TOP_P_DEFAULT = 0.9;
  /** Key of {@link #temperature}. */
  public static final String TEMPERATURE = "lm.decode.temperature";
  /** Default of {@link #TEMPERATURE}. */
  public static final double TEMPERATURE_DEFAULT = 1.0;
  /** Key of {@link #seed}. */
  public static final String SEED = "lm.decode.seed";
  /** Default of {@link #SEED}. */
  public static final long SEED_DEFAULT = 0;

  /** Validates. */
  public Decoding {
    if (strategy == null) {
      throw new ConfigValueException(DECODE, null, "must be greedy, beam or nucleus");
    }
    if (maxTokens < 1 || maxTokens > MAX_TOKENS_MAX) {
      throw new ConfigValueException(MAX_TOKENS, maxTokens, "must be between 1 and " + MAX_TOKENS_MAX);
    }
    if (beamWidth < 1 || beamWidth > BEAM_WIDTH_MAX) {
      throw new ConfigValueException(BEAM_WIDTH, beamWidth, "must be between 1 and " + BEAM_WIDTH_MAX);
    }
    if (!(lengthPenalty >= 0 && lengthPenalty <= 10)) {
      throw new ConfigValueException(LENGTH_PENALTY, lengthPenalty, "must be between 0 and 10");
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new ConfigValueException(TOP_P, topP, "must be above 0 and at most 1");
    }
    if (!(temperature > 0 && temperature <= 100)) {
      throw new ConfigValueException(TEMPERATURE, temperature, "must be above 0 and at most 100");
    }
  }

  /** Reads and validates every {@code lm.decode.*} key. */
  public static Decoding from(Settings s) {
    return new Decoding(Strategy.parse(DECODE, s.string(DECODE)), s.intIn(MAX_TOKENS, 1, MAX_TOKENS_MAX),
        s.intIn(BEAM_WIDTH, 1, BEAM_WIDTH_MAX), s.doubleIn(LENGTH_PENALTY, 0, 10), s.finiteDouble(TOP_P),
        s.finiteDouble(TEMPERATURE), s.longIn(SEED, Long.MIN_VALUE, Long.MAX_VALUE));
  }

  /** The defaults, the same as in {@code reference.conf}. */
  public static Decoding defaults() {
    return new Decoding(Strategy.BEAM, MAX_TOKENS_DEFAULT, BEAM_WIDTH_DEFAULT, LENGTH_PENALTY_DEFAULT, TOP_P_DEFAULT,
        TEMPERATURE_DEFAULT, SEED_DEFAULT);
  }

  /** Greedy decoding of at most {@code maxTokens} tokens. */
  public static Decoding greedy(int maxTokens) {
    return defaults().withStrategy(Strategy.GREEDY).withMaxTokens(maxTokens);
  }

  /** With another strategy. */
  public Decoding withStrategy(Strategy s) {
    return new Decoding(s, maxTokens, beamWidth, lengthPenalty, topP, temperature, seed);
  }

  /** With another token limit. */
  public Decoding withMaxTokens(int n) {
    return new Decoding(strategy, n, beamWidth, lengthPenalty, topP, temperature, seed);
  }

  /** With another beam width. */
  public Decoding withBeamWidth(int w) {
    return new Decoding(strategy, maxTokens, w, lengthPenalty, topP, temperature, seed);
  }

  /** With another length penalty. */
  public Decoding withLengthPenalty(double alpha) {
    return new Decoding(strategy, maxTokens, beamWidth, alpha, topP, temperature, seed);
  }

  /** With another top-p. */
  public Decoding withTopP(double p) {
    return new Decoding(strategy, maxTokens, beamWidth, lengthPenalty, p, temperature, seed);
  }

  /** With another temperature. */
  public Decoding withTemperature(double t) {
    return new Decoding(strategy, maxTokens, beamWidth, lengthPenalty, topP, t, seed);
  }

  /** With another seed. */
  public Decoding withSeed(long s) {
    return new Decoding(strategy, maxTokens, beamWidth, lengthPenalty, topP, temperature, s);
  }

  /** The settings that apply to the strategy, for reports and output rows, e.g. {@code beam width=5 alpha=1.0}. */
  public String describe() {
    return switch (strategy) {
      case GREEDY -> String.format(Locale.ROOT, "greedy max-tokens=%d", maxTokens);
      case BEAM -> String.format(Locale.ROOT, "beam width=%d length-penalty=%s max-tokens=%d", beamWidth,
          lengthPenalty, maxTokens);
      case NUCLEUS -> String.format(Locale.ROOT, "nucleus top-p=%s temperature=%s seed=%d max-tokens=%d", topP,
          temperature, seed, maxTokens);
    };
  }

  /** The settings as a report section. */
  public Map<String, Object> toReport() {
    var m = new LinkedHashMap<String, Object>();
    m.put("decode", strategy.spelling());
    m.put("max_tokens", maxTokens);
    switch (strategy) {
      case BEAM -> {
        m.put("beam_width", beamWidth);
        m.put("length_penalty", lengthPenalty);
      }
      case NUCLEUS -> {
        m.put("top_p", topP);
        m.put("temperature", temperature);
        m.put("seed", seed);
      }
      default -> { }
    }
    return m;
  }
}
