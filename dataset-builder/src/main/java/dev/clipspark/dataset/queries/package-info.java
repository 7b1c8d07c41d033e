/**
 * The CLIP query list: the words, phrases and names that image captions are matched against.
 *
 * <p>Following the CLIP paper, the list is "all words occurring at least 100 times in the English
 * Wikipedia, augmented with bigrams with high pointwise mutual information, the names of Wikipedia articles
 * above a certain search volume, and all WordNet synsets not already in the list", capped at 500,000.
 *
 * <ul>
 *   <li>{@link dev.clipspark.dataset.queries.QueryListBuilder} is the Spark job that builds the list from a
 *       text corpus, a titles TSV and a WordNet directory and writes {@code queries.parquet} and
 *       {@code summary.json};</li>
 *   <li>{@link dev.clipspark.dataset.queries.QueryOptions} holds its settings (the {@code queries} block of
 *       {@code reference.conf}), {@link dev.clipspark.dataset.queries.QueryInputs} its input paths and
 *       {@link dev.clipspark.dataset.queries.QuerySummary} what it reports;</li>
 *   <li>{@link dev.clipspark.dataset.queries.WordNet} reads the WordNet 3.0 database files;</li>
 *   <li>{@link dev.clipspark.dataset.queries.QueryList} reads a built list back, in rank order, for the
 *       caption matcher.</li>
 * </ul>
 *
 * Every query is in the canonical spelling of {@link dev.clipspark.dataset.Words#normalize(CharSequence)},
 * so the matcher finds it in the words {@link dev.clipspark.dataset.Words#tokenize(CharSequence)} yields.
 */
package dev.clipspark.dataset.queries;
