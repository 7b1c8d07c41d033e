package dev.clipspark.jobs;

import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.training.lm.Decoding;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Option;

/** The decoding options of {@code caption} and {@code evaluate --task captioning}, over the {@code lm.decode.*} settings. */
final class DecodeOptions {

  @Option(names = "--decode", paramLabel = "greedy|beam|nucleus",
      description = "Captioning: the decoding strategy (lm.decode.strategy; default beam).")
  String decode;

  @Option(names = "--beam-width", paramLabel = "N", description = "Beam search: beams per image (lm.decode.beam-width).")
  Integer beamWidth;

  @Option(names = "--length-penalty", paramLabel = "ALPHA",
      description = "Beam search: a caption of n tokens scores log-probability / n^ALPHA (lm.decode.length-penalty).")
  Double lengthPenalty;

  @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling: top-p in (0, 1] (lm.decode.top-p).")
  Double topP;

  @Option(names = "--temperature", paramLabel = "T",
      description = "Nucleus sampling: logits are divided by T > 0 (lm.decode.temperature).")
  Double temperature;

  @Option(names = "--seed", paramLabel = "N",
      description = "Nucleus sampling: the seed; with each image's key it seeds that caption (lm.decode.seed).")
  Long seed;

  @Option(names = "--max-tokens", paramLabel = "N",
      description = "Captioning: tokens generated at most, <|endoftext|> included (lm.decode.max-tokens).")
  Integer maxTokens;

  /** Whether any option was given. */
  boolean any() {
    return decode != null || beamWidth != null || lengthPenalty != null || topP != null || temperature != null
        || seed != null || maxTokens != null;
  }

  /**
   * The settings' decoding with the options applied.
   *
   * @throws IllegalArgumentException naming the option, its value and what is allowed
   */
  Decoding apply(Decoding d) {
    var flags = Map.of(Decoding.DECODE, "--decode", Decoding.BEAM_WIDTH, "--beam-width", Decoding.LENGTH_PENALTY,
        "--length-penalty", Decoding.TOP_P, "--top-p", Decoding.TEMPERATURE, "--temperature", Decoding.MAX_TOKENS,
        "--max-tokens");
    try {
      if (decode != null) {
        d = d.withStrategy(Decoding.Strategy.parse("--decode", decode.toLowerCase(Locale.ROOT)));
      }
      if (beamWidth != null) {
        d = d.withBeamWidth(beamWidth);
      }
      if (lengthPenalty != null) {
        d = d.withLengthPenalty(lengthPenalty);
      }
      if (topP != null) {
        d = d.withTopP(topP);
      }
      if (temperature != null) {
        d = d.withTemperature(temperature);
      }
      if (seed != null) {
        d = d.withSeed(seed);
      }
      if (maxTokens != null) {
        d = d.withMaxTokens(maxTokens);
      }
    } catch (ConfigValueException e) {
      String flag = flags.get(e.key());
      throw flag == null ? e : new IllegalArgumentException(e.getMessage().replace(e.key(), flag), e);
    }
    return d;
  }
}
