package dev.clipspark.dataset.fetch;

import dev.clipspark.dataset.RejectReason;
import java.util.Arrays;
import java.util.Objects;

/**
 * The outcome of one {@link UrlFetcher#fetch(String)}: either the body, or the reason it was refused.
 *
 * @param body the response body, {@code null} unless {@link #ok()}; never empty when present
 * @param reject why no body was kept, {@code null} when {@link #ok()}
 * @param httpStatus the status of the last response received, {@code 0} when none was received
 * @param finalUrl the URL of the last hop tried (the original URL when no redirect was followed, or when the
 *     URL could not be parsed)
 * @param attempts how many times the URL was tried: 1 plus the retries used (0 when it was refused before any
 *     attempt, e.g. a malformed URL)
 * @param detail a short human-readable explanation, e.g. {@code HTTP 404} or
 *     {@code read timed out after 20s}; {@code OK} on success
 */
public record FetchResult(
    byte[] body, RejectReason reject, int httpStatus, String finalUrl, int attempts, String detail) {

  /** Checks that exactly one of {@code body} and {@code reject} is set. */
  public FetchResult {
    if ((body == null) == (reject == null)) {
      throw new IllegalArgumentException("Cannot create a fetch result: exactly one of body and reject must be set");
    }
    Objects.requireNonNull(detail, "detail");
  }

  /** Whether the body was downloaded. */
  public boolean ok() {
    return reject == null;
  }

  static FetchResult success(byte[] body, int status, String finalUrl, int attempts) {
    return new FetchResult(body, null, status, finalUrl, attempts, "OK");
  }

  static FetchResult failure(RejectReason reason, int status, String finalUrl, int attempts, String detail) {
    return new FetchResult(null, Objects.requireNonNull(reason, "reason"), status, finalUrl, attempts, detail);
  }

  /** Compares the body by content, not by array identity. */
  @Override
  public boolean equals(Object o) {
    return o instanceof FetchResult r
        && Arrays.equals(body, r.body)
        && reject == r.reject
        && httpStatus == r.httpStatus
        && Objects.equals(finalUrl, r.finalUrl)
        && attempts == r.attempts
        && detail.equals(r.detail);
  }

  @Override
  public int hashCode() {
    return Objects.hash(Arrays.hashCode(body), reject, httpStatus, finalUrl, attempts, detail);
  }

  /** Omits the body bytes, shows their count. */
  @Override
  public String toString() {
    return "FetchResult["
        + (ok() ? "ok, " + body.length + " bytes" : reject.key())
        + ", status=" + httpStatus
        + ", attempts=" + attempts
        + ", finalUrl=" + finalUrl
        + ", detail=" + detail
        + "]";
  }
}
