package dev.clipspark.evaluation.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * The evaluation report page: one self-contained HTML file rendered from a {@code report.json} document.
 *
 * <p>The page has a title (task, model, checkpoint step, dataset), metrics tables (zero-shot top-1, top-5 and
 * mean per-class recall, ensembled and single-template side by side; linear-probe test accuracy and chosen
 * regularisation; retrieval recall@1/5/10 and median rank in both directions, with the rows, distinct images and
 * distinct captions ranked and the protocol's rule) and the charts the document has
 * data for: per-class accuracy bars, confusion-matrix heat maps, the linear probe's regularisation sweep,
 * learning curves (loss and logit scale against step) and retrieval examples (each query image with its top
 * captions, the correct one marked). Only {@code task}, {@code checkpoint} and {@code dataset} are required;
 * every other section is drawn when present.
 *
 * <p>Charts are drawn with XChart and embedded as {@code data:image/png;base64} images, so the page loads
 * nothing from anywhere (its Content-Security-Policy forbids it). All text from the document is escaped. Each
 * chart is an {@code <img class="chart" id="...">}; a small inline script marks every image that decoded with
 * {@code data-rendered="true"} once the page has loaded and sets {@code data-charts} on the body to the number
 * of charts that did.
 */
public final class HtmlReport {

  /** Base64 as a JSON writer emits it (line breaks allowed), so it can go in an attribute unescaped. */
  private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/\\r\\n]*={0,2}\\s*");

  private static final String STYLE = """
      body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
             padding: 0 1em; color: #222; }
      h1 { font-size: 1.6em; margin-bottom: 0.2em; }
      h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
      .subtitle { color: #555; margin-top: 0; }
      table { border-collapse: collapse; margin: 0.8em 0; }
      th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
      td.num { text-align: right; font-variant-numeric: tabular-nums; }
      caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
      table.facts th { background: #f4f4f4; font-weight: normal; }
      figure { margin: 1.2em 0; }
      figcaption { color: #444; font-size: 0.95em; margin-top: 0.3em; }
      img.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
      .examples { display: flex; flex-wrap: wrap; gap: 1.2em; }
      figure.example { width: 320px; margin: 0; border: 1px solid #ddd; padding: 0.6em; }
      figure.example img { max-width: 100%; height: auto; image-rendering: pixelated; min-width: 128px; }
      ol.top li.correct { font-weight: bold; color: #1a7f37; }
      .score { color: #777; font-variant-numeric: tabular-nums; }
      .note { color: #8a5a00; }
      details { margin: 0.6em 0; }
      """;

  private static final String SCRIPT = """
      addEventListener("load", function () {
        var charts = 0;
        document.querySelectorAll("img").forEach(function (img) {
          var ok = img.complete && img.naturalWidth > 0;
          img.dataset.rendered = ok ? "true" : "false";
          if (ok && img.classList.contains("chart")) charts++;
        });
        document.body.dataset.charts = String(charts);
      });
      """;

  private HtmlReport() {}

  /**
   * Renders the report page.
   *
   * @param report a {@code report.json} document
   * @return the whole page, UTF-8 text
   * @throws IllegalArgumentException if {@code task}, {@code checkpoint} or {@code dataset} is missing, or a
   *     section's arrays do not fit the class list (per-class values or a confusion matrix of another size)
   */
  public static String render(JsonNode report) {
    return new Page(report).render();
  }

  /**
   * Renders the report page and writes it to {@code htmlFile} (UTF-8), replacing any file there.
   *
   * @throws UncheckedIOException if the file cannot be written
   * @see #render(JsonNode)
   */
  public static void write(JsonNode report, Path htmlFile) {
    String html = render(report);
    try {
      Files.writeString(htmlFile, html, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the report page " + htmlFile + ": " + e.getMessage(), e);
    }
  }

  /** One rendering: the document, the page being written, and the charts embedded so far. */
  private static final class Page {
    private final JsonNode report;
    private final StringBuilder out = new StringBuilder(1 << 16);
    private final List<String> classes;

    Page(JsonNode report) {
      if (report == null || !report.isObject()) {
        throw new IllegalArgumentException("Cannot render the report: the document is not a JSON object");
      }
      for (String field : List.of("task", "checkpoint", "dataset")) {
        if (report.path(field).isMissingNode() || report.path(field).isNull()) {
          throw new IllegalArgumentException("Cannot render the report: \"" + field + "\" is missing");
        }
      }
      if (!report.path("checkpoint").isObject() || !report.path("dataset").isObject()) {
        throw new IllegalArgumentException("Cannot render the report: \"checkpoint\" and \"dataset\" must be objects");
      }
      this.report = report;
      var names = new ArrayList<String>();
      report.path("classes").forEach(c -> names.add(c.asText()));
      this.classes = names;
    }

    String render() {
      out.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
          .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; ")
          .append("style-src '").append(sha256(STYLE)).append("'; script-src '").append(sha256(SCRIPT))
          .append("'\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
          .append("<title>").append(Html.text(pageTitle())).append("</title>\n")
          .append("<style>").append(STYLE).append("</style>\n</head>\n<body>\n");
      header();
      metrics();
      JsonNode zeroshot = report.path("zeroshot");
      if (zeroshot.isObject()) {
        section("zeroshot", "Zero-shot classification");
        templates();
        perClass("zeroshot", "zeroshot", "Per-class accuracy", zeroshot);
        confusion("zeroshot", "zeroshot", "Confusion matrix", zeroshot);
        out.append("</section>\n");
      }
      JsonNode probe = report.path("linear_probe");
      if (probe.isObject()) {
        section("linear-probe", "Linear probe");
        sweep(probe);
        perClass("linear-probe", "linear_probe", "Linear probe: per-class test accuracy", probe);
        confusion("linear-probe", "linear_probe", "Linear probe: confusion matrix (test set)", probe);
        out.append("</section>\n");
      }
      JsonNode retrieval = report.path("retrieval");
      if (retrieval.path("examples").isArray() && !retrieval.path("examples").isEmpty()) {
        examples(retrieval.path("examples"));
      }
      JsonNode captioning = report.path("captioning");
      if (captioning.path("examples").isArray() && !captioning.path("examples").isEmpty()) {
        captionExamples(captioning.path("examples"));
      }
      if (report.path("learning_curve").isArray() && !report.path("learning_curve").isEmpty()) {
        learningCurves(report.path("learning_curve"));
      }
      out.append("<script>").append(SCRIPT).append("</script>\n</body>\n</html>\n");
      return out.toString();
    }

    // ---- header and metrics

    private String taskTitle() {
      String task = report.path("task").asText();
      return switch (task) {
        case "zeroshot" -> "Zero-shot classification";
        case "linear-probe" -> "Linear probe";
        case "retrieval" -> "Retrieval";
        case "captioning" -> "Captioning";
        default -> task;
      };
    }

    private String modelAtStep() {
      JsonNode checkpoint = report.path("checkpoint");
      String model = checkpoint.path("model").asText("model");
      return checkpoint.path("step").isNumber() ? model + " at step " + Html.count(checkpoint.path("step").asLong())
          : model;
    }

    private String pageTitle() {
      return taskTitle() + ": " + modelAtStep() + " on " + report.path("dataset").path("spec").asText("?");
    }

    private void header() {
      JsonNode checkpoint = report.path("checkpoint");
      JsonNode dataset = report.path("dataset");
      out.append("<header>\n<h1>").append(Html.text(taskTitle() + ": " + modelAtStep())).append("</h1>\n");
      var subtitle = new StringBuilder("on ").append(dataset.path("spec").asText("an unnamed dataset"));
      if (dataset.hasNonNull("split")) {
        subtitle.append(", ").append(dataset.path("split").asText()).append(" split");
      }
      if (dataset.path("rows").isNumber()) {
        subtitle.append(", ").append(Html.count(dataset.path("rows").asLong())).append(" rows");
      }
      out.append("<p class=\"subtitle\">").append(Html.text(subtitle.toString())).append("</p>\n");
      out.append("<table class=\"facts\" id=\"facts\">\n");
      fact("Checkpoint", checkpoint.path("directory"));
      fact("Model", checkpoint.path("model"));
      fact("Step", checkpoint.path("step"));
      fact("Dataset", dataset.path("spec"));
      fact("Dataset kind", dataset.path("kind"));
      fact("Split", dataset.path("split"));
      fact("Rows", dataset.path("rows"));
      if (!classes.isEmpty()) {
        factText("Classes", Html.count(classes.size()));
      }
      fact("Created", report.path("created"));
      out.append("</table>\n</header>\n");
    }

    private void fact(String name, JsonNode value) {
      if (value.isMissingNode() || value.isNull()) {
        return;
      }
      factText(name, value.isIntegralNumber() ? Html.count(value.asLong()) : value.asText());
    }

    private void factText(String name, String value) {
      out.append("<tr><th>").append(Html.text(name)).append("</th><td>").append(Html.text(value))
          .append("</td></tr>\n");
    }

    private void metrics() {
      JsonNode zeroshot = report.path("zeroshot");
      JsonNode probe = report.path("linear_probe");
      JsonNode retrieval = report.path("retrieval");
      JsonNode captioning = report.path("captioning");
      if (!zeroshot.isObject() && !probe.isObject() && !retrieval.isObject() && !captioning.isObject()) {
        return;
      }
      out.append("<section id=\"metrics\">\n<h2>Metrics</h2>\n");
      if (zeroshot.isObject()) {
        zeroshotTable(zeroshot);
      }
      if (probe.isObject()) {
        probeTable(probe);
      }
      if (retrieval.isObject()) {
        retrievalTable(retrieval);
      }
      if (captioning.isObject()) {
        captioningTable(captioning);
      }
      out.append("</section>\n");
    }

    private static final String[][] CAPTION_VARIANTS = {{"model", "model"},
        {"shuffled", "shuffled images (baseline)"}, {"no_image", "no image (baseline)"}};

    private void captioningTable(JsonNode captioning) {
      out.append("<table id=\"metrics-captioning\">\n<caption>Captioning");
      if (captioning.path("images").isNumber()) {
        out.append(" (").append(Html.count(captioning.path("images").asLong())).append(" images");
        if (captioning.path("references").isNumber()) {
          out.append(", ").append(Html.count(captioning.path("references").asLong())).append(" reference captions");
        }
        out.append(")");
      }
      out.append("</caption>\n<tr><th>captions from</th><th>BLEU-4</th><th>CIDEr-D</th><th>BLEU-1</th></tr>\n");
      for (String[] v : CAPTION_VARIANTS) {
        JsonNode scores = captioning.path(v[0]);
        if (!scores.isObject()) {
          continue;
        }
        OptionalDouble bleu1 = scores.path("bleu").isArray() && scores.path("bleu").size() > 0
            ? OptionalDouble.of(scores.path("bleu").get(0).asDouble()) : OptionalDouble.empty();
        out.append("<tr><td>").append(Html.text(v[1])).append("</td>").append(numberCell(number(scores, "bleu4")))
            .append(numberCell(number(scores, "cider_d"))).append(numberCell(bleu1)).append("</tr>\n");
      }
      out.append("</table>\n");
      JsonNode decoding = captioning.path("decoding");
      if (decoding.isObject()) {
        var parts = new ArrayList<String>();
        decoding.fields().forEachRemaining(e -> parts.add(e.getKey() + " = " + e.getValue().asText()));
        out.append("<p id=\"captioning-decoding\">Decoding: <code>").append(Html.text(String.join(", ", parts)))
            .append("</code>.</p>\n");
      }
      if (captioning.hasNonNull("rule")) {
        out.append("<p class=\"note\" id=\"captioning-rule\">").append(Html.text(captioning.path("rule").asText()))
            .append(".</p>\n");
      }
    }

    private void captionExamples(JsonNode examples) {
      section("captioning", "Captioning examples");
      out.append("<p>Each image with the caption the model writes, the captions of the two baselines and the"
          + " reference captions.</p>\n<div class=\"examples\">\n");
      int index = 0;
      for (JsonNode example : examples) {
        String key = example.path("key").asText("");
        out.append("<figure class=\"example\" id=\"caption-example-").append(index++).append("\">\n");
        image(example, "image " + key);
        out.append("<figcaption>");
        if (!key.isEmpty()) {
          out.append("<div class=\"key\"><code>").append(Html.text(key)).append("</code></div>\n");
        }
        out.append("<dl>\n");
        for (String[] v : CAPTION_VARIANTS) {
          if (example.hasNonNull(v[0])) {
            out.append("<dt>").append(Html.text(v[1])).append("</dt><dd class=\"caption-").append(v[0]).append("\">")
                .append(Html.text(example.path(v[0]).asText())).append("</dd>\n");
          }
        }
        out.append("</dl>\n<div>References:</div><ul class=\"references\">\n");
        example.path("references").forEach(r -> out.append("<li>").append(Html.text(r.asText())).append("</li>\n"));
        out.append("</ul>\n</figcaption>\n</figure>\n");
      }
      out.append("</div>\n</section>\n");
    }

    private void image(JsonNode example, String alt) {
      String image = example.path("image_jpeg_base64").asText("");
      if (!image.isEmpty() && BASE64.matcher(image).matches()) {
        out.append("<img class=\"example-image\" alt=\"").append(Html.text(alt))
            .append("\" src=\"data:image/jpeg;base64,").append(image.replaceAll("\\s", "")).append("\">\n");
      } else {
        out.append("<p class=\"note\">").append(image.isEmpty() ? "No image in the report." : "The image is not base64.")
            .append("</p>\n");
      }
    }

    private void zeroshotTable(JsonNode zeroshot) {
      JsonNode single = zeroshot.path("single_template");
      boolean both = single.isObject();
      int templates = report.path("templates").path("templates").size();
      out.append("<table id=\"metrics-zeroshot\">\n<caption>Zero-shot classification</caption>\n<tr><th>metric</th>");
      if (both) {
        out.append("<th>").append(templates > 0 ? "ensemble of " + templates + " templates" : "template ensemble")
            .append("</th><th>single template");
        if (single.hasNonNull("template")) {
          out.append(" <code>").append(Html.text(single.path("template").asText())).append("</code>");
        }
        out.append("</th>");
      } else {
        out.append("<th>").append(templates > 0 ? "ensemble of " + templates + " templates" : "value").append("</th>");
      }
      out.append("</tr>\n");
      String[][] rows = {{"top1", "top-1 accuracy"}, {"top5", "top-5 accuracy"},
          {"mean_per_class_recall", "mean per-class recall"}};
      for (String[] row : rows) {
        OptionalDouble value = number(zeroshot, row[0]);
        OptionalDouble singleValue = number(single, row[0]);
        if (value.isEmpty() && singleValue.isEmpty()) {
          continue;
        }
        out.append("<tr><td>").append(row[1]).append("</td>").append(percentCell(value));
        if (both) {
          out.append(percentCell(singleValue));
        }
        out.append("</tr>\n");
      }
      out.append("</table>\n");
    }

    private void probeTable(JsonNode probe) {
      out.append("<table id=\"metrics-linear-probe\">\n<caption>Linear probe</caption>\n");
      out.append("<tr><th>metric</th><th>value</th></tr>\n");
      metricRow("test accuracy", percentCell(number(probe, "test_accuracy")), number(probe, "test_accuracy"));
      metricRow("validation accuracy", percentCell(number(probe, "validation_accuracy")),
          number(probe, "validation_accuracy"));
      OptionalDouble reg = number(probe, "chosen_reg_param");
      metricRow("chosen regularisation", numberCell(reg), reg);
      if (probe.hasNonNull("features")) {
        out.append("<tr><td>features</td><td>").append(Html.text(probe.path("features").asText())).append("</td></tr>\n");
      }
      for (String split : List.of("train", "validation", "test")) {
        OptionalDouble rows = number(probe, split + "_rows");
        metricRow(split + " rows", rows.isPresent() ? "<td class=\"num\">" + Html.count((long) rows.getAsDouble())
            + "</td>" : "", rows);
      }
      out.append("</table>\n");
    }

    private void retrievalTable(JsonNode retrieval) {
      JsonNode i2t = retrieval.path("image_to_text");
      JsonNode t2i = retrieval.path("text_to_image");
      out.append("<table id=\"metrics-retrieval\">\n<caption>Retrieval");
      boolean counted = retrieval.path("images").isNumber() && retrieval.path("texts").isNumber();
      boolean distinctCounts = retrieval.path("rows").isNumber() && retrieval.path("distinct_images").isNumber()
          && retrieval.path("distinct_captions").isNumber();
      String distinct = distinctCounts ? Html.count(retrieval.path("distinct_images").asLong()) + " distinct images, "
          + Html.count(retrieval.path("distinct_captions").asLong()) + " distinct captions" : "";
      if (distinctCounts && retrieval.path("dedupe_captions").asBoolean(false)) {
        out.append(" (").append(Html.count(retrieval.path("rows").asLong())).append(" rows: ").append(distinct)
            .append(")");
      } else if (distinctCounts && counted) {
        out.append(" (").append(Html.count(retrieval.path("rows").asLong())).append(" rows: ")
            .append(Html.count(retrieval.path("images").asLong())).append(" images and ")
            .append(Html.count(retrieval.path("texts").asLong())).append(" texts ranked, one text per row; ")
            .append(distinct).append(")");
      } else if (counted) {
        out.append(" (").append(Html.count(retrieval.path("images").asLong())).append(" images, ")
            .append(Html.count(retrieval.path("texts").asLong())).append(" texts)");
      }
      out.append("</caption>\n<tr><th>metric</th><th>image \u2192 text</th><th>text \u2192 image</th></tr>\n");
      for (String k : List.of("recall@1", "recall@5", "recall@10")) {
        if (i2t.has(k) || t2i.has(k)) {
          out.append("<tr><td>").append(k).append("</td>").append(percentCell(number(i2t, k)))
              .append(percentCell(number(t2i, k))).append("</tr>\n");
        }
      }
      if (i2t.has("median_rank") || t2i.has("median_rank")) {
        out.append("<tr><td>median rank</td>").append(numberCell(number(i2t, "median_rank")))
            .append(numberCell(number(t2i, "median_rank"))).append("</tr>\n");
      }
      out.append("</table>\n");
      if (retrieval.hasNonNull("rule")) {
        out.append("<p class=\"note\" id=\"retrieval-rule\">Protocol: ").append(Html.text(retrieval.path("rule")
            .asText())).append(" (<code>eval.retrieval.dedupe-captions = ")
            .append(retrieval.path("dedupe_captions").asBoolean(false)).append("</code>).</p>\n");
      }
    }

    private void metricRow(String name, String cell, OptionalDouble value) {
      if (value.isPresent()) {
        out.append("<tr><td>").append(name).append("</td>").append(cell).append("</tr>\n");
      }
    }

    private static String percentCell(OptionalDouble value) {
      return "<td class=\"num\">" + (value.isPresent() ? Html.percent(value.getAsDouble()) : "\u2014") + "</td>";
    }

    private static String numberCell(OptionalDouble value) {
      return "<td class=\"num\">" + (value.isPresent() ? Html.number(value.getAsDouble()) : "\u2014") + "</td>";
    }

    // ---- class charts

    private void section(String id, String title) {
      out.append("<section id=\"").append(id).append("\">\n<h2>").append(Html.text(title)).append("</h2>\n");
    }

    private void templates() {
      JsonNode templates = report.path("templates");
      JsonNode list = templates.path("templates");
      if (!list.isArray() || list.isEmpty()) {
        return;
      }
      out.append("<details id=\"templates\"><summary>The ").append(list.size()).append(" prompt templates");
      if (templates.hasNonNull("source")) {
        out.append(" (").append(Html.text(templates.path("source").asText())).append(")");
      }
      out.append("</summary>\n<ol>\n");
      list.forEach(t -> out.append("<li><code>").append(Html.text(t.asText())).append("</code></li>\n"));
      out.append("</ol></details>\n");
    }

    private void perClass(String idPrefix, String field, String title, JsonNode section) {
      if (!section.path("per_class_accuracy").isArray() || section.path("per_class_accuracy").isEmpty()) {
        return;
      }
      double[] accuracy = doubles(section.path("per_class_accuracy"), field + ".per_class_accuracy");
      List<String> names = classNames(accuracy.length, field + ".per_class_accuracy");
      long[] counts = null;
      if (section.path("per_class_count").isArray()) {
        counts = longs(section.path("per_class_count"), field + ".per_class_count", accuracy.length);
      } else if (section.path("confusion_matrix").isArray()) {
        long[][] matrix = matrix(section.path("confusion_matrix"), field + ".confusion_matrix", accuracy.length);
        counts = new long[accuracy.length];
        for (int i = 0; i < counts.length; i++) {
          for (long c : matrix[i]) {
            counts[i] += c;
          }
        }
      }
      var png = ReportCharts.perClassAccuracy(names, accuracy);
      String caption = accuracy.length <= ReportCharts.ALL_CLASSES_LIMIT
          ? "The fraction of each class's examples classified correctly."
          : "The " + ReportCharts.BEST_WORST + " best and the " + ReportCharts.BEST_WORST + " worst of the "
              + Html.count(accuracy.length) + " classes; the table below has every class.";
      figure(idPrefix + "-per-class-accuracy", title, png, caption);
      out.append("<details class=\"per-class\"><summary>Accuracy of every class</summary>\n<table>\n")
          .append("<tr><th>#</th><th>class</th><th>accuracy</th>").append(counts != null ? "<th>examples</th>" : "")
          .append("</tr>\n");
      for (int i = 0; i < accuracy.length; i++) {
        out.append("<tr><td class=\"num\">").append(i).append("</td><td>").append(Html.text(names.get(i)))
            .append("</td><td class=\"num\">").append(Html.percent(accuracy[i])).append("</td>");
        if (counts != null) {
          out.append("<td class=\"num\">").append(Html.count(counts[i])).append("</td>");
        }
        out.append("</tr>\n");
      }
      out.append("</table></details>\n");
    }

    private void confusion(String idPrefix, String field, String title, JsonNode section) {
      if (!section.path("confusion_matrix").isArray() || section.path("confusion_matrix").isEmpty()) {
        return;
      }
      int n = section.path("confusion_matrix").size();
      long[][] counts = matrix(section.path("confusion_matrix"), field + ".confusion_matrix", n);
      List<String> names = classNames(n, field + ".confusion_matrix");
      boolean all = n <= ReportCharts.HEATMAP_ALL_LIMIT;
      int[] shown = all ? IntStream.range(0, n).toArray() : ReportCharts.mostConfused(counts, ReportCharts.CONFUSED_CLASSES);
      var png = ReportCharts.confusionMatrix(names, counts, shown);
      String caption = "Rows: true class, columns: predicted class; each cell is the percentage of the true "
          + "class's examples predicted as the column's class.";
      if (!all) {
        caption += " <span class=\"note\">Only the " + shown.length + " classes in the most frequent confusions of the "
            + Html.count(n) + " are shown, confused pairs side by side; a row's percentages count all "
            + Html.count(n) + " predicted classes, so they may sum to less than 100.</span>";
      }
      figure(idPrefix + "-confusion-matrix", title, png, caption);
    }

    private void sweep(JsonNode probe) {
      JsonNode sweep = probe.path("sweep");
      if (!sweep.isArray() || sweep.isEmpty()) {
        return;
      }
      var reg = new ArrayList<Double>();
      var accuracy = new ArrayList<Double>();
      var dropped = new ArrayList<String>();
      for (JsonNode point : sweep) {
        OptionalDouble r = number(point, "reg_param");
        OptionalDouble a = number(point, "validation_accuracy");
        if (r.isEmpty() || a.isEmpty()) {
          continue;
        }
        if (r.getAsDouble() > 0) {
          reg.add(r.getAsDouble());
          accuracy.add(a.getAsDouble());
        } else {
          dropped.add(Html.number(r.getAsDouble()) + " (" + Html.percent(a.getAsDouble()) + ")");
        }
      }
      if (reg.isEmpty()) {
        return;
      }
      Integer[] order = IntStream.range(0, reg.size()).boxed().sorted(Comparator.comparingDouble(reg::get))
          .toArray(Integer[]::new);
      double[] x = new double[order.length];
      double[] y = new double[order.length];
      for (int i = 0; i < order.length; i++) {
        x[i] = reg.get(order[i]);
        y[i] = accuracy.get(order[i]);
      }
      OptionalDouble chosen = number(probe, "chosen_reg_param");
      var png = ReportCharts.regularisationSweep(x, y, chosen.orElse(Double.NaN));
      String caption = "Validation accuracy of the probe trained with each regularisation parameter (log scale)"
          + (chosen.isPresent() ? "; the chosen " + Html.number(chosen.getAsDouble()) + " is marked." : ".");
      if (!dropped.isEmpty()) {
        caption += " Not on the log axis: " + String.join(", ", dropped) + ".";
      }
      figure("linear-probe-sweep", "Linear probe: validation accuracy against regularisation", png, caption);
    }

    // ---- retrieval examples and learning curves

    private void examples(JsonNode examples) {
      section("retrieval", "Retrieval examples");
      out.append("<p>Each query image with the captions it retrieves best (image \u2192 text), most similar first; "
          + "the image's own captions are marked \u2713.</p>\n<div class=\"examples\">\n");
      int index = 0;
      for (JsonNode example : examples) {
        String key = example.path("key").asText("");
        out.append("<figure class=\"example\" id=\"example-").append(index++).append("\">\n");
        String image = example.path("image_jpeg_base64").asText("");
        if (!image.isEmpty() && BASE64.matcher(image).matches()) {
          out.append("<img class=\"example-image\" alt=\"").append(Html.text("query image " + key))
              .append("\" src=\"data:image/jpeg;base64,").append(image.replaceAll("\\s", "")).append("\">\n");
        } else {
          out.append("<p class=\"note\">").append(image.isEmpty() ? "No image in the report." : "The image is not base64.")
              .append("</p>\n");
        }
        out.append("<figcaption>");
        if (!key.isEmpty()) {
          out.append("<div class=\"key\"><code>").append(Html.text(key)).append("</code></div>\n");
        }
        if (example.hasNonNull("caption")) {
          long captions = example.path("captions").asLong(1);
          out.append("<div class=\"truth\">Caption: ").append(Html.text(example.path("caption").asText()))
              .append(captions > 1 ? " (and " + Html.count(captions - 1) + " more)" : "").append("</div>\n");
        }
        boolean found = false;
        out.append("<ol class=\"top\">\n");
        for (JsonNode top : example.path("top")) {
          boolean correct = top.path("correct").asBoolean(false);
          found |= correct;
          out.append(correct ? "<li class=\"correct\"><span class=\"mark\" title=\"the image's own caption\">\u2713 </span>"
              : "<li>").append(Html.text(top.path("caption").asText("")));
          OptionalDouble score = number(top, "score");
          if (score.isPresent()) {
            out.append(" <span class=\"score\">").append(String.format(Locale.ROOT, "%.3f", score.getAsDouble()))
                .append("</span>");
          }
          out.append("</li>\n");
        }
        out.append("</ol>\n");
        if (!found && example.path("top").size() > 0) {
          out.append("<div class=\"note\">The own caption is not among the top ").append(example.path("top").size())
              .append(".</div>\n");
        }
        out.append("</figcaption>\n</figure>\n");
      }
      out.append("</div>\n</section>\n");
    }

    private void learningCurves(JsonNode curve) {
      var points = new ArrayList<JsonNode>();
      curve.forEach(points::add);
      points.sort(Comparator.comparingDouble(p -> p.path("step").asDouble(Double.NaN)));
      var loss = series(points, "loss");
      var scale = series(points, "logit_scale");
      if (loss[0].length == 0 && scale[0].length == 0) {
        return;
      }
      section("learning-curve", "Learning curves");
      out.append("<p>From the training run's <code>metrics.jsonl</code>.</p>\n");
      if (loss[0].length > 0) {
        figure("learning-curve-loss", "Training loss", ReportCharts.curve("loss", loss[0], loss[1]),
            "The contrastive loss of each logged step.");
      }
      if (scale[0].length > 0) {
        figure("learning-curve-logit-scale", "Logit scale", ReportCharts.curve("logit scale", scale[0], scale[1]),
            "The logit scale (the inverse softmax temperature, exp of the learned parameter) of each logged step.");
      }
      out.append("</section>\n");
    }

    /** {steps, values} of the points that have a finite {@code field} and a step. */
    private static double[][] series(List<JsonNode> points, String field) {
      var steps = new ArrayList<Double>();
      var values = new ArrayList<Double>();
      for (JsonNode p : points) {
        OptionalDouble step = number(p, "step");
        OptionalDouble value = number(p, field);
        if (step.isPresent() && value.isPresent()) {
          steps.add(step.getAsDouble());
          values.add(value.getAsDouble());
        }
      }
      return new double[][] {steps.stream().mapToDouble(Double::doubleValue).toArray(),
          values.stream().mapToDouble(Double::doubleValue).toArray()};
    }

    private void figure(String id, String title, ReportCharts.Png png, String captionHtml) {
      out.append("<figure>\n<h3>").append(Html.text(title)).append("</h3>\n<img class=\"chart\" id=\"").append(id)
          .append("\" width=\"").append(png.width()).append("\" height=\"").append(png.height())
          .append("\" alt=\"").append(Html.text(title)).append("\" src=\"data:image/png;base64,")
          .append(Base64.getEncoder().encodeToString(png.bytes())).append("\">\n<figcaption>").append(captionHtml)
          .append("</figcaption>\n</figure>\n");
    }

    // ---- reading the document

    private List<String> classNames(int n, String what) {
      if (classes.isEmpty()) {
        return IntStream.range(0, n).mapToObj(i -> "class " + i).toList();
      }
      if (classes.size() != n) {
        throw new IllegalArgumentException("Cannot render " + what + ": it has " + n + " classes but \"classes\" has "
            + classes.size());
      }
      return classes;
    }

    private static OptionalDouble number(JsonNode parent, String field) {
      JsonNode v = parent.path(field);
      return v.isNumber() && Double.isFinite(v.asDouble()) ? OptionalDouble.of(v.asDouble()) : OptionalDouble.empty();
    }

    private static double[] doubles(JsonNode array, String what) {
      double[] values = new double[array.size()];
      for (int i = 0; i < values.length; i++) {
        if (!array.get(i).isNumber()) {
          throw new IllegalArgumentException("Cannot render " + what + ": element " + i + " is not a number");
        }
        values[i] = array.get(i).asDouble();
      }
      return values;
    }

    private static long[] longs(JsonNode array, String what, int n) {
      if (array.size() != n) {
        throw new IllegalArgumentException("Cannot render " + what + ": it has " + array.size() + " values for " + n
            + " classes");
      }
      long[] values = new long[n];
      for (int i = 0; i < n; i++) {
        if (!array.get(i).isNumber()) {
          throw new IllegalArgumentException("Cannot render " + what + ": element " + i + " is not a number");
        }
        values[i] = array.get(i).asLong();
      }
      return values;
    }

    private static long[][] matrix(JsonNode rows, String what, int n) {
      if (rows.size() != n) {
        throw new IllegalArgumentException("Cannot render " + what + ": it has " + rows.size() + " rows for " + n
            + " classes");
      }
      long[][] m = new long[n][];
      for (int i = 0; i < n; i++) {
        if (!rows.get(i).isArray() || rows.get(i).size() != n) {
          throw new IllegalArgumentException("Cannot render " + what + ": row " + i + " is not " + n + " counts");
        }
        m[i] = longs(rows.get(i), what + " row " + i, n);
      }
      return m;
    }
  }

  /** {@code 'sha256-...'} source expression for a Content-Security-Policy allowing exactly this inline text. */
  static String sha256(String inline) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(inline.getBytes(StandardCharsets.UTF_8));
      return "sha256-" + Base64.getEncoder().encodeToString(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("Cannot hash the page's inline script: the JVM has no SHA-256", e);
    }
  }
}
