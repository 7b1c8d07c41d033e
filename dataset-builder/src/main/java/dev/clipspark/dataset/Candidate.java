package dev.clipspark.dataset;

import java.io.Serializable;
import java.util.Objects;

/**
 * One candidate (image, text) pair as a source yields it, before fetching and processing.
 *
 * <p>The image is located by {@code imageBytes} when present (then {@code url}, if also set, is only
 * provenance, e.g. the URL img2dataset recorded in a tar's {@code .json}), else by {@code url} (fetched),
 * else by {@code path} (read). When the source already knows the candidate is bad, {@code reject} says
 * why and the image may be absent. {@code key} is stable across runs (derived from the source's file names and positions, never
 * from a random id), so re-running a build selects the same rows.
 *
 * @param key stable, unique id of the pair within the build, e.g. {@code shard-00003/000000123}
 * @param source the source it came from, e.g. {@code webdataset:/data/shards}
 * @param caption the caption text, or null when missing or undecodable
 * @param imageBytes the encoded image, or null
 * @param url an http(s) URL to fetch the image from, or null
 * @param path a local path or Hadoop file-system URI of the image, or null
 * @param reject why the source already refused this candidate, or null
 */
public record Candidate(
    String key,
    String source,
    String caption,
    byte[] imageBytes,
    String url,
    String path,
    RejectReason reject) implements Serializable {

  public Candidate {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(source, "source");
  }

  /** A candidate whose image bytes are in hand. */
  public static Candidate ofBytes(String key, String source, String caption, byte[] imageBytes) {
    return new Candidate(key, source, caption, imageBytes, null, null, null);
  }

  /** A candidate whose image is fetched from {@code url}. */
  public static Candidate ofUrl(String key, String source, String caption, String url) {
    return new Candidate(key, source, caption, null, url, null, null);
  }

  /** A candidate whose image is read from a local path or file-system URI. */
  public static Candidate ofPath(String key, String source, String caption, String path) {
    return new Candidate(key, source, caption, null, null, path, null);
  }

  /** A candidate the source already refused; it is counted under {@code reason} and never written. */
  public static Candidate rejected(String key, String source, String caption, String url, RejectReason reason) {
    return new Candidate(key, source, caption, null, url, null, Objects.requireNonNull(reason, "reason"));
  }
}
