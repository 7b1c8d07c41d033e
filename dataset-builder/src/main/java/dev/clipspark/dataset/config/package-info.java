/**
 * Typed, validated reading of HOCON settings. Every job's option records read their keys through
 * {@link dev.clipspark.dataset.config.Settings}, so that a bad value fails before any work starts with a
 * message naming the key, the value and what is allowed.
 */
package dev.clipspark.dataset.config;
