/**
 * Caption to query matching: {@link dev.clipspark.dataset.match.QueryMatcher} finds which queries of a
 * list of up to 500,000 occur, as whole words, in a caption, with the same tokenizer that built the list
 * ({@link dev.clipspark.dataset.Words}); it is built once on the Spark driver and broadcast to executors.
 * {@link dev.clipspark.dataset.match.MatcherBenchmark} measures it on a generated, alt-text-like workload
 * (the {@code bench matcher} command calls it).
 */
package dev.clipspark.dataset.match;
