/**
 * The WIT-style dataset builder: query lists ({@code queries}), candidate sources ({@code source}),
 * URL fetching ({@code fetch}), image processing ({@code image}), query matching ({@code match}) and the
 * build pipeline that balances, deduplicates and writes Parquet shards ({@code build}).
 *
 * <p>This package holds what every part shares: the word tokenizer that query building and matching
 * must agree on ({@link dev.clipspark.dataset.Words}), the candidate record that sources produce
 * ({@link dev.clipspark.dataset.Candidate}) and the reasons a candidate can be rejected
 * ({@link dev.clipspark.dataset.RejectReason}).
 */
package dev.clipspark.dataset;
