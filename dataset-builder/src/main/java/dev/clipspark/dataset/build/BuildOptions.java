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
 * @param clipFilter the CLIP-score filter ({@code filter.clip.*}); {@link ClipFilter#enabled()} is false when
 *     {@code filter.clip.checkpoint} is empty
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
    ClipFilter clipFilter,
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

  /**
   * Key of the CLIP model that scores candidates about to be admitted: a ClipSpark checkpoint (a {@code step-*}
   * directory or a training output directory) or a released weights file ({@code .pt}, {@code .bin},
   * {@code .safetensors}, as {@code import-weights} reads them); empty: no CLIP filter.
   */
  public static final String CLIP_CHECKPOINT = "filter.clip.checkpoint";
  /** Default of {@link #CLIP_CHECKPOINT}: no filter. */
  public static final String CLIP_CHECKPOINT_DEFAULT = "";
  /** Key of the tokenizer merges file for a weights file (a checkpoint directory carries its own). */
  public static final String CLIP_TOKENIZER = "filter.clip.tokenizer";
  /** Default of {@link #CLIP_TOKENIZER}. */
  public static final String CLIP_TOKENIZER_DEFAULT = "";
  /** Key of the lowest cosine similarity of image and caption embeddings admitted, -1 to 1. */
  public static final String CLIP_MIN_SIMILARITY = "filter.clip.min-similarity";
  /** Default of {@link #CLIP_MIN_SIMILARITY}: LAION-5B's English threshold with ViT-B/32 (LAION-400M: 0.3). */
  public static final double CLIP_MIN_SIMILARITY_DEFAULT = 0.28;
  /** Key of the pairs embedded per batch by the scorer, 1 to 4096. */
  public static final String CLIP_BATCH_SIZE = "filter.clip.batch-size";
  /** Default of {@link #CLIP_BATCH_SIZE}. */
  public static final int CLIP_BATCH_SIZE_DEFAULT = 64;

  /**
   * The CLIP-score filter: candidates about to be admitted whose image and caption embeddings have a cosine
   * below {@code minSimilarity} are rejected ({@code clip_score}).
   *
   * @param checkpoint {@value #CLIP_CHECKPOINT}; empty when the filter is off
   * @param tokenizer {@value #CLIP_TOKENIZER}; empty to use the checkpoint's own
   * @param minSimilarity {@value #CLIP_MIN_SIMILARITY}
   * @param batchSize {@value #CLIP_BATCH_SIZE}
   */
  public record ClipFilter(String checkpoint, String tokenizer, double minSimilarity, int batchSize)
      implements Serializable {

    /** Whether candidates are scored at all. */
    public boolean enabled() {
      return !checkpoint.isEmpty();
    }

    /** Whether a similarity passes. */
    public boolean passes(float similarity) {
      return similarity >= minSimilarity;
    }

    static ClipFilter from(Settings s) {
      return new ClipFilter(s.string(CLIP_CHECKPOINT).trim(), s.string(CLIP_TOKENIZER).trim(),
          s.doubleIn(CLIP_MIN_SIMILARITY, -1.0, 1.0), s.intIn(CLIP_BATCH_SIZE, 1, 4096));
    }
  }

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
    ClipFilter clip = ClipFilter.from(s);
    if (clip.enabled()) {
      // The batch size changes the cost, never the rows; with the filter off the section is left out, so
      // builds without it keep their fingerprints.
      var values = new LinkedHashMap<String, Object>();
      values.put("checkpoint", clip.checkpoint());
      values.put("tokenizer", clip.tokenizer());
      values.put("min-similarity", clip.minSimilarity());
      described.put("filter", Map.of("clip", values));
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
        clip,
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
