package dev.clipspark.dataset.build;

import com.typesafe.config.ConfigRenderOptions;
import dev.clipspark.dataset.config.ConfigValueException;
import dev.clipspark.dataset.config.Settings;
import dev.clipspark.dataset.fetch.FetchOptions;
import dev.clipspark.dataset.image.ImageOptions;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything {@code build-dataset} reads from its settings, validated. Small and immutable, so it is
 * shipped to executors as it is.
 *
 * @param fetch URL fetching ({@code fetch.*})
 * @param image decoding, validation and resizing ({@code image.*})
 * @param captionMaxLength longest caption kept, in characters ({@code caption.max-length})
 * @param maxPerQuery pairs each query admits at most ({@code balance.max-per-query})
 * @param balanceSeed seed of the admission order ({@code balance.seed})
 * @param shardRows rows per Parquet shard ({@code shard.rows})
 * @param keepWork whether {@code _work/} stays after a successful build ({@code build.keep-work})
 * @param plan which candidates are fetched and decoded ({@code build.plan})
 * @param oversample candidates taken per unit of a query's remaining room in a round
 *     ({@code balance.oversample}); 0 means {@code auto}
 * @param maxRounds the most admission rounds a build runs ({@code balance.max-rounds})
 * @param describedSettings the settings as JSON-ready maps, recorded in the manifest
 */
public record BuildOptions(
    FetchOptions fetch,
    ImageOptions image,
    int captionMaxLength,
    int maxPerQuery,
    long balanceSeed,
    int shardRows,
    boolean keepWork,
    Plan plan,
    double oversample,
    int maxRounds,
    Map<String, Object> describedSettings) implements Serializable {

  /** Key of the build plan: {@code lazy} or {@code all}. */
  public static final String PLAN = "build.plan";
  /** Default of {@link #PLAN}. */
  public static final String PLAN_DEFAULT = "lazy";
  /** Key of the oversampling factor: {@code auto} or a number from 1 to 1000. */
  public static final String OVERSAMPLE = "balance.oversample";
  /** Default of {@link #OVERSAMPLE}. */
  public static final String OVERSAMPLE_DEFAULT = "auto";
  /** Key of the bound on admission rounds, 1 to 10,000. */
  public static final String MAX_ROUNDS = "balance.max-rounds";
  /** Default of {@link #MAX_ROUNDS}. */
  public static final int MAX_ROUNDS_DEFAULT = 32;

  /** Which candidates a build fetches and decodes. */
  public enum Plan {
    /**
     * Only candidates whose caption matches a query, in rounds, as far down each query's rank order as
     * its cap needs.
     */
    LAZY,
    /** Every candidate, in one round (the behaviour before lazy plans; same rows as {@link #LAZY}). */
    ALL
  }

  /** Whether {@link #oversample()} is learned from the success rate observed so far. */
  public boolean autoOversample() {
    return oversample == 0;
  }

  /** The sections of the settings that decide the build's output; they are recorded in the manifest. */
  static final List<String> SECTIONS = List.of("source", "fetch", "image", "caption", "balance", "shard");

  /** Reads and validates the options. */
  public static BuildOptions from(Settings s) {
    var described = new LinkedHashMap<String, Object>();
    for (String section : SECTIONS) {
      var values = new LinkedHashMap<String, Object>(s.config().getConfig(section).root().unwrapped());
      if (section.equals("balance")) {
        // How many candidates a round takes changes the cost, never the rows written.
        values.remove("oversample");
      }
      described.put(section, values);
    }
    return new BuildOptions(
        FetchOptions.from(s),
        ImageOptions.from(s),
        s.intIn("caption.max-length", 1, 1_000_000),
        s.intIn("balance.max-per-query", 1, Integer.MAX_VALUE),
        s.longIn("balance.seed", Long.MIN_VALUE, Long.MAX_VALUE),
        s.intIn("shard.rows", 1, 10_000_000),
        s.bool("build.keep-work"),
        s.enumOf(PLAN, Plan.class),
        oversample(s),
        s.intIn(MAX_ROUNDS, 1, 10_000),
        Map.copyOf(described));
  }

  private static double oversample(Settings s) {
    if (s.config().hasPath(OVERSAMPLE) && s.config().getValue(OVERSAMPLE).unwrapped() instanceof String v
        && v.trim().equalsIgnoreCase("auto")) {
      return 0;
    }
    try {
      return s.doubleIn(OVERSAMPLE, 1.0, 1000.0);
    } catch (ConfigValueException e) {
      throw new ConfigValueException(OVERSAMPLE, s.config().getValue(OVERSAMPLE).render(ConfigRenderOptions.concise()),
          "must be auto or a number between 1.0 and 1000.0");
    }
  }
}
