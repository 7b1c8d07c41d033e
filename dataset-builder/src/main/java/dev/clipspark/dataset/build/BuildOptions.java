package dev.clipspark.dataset.build;

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
    Map<String, Object> describedSettings) implements Serializable {

  /** The sections of the settings that decide the build's output; they are recorded in the manifest. */
  static final List<String> SECTIONS = List.of("source", "fetch", "image", "caption", "balance", "shard");

  /** Reads and validates the options. */
  public static BuildOptions from(Settings s) {
    var described = new LinkedHashMap<String, Object>();
    for (String section : SECTIONS) {
      described.put(section, s.config().getConfig(section).root().unwrapped());
    }
    return new BuildOptions(
        FetchOptions.from(s),
        ImageOptions.from(s),
        s.intIn("caption.max-length", 1, 1_000_000),
        s.intIn("balance.max-per-query", 1, Integer.MAX_VALUE),
        s.longIn("balance.seed", Long.MIN_VALUE, Long.MAX_VALUE),
        s.intIn("shard.rows", 1, 10_000_000),
        s.bool("build.keep-work"),
        Map.copyOf(described));
  }
}
