package dev.clipspark.dataset;

import java.util.Locale;

/**
 * Why a candidate pair was not written. Every rejected candidate is counted under exactly one reason in
 * {@code stats.json} (under the reason's {@link #key()}); none stops the job.
 */
public enum RejectReason {
  /** The source had no image for the caption (a caption file or table row without its image). */
  MISSING_IMAGE,
  /** The image file or body had zero bytes. */
  EMPTY_FILE,
  /** No image decoder recognises the bytes (not JPEG, PNG, WebP, GIF or BMP). */
  UNSUPPORTED_FORMAT,
  /** The header was recognised but the image could not be decoded (corrupt or truncated data). */
  CORRUPT_IMAGE,
  /** The header declares more pixels than {@code image.max-pixels} (decompression bomb guard). */
  TOO_MANY_PIXELS,
  /** The shorter side is under {@code image.min-side}. */
  TOO_SMALL,
  /** A tar member was cut short (the tar file ends inside it). */
  TRUNCATED_TAR_MEMBER,
  /** The source had no caption for the image. */
  MISSING_CAPTION,
  /** The caption bytes are not valid UTF-8. */
  CAPTION_NOT_UTF8,
  /** The caption is empty or only white space. */
  CAPTION_EMPTY,
  /** The caption is longer than {@code caption.max-length} characters. */
  CAPTION_TOO_LONG,
  /** A local path or file-system URI could not be read. */
  READ_ERROR,
  /** The URL is malformed or its scheme is neither http nor https. */
  BAD_URL,
  /**
   * The URL resolves to an address that is not public (private, loopback, link-local, unique-local,
   * carrier-grade NAT, multicast, reserved; see {@code AddressPolicy}) and {@code fetch.allow-private} is off.
   */
  PRIVATE_ADDRESS,
  /** The host name could not be resolved. */
  DNS_ERROR,
  /** The server answered with an HTTP error status (after retries for retryable ones). */
  HTTP_ERROR,
  /** Connecting or reading timed out (after retries). */
  TIMEOUT,
  /** The connection failed or broke off (after retries). */
  NETWORK_ERROR,
  /** More redirects than {@code fetch.max-redirects}. */
  TOO_MANY_REDIRECTS,
  /** The body is larger than {@code fetch.max-body-bytes}. */
  BODY_TOO_LARGE,
  /**
   * The response's {@code X-Robots-Tag} forbids use: noai, noimageai, noindex or none, unscoped or scoped
   * to {@code *} or to our user agent.
   */
  ROBOTS_DISALLOWED,
  /**
   * A pair admitted before it in the plan order (the seeded rank) has the same image bytes (same sha256):
   * the first copy the build admits wins.
   */
  DUPLICATE,
  /** The caption matched no query. */
  UNMATCHED,
  /** Every query the caption matched was already full ({@code balance.max-per-query}). */
  OVER_QUERY_CAP,
  /**
   * {@code balance.max-rounds} was reached before the candidate, which one of its queries still needed,
   * was fetched.
   */
  ROUND_LIMIT,
  /**
   * The cosine similarity of the image and caption embeddings of the CLIP model {@code filter.clip.checkpoint} is
   * below {@code filter.clip.min-similarity} (as LAION filtered its crawl). Only candidates about to be admitted
   * are scored.
   */
  CLIP_SCORE;

  /** The reason's name in stats and logs, e.g. {@code corrupt_image}. */
  public String key() {
    return name().toLowerCase(Locale.ROOT);
  }
}
