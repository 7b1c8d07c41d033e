/**
 * ClipSpark's command line: one picocli subcommand per job ({@code demo}, {@code build-queries},
 * {@code build-dataset}, {@code bench}), HOCON config loading with {@code --conf} and {@code --set}, and
 * SparkSession set-up. Runs through {@code bin/clip} (local mode) or
 * {@code spark-submit --class dev.clipspark.jobs.Main} on a cluster. No ML logic lives here.
 */
package dev.clipspark.jobs;
