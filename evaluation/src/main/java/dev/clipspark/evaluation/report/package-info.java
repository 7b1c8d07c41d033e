/**
 * The evaluation report page: {@link dev.clipspark.evaluation.report.HtmlReport} turns a {@code report.json}
 * document into one self-contained {@code report.html} (metrics tables, XChart plots embedded as PNG, retrieval
 * examples with their images), and the package-private helpers it draws the charts and writes the markup with.
 */
package dev.clipspark.evaluation.report;
