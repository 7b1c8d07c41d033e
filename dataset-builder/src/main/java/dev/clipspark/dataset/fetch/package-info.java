/**
 * Downloading image URLs the way img2dataset does, for the dataset build.
 *
 * <ul>
 *   <li>{@link dev.clipspark.dataset.fetch.FetchOptions}: the validated {@code fetch { }} settings.
 *   <li>{@link dev.clipspark.dataset.fetch.UrlFetcher}: one URL to a {@link dev.clipspark.dataset.fetch.FetchResult}
 *       (the body, or a {@link dev.clipspark.dataset.RejectReason}), with redirects, retries, a size cap, a
 *       whole-response deadline, the {@code X-Robots-Tag} opt-out and an SSRF guard.
 *   <li>{@link dev.clipspark.dataset.fetch.AddressPolicy}: which IP addresses count as private and are
 *       refused unless {@code fetch.allow-private}.
 *   <li>{@link dev.clipspark.dataset.fetch.OrderedParallelMap}: a bounded, order-preserving parallel map over
 *       an iterator, for fetching a Spark partition's URLs concurrently.
 * </ul>
 *
 * <p>The HTTP/1.1 exchange, URL parsing and the {@code X-Robots-Tag} reader are package-private.
 */
package dev.clipspark.dataset.fetch;
