package dev.clipspark.evaluation.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HtmlReportTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Fashion-MNIST's classes, one renamed to markup that must come out escaped. */
  private static final List<String> FASHION = List.of("t-shirt/top", "trouser", "pullover", "dress", "coat",
      "sandal", "shirt", "sneaker", "<b>&\"", "ankle boot");

  private static final Pattern CHART = Pattern.compile(
      "<img class=\"chart\" id=\"([^\"]+)\" width=\"(\\d+)\" height=\"(\\d+)\" alt=\"[^\"]*\" "
          + "src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\">");

  // ---- captioning

  @Test
  void captioningReportHasTheThreeVariantsAndEscapedCaptions() {
    ObjectNode report = JSON.createObjectNode();
    report.put("task", "captioning");
    report.putObject("checkpoint").put("directory", "/runs/limber/checkpoints/step-00000040")
        .put("model", "LiMBeR (pooled features, k = 4)").put("step", 40);
    report.putObject("dataset").put("spec", "shards:/data/shapes").put("split", "test").put("rows", 12);
    ObjectNode c = report.putObject("captioning");
    c.put("images", 10).put("references", 12);
    c.putObject("decoding").put("decode", "beam").put("beam_width", 3);
    double[][] scores = {{0.41, 3.2}, {0.05, 0.31}, {0.02, 0.12}};
    String[] variants = {"model", "shuffled", "no_image"};
    for (int i = 0; i < 3; i++) {
      ObjectNode v = c.putObject(variants[i]);
      v.put("bleu4", scores[i][0]).put("cider_d", scores[i][1]);
      v.putArray("bleu").add(0.9).add(0.7).add(0.5).add(scores[i][0]);
    }
    ObjectNode e = c.putArray("examples").addObject();
    e.put("key", "img-1").put("model", "<script>alert(1)</script> a red circle").put("shuffled", "a blue square")
        .put("no_image", "a shape").put("image_jpeg_base64", "AAAA");
    e.putArray("references").add("a red circle & a dot");

    String html = HtmlReport.render(report);

    assertThat(html).contains("<h1>Captioning: LiMBeR (pooled features, k = 4) at step 40</h1>");
    assertThat(html).contains("<table id=\"metrics-captioning\">\n<caption>Captioning (10 images, 12 reference"
        + " captions)</caption>");
    assertThat(html).containsSubsequence("<td>model</td>", "<td>shuffled images (baseline)</td>",
        "<td>no image (baseline)</td>");
    assertThat(html).contains("Decoding: <code>decode = beam, beam_width = 3</code>");
    assertThat(html).contains("&lt;script&gt;alert(1)&lt;/script&gt; a red circle").doesNotContain("<script>alert");
    assertThat(html).contains("<li>a red circle &amp; a dot</li>").contains("src=\"data:image/jpeg;base64,AAAA\"");
  }

  // ---- zero-shot

  @Test
  void zeroshotReportWithTenClassesHasTablesChartsAndEscapedNames() throws IOException {
    ObjectNode report = zeroshotReport(FASHION, 1000, 7);
    addLearningCurve(report, 30);

    String html = HtmlReport.render(report);

    assertThat(html).contains("<title>Zero-shot classification: tiny-vit at step 300 on "
        + "idx:/usr/share/datasets/fashion-mnist</title>");
    assertThat(html).contains("<h1>Zero-shot classification: tiny-vit at step 300</h1>");
    assertThat(html).contains("<p class=\"subtitle\">on idx:/usr/share/datasets/fashion-mnist, test split, "
        + "10,000 rows</p>");
    assertThat(html).contains("<tr><th>Checkpoint</th><td>/runs/x/checkpoints/step-00000300</td></tr>");
    // The class name `<b>&"` is text, in the per-class table and nowhere raw.
    assertThat(html).contains("<td>&lt;b&gt;&amp;&quot;</td>").doesNotContain("<b>&\"");

    String table = element(html, "table", "metrics-zeroshot");
    JsonReport zs = new JsonReport(report.path("zeroshot"));
    assertThat(table).contains("<th>ensemble of 3 templates</th>",
        "<th>single template <code>a photo of a {}.</code></th>");
    assertThat(table).contains("<tr><td>top-1 accuracy</td><td class=\"num\">" + Html.percent(zs.top1)
        + "</td><td class=\"num\">65.00%</td></tr>");
    assertThat(table).contains("<tr><td>top-5 accuracy</td><td class=\"num\">98.00%</td><td class=\"num\">97.00%</td></tr>");
    assertThat(table).contains("<tr><td>mean per-class recall</td><td class=\"num\">" + Html.percent(zs.meanRecall));
    assertThat(html).contains("<details id=\"templates\"><summary>The 3 prompt templates (fashion-mnist)</summary>");

    Map<String, BufferedImage> charts = charts(html);
    assertThat(charts).containsOnlyKeys("zeroshot-per-class-accuracy", "zeroshot-confusion-matrix",
        "learning-curve-loss", "learning-curve-logit-scale");
    assertSize(charts.get("zeroshot-per-class-accuracy"), ReportCharts.WIDTH, ReportCharts.BAR_HEIGHT);
    assertSize(charts.get("zeroshot-confusion-matrix"), 640, 480);
    assertSize(charts.get("learning-curve-loss"), ReportCharts.WIDTH, ReportCharts.LINE_HEIGHT);
    assertSize(charts.get("learning-curve-logit-scale"), ReportCharts.WIDTH, ReportCharts.LINE_HEIGHT);
    assertThat(html).contains("<figcaption>The fraction of each class's examples classified correctly.</figcaption>")
        .doesNotContain("most frequent confusions");

    // Every class in the per-class table, with its accuracy and count.
    String perClass = html.substring(html.indexOf("<details class=\"per-class\">"));
    perClass = perClass.substring(0, perClass.indexOf("</details>"));
    assertThat(count(perClass, "<tr><td class=\"num\">")).isEqualTo(10);
    assertThat(perClass).contains("<td>trouser</td><td class=\"num\">" + Html.percent(zs.perClass[1])
        + "</td><td class=\"num\">1,000</td>");

    assertThat(html).doesNotContain("id=\"linear-probe\"", "id=\"metrics-linear-probe\"", "id=\"metrics-retrieval\"",
        "id=\"retrieval\"");
    assertSelfContained(html);
  }

  @Test
  void zeroshotReportWithHundredClassesShowsBestAndWorstAndTheMostConfused() throws IOException {
    var classes = new ArrayList<String>();
    for (int i = 0; i < 100; i++) {
      classes.add("class number " + i + " with a rather long name");
    }
    ObjectNode report = zeroshotReport(classes, 100, 11);

    String html = HtmlReport.render(report);

    Map<String, BufferedImage> charts = charts(html);
    assertThat(charts).containsOnlyKeys("zeroshot-per-class-accuracy", "zeroshot-confusion-matrix");
    assertSize(charts.get("zeroshot-per-class-accuracy"), 120 + ReportCharts.BAR_PIXELS * 50, ReportCharts.BAR_HEIGHT);
    assertSize(charts.get("zeroshot-confusion-matrix"), 300 + ReportCharts.CELL_PIXELS * 20 + 120,
        220 + ReportCharts.CELL_PIXELS * 20);
    assertThat(html).contains("The 25 best and the 25 worst of the 100 classes; the table below has every class.");
    assertThat(html).contains("Only the 20 classes in the most frequent confusions of the 100 are shown");
    String perClass = html.substring(html.indexOf("<details class=\"per-class\">"));
    assertThat(count(perClass.substring(0, perClass.indexOf("</details>")), "<tr><td class=\"num\">")).isEqualTo(100);
    assertThat(html).doesNotContain("id=\"learning-curve\"");
  }

  @Test
  void mostConfusedTakesClassesPairByPairThenByErrors() {
    long[][] counts = new long[6][6];
    for (int i = 0; i < 6; i++) {
      counts[i][i] = 50;
    }
    counts[2][5] = 7;
    counts[5][2] = 2; // pair (2, 5): 9
    counts[0][3] = 8; // pair (0, 3): 8
    counts[1][3] = 5; // pair (1, 3): 5
    counts[4][1] = 1; // pair (1, 4): 1

    assertThat(ReportCharts.mostConfused(counts, 3)).containsExactly(2, 5, 0);
    assertThat(ReportCharts.mostConfused(counts, 4)).containsExactly(2, 5, 0, 3);
    assertThat(ReportCharts.mostConfused(counts, 5)).containsExactly(2, 5, 0, 3, 1);
    assertThat(ReportCharts.mostConfused(counts, 6)).containsExactly(0, 1, 2, 3, 4, 5);

    // Too few confused pairs: the rest by their errors (as true or predicted class), then in class order.
    long[][] few = new long[6][6];
    few[2][5] = 3;
    few[4][4] = 9;
    assertThat(ReportCharts.mostConfused(few, 4)).containsExactly(2, 5, 0, 1);
    few[4][0] = 1; // (0, 4) is now the second pair
    assertThat(ReportCharts.mostConfused(few, 3)).containsExactly(2, 5, 0);
    assertThat(ReportCharts.mostConfused(few, 5)).containsExactly(2, 5, 0, 4, 1);
  }

  // ---- linear probe

  @Test
  void linearProbeReportHasProbeTableSweepAndProbeClassCharts() throws IOException {
    ObjectNode report = header("linear-probe");
    report.set("classes", strings(FASHION));
    ObjectNode probe = report.putObject("linear_probe");
    probe.put("features", "image").put("test_accuracy", 0.85).put("validation_accuracy", 0.86)
        .put("chosen_reg_param", 0.001).put("train_rows", 48000).put("validation_rows", 12000)
        .put("test_rows", 10000);
    ArrayNode sweep = probe.putArray("sweep");
    double[] regs = {0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1};
    double[] accuracies = {0.80, 0.84, 0.845, 0.852, 0.86, 0.83, 0.74, 0.52};
    for (int i = 0; i < regs.length; i++) {
      sweep.addObject().put("reg_param", regs[i]).put("validation_accuracy", accuracies[i]);
    }
    long[][] matrix = confusion(10, 1000, new Random(3));
    probe.set("per_class_accuracy", JSON.valueToTree(recalls(matrix)));
    probe.set("confusion_matrix", JSON.valueToTree(matrix));

    String html = HtmlReport.render(report);

    assertThat(html).contains("<h1>Linear probe: tiny-vit at step 300</h1>");
    String table = element(html, "table", "metrics-linear-probe");
    assertThat(table).contains("<tr><td>test accuracy</td><td class=\"num\">85.00%</td></tr>",
        "<tr><td>validation accuracy</td><td class=\"num\">86.00%</td></tr>",
        "<tr><td>chosen regularisation</td><td class=\"num\">1e-3</td></tr>",
        "<tr><td>features</td><td>image</td></tr>",
        "<tr><td>train rows</td><td class=\"num\">48,000</td></tr>");
    Map<String, BufferedImage> charts = charts(html);
    assertThat(charts).containsOnlyKeys("linear-probe-sweep", "linear-probe-per-class-accuracy",
        "linear-probe-confusion-matrix");
    assertSize(charts.get("linear-probe-sweep"), ReportCharts.WIDTH, ReportCharts.LINE_HEIGHT);
    assertThat(html).contains("<h3>Linear probe: per-class test accuracy</h3>",
        "<h3>Linear probe: confusion matrix (test set)</h3>",
        "the chosen 1e-3 is marked. Not on the log axis: 0 (80.00%).");
    // Without per_class_count, the examples per class are the confusion matrix's row sums.
    assertThat(html).contains("<th>examples</th>", "<td class=\"num\">1,000</td>");
    assertThat(html).doesNotContain("id=\"zeroshot\"", "id=\"metrics-zeroshot\"", "id=\"retrieval\"");
    assertSelfContained(html);
  }

  // ---- retrieval

  @Test
  void retrievalReportHasBothDirectionsAndExamplesWithImagesButNoClassCharts() throws IOException {
    ObjectNode report = retrievalReport();

    String html = HtmlReport.render(report);

    assertThat(html).contains("<h1>Retrieval: tiny-vit at step 300</h1>");
    String table = element(html, "table", "metrics-retrieval");
    assertThat(table).contains("<caption>Retrieval (1,000 images, 1,000 texts)</caption>",
        "<tr><td>recall@1</td><td class=\"num\">30.00%</td><td class=\"num\">28.00%</td></tr>",
        "<tr><td>recall@10</td><td class=\"num\">70.00%</td><td class=\"num\">69.00%</td></tr>",
        "<tr><td>median rank</td><td class=\"num\">4</td><td class=\"num\">5</td></tr>");
    assertThat(charts(html)).isEmpty();
    assertThat(html).doesNotContain("per-class", "confusion", "id=\"zeroshot\"", "id=\"linear-probe\"");

    // Each example's image is the JPEG the report carried.
    Matcher images = Pattern.compile("<img class=\"example-image\" alt=\"query image ([^\"]+)\" "
        + "src=\"data:image/jpeg;base64,([A-Za-z0-9+/=]+)\">").matcher(html);
    int found = 0;
    while (images.find()) {
      BufferedImage image = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(images.group(2))));
      assertThat(image).as("example %s", images.group(1)).isNotNull();
      assertSize(image, 48, 48);
      found++;
    }
    assertThat(found).isEqualTo(4);
    assertThat(html).contains("<li class=\"correct\"><span class=\"mark\" title=\"the image's own caption\">\u2713 </span>"
        + "a red circle <span class=\"score\">0.310</span></li>");
    assertThat(html).contains("<li>a red square <span class=\"score\">0.200</span></li>");
    // Captions are user data.
    assertThat(html).contains("a &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; caption")
        .doesNotContain("<script>alert");
    assertThat(html).contains("<div class=\"note\">The own caption is not among the top 2.</div>");
    assertThat(html).contains("<p class=\"note\">The image is not base64.</p>");
    assertSelfContained(html);
  }

  @Test
  void retrievalTablesStateRowsDistinctCountsAndTheRuleOfEitherProtocol() throws IOException {
    ObjectNode report = retrievalReport();
    ((ObjectNode) report.path("retrieval")).put("dedupe_captions", true).put("rule", "distinct captions: <rule>")
        .put("rows", 1581).put("distinct_images", 1581).put("distinct_captions", 770).put("texts", 770)
        .put("images", 1581);
    ((ObjectNode) report.path("retrieval").path("examples").get(0)).put("captions", 3);
    String html = HtmlReport.render(report);
    assertThat(element(html, "table", "metrics-retrieval"))
        .contains("<caption>Retrieval (1,581 rows: 1,581 distinct images, 770 distinct captions)</caption>");
    assertThat(html).contains("<p class=\"note\" id=\"retrieval-rule\">Protocol: distinct captions: &lt;rule&gt; "
        + "(<code>eval.retrieval.dedupe-captions = true</code>).</p>");
    assertThat(html).contains("<div class=\"truth\">Caption: a red circle (and 2 more)</div>");

    ((ObjectNode) report.path("retrieval")).put("dedupe_captions", false).put("rule", "per row").put("texts", 1581);
    html = HtmlReport.render(report);
    assertThat(element(html, "table", "metrics-retrieval")).contains("<caption>Retrieval (1,581 rows: 1,581 images and"
        + " 1,581 texts ranked, one text per row; 1,581 distinct images, 770 distinct captions)</caption>");
    assertThat(html).contains("Protocol: per row (<code>eval.retrieval.dedupe-captions = false</code>)");
    assertSelfContained(html);
  }

  // ---- sparse documents

  @Test
  void sectionsWithLittleDataRenderWhatTheyHave() throws IOException {
    ObjectNode report = header("linear-probe");
    report.remove("created");
    ((ObjectNode) report.path("checkpoint")).remove("step");
    ObjectNode probe = report.putObject("linear_probe").put("test_accuracy", 0.5);
    probe.putArray("sweep").addObject().put("reg_param", 0.01).put("validation_accuracy", 0.49);
    probe.putArray("per_class_accuracy"); // empty: no chart
    ArrayNode curve = report.putArray("learning_curve");
    curve.addObject().put("step", 100).put("loss", 2.5); // one point, no logit scale anywhere
    curve.addObject().put("step", 200).putNull("loss");

    String html = HtmlReport.render(report);

    assertThat(html).contains("<h1>Linear probe: tiny-vit</h1>").doesNotContain("<th>Created</th>", "<th>Step</th>");
    Map<String, BufferedImage> charts = charts(html);
    assertThat(charts).containsOnlyKeys("linear-probe-sweep", "learning-curve-loss");
    assertThat(html).contains("<tr><td>test accuracy</td><td class=\"num\">50.00%</td></tr>")
        .doesNotContain("validation accuracy</td>", "chosen regularisation", "the chosen");
  }

  @Test
  void numbersAreShort() {
    assertThat(Html.number(0.001)).isEqualTo("1e-3");
    assertThat(Html.number(1e-6)).isEqualTo("1e-6");
    assertThat(Html.number(2.5e-4)).isEqualTo("2.5e-4");
    assertThat(Html.number(0.01)).isEqualTo("0.01");
    assertThat(Html.number(0.12345)).isEqualTo("0.1235");
    assertThat(Html.number(4)).isEqualTo("4");
    assertThat(Html.number(4.5)).isEqualTo("4.5");
    assertThat(Html.number(3e12)).isEqualTo("3e12");
    assertThat(Html.percent(0.7123)).isEqualTo("71.23%");
    assertThat(Html.count(48000)).isEqualTo("48,000");
    assertThat(Html.text("<b>&\"'")).isEqualTo("&lt;b&gt;&amp;&quot;&#39;");
  }

  // ---- errors

  @Test
  void missingRequiredSectionsAndMismatchedArraysAreRefused() {
    ObjectNode report = header("zeroshot");
    report.remove("checkpoint");
    assertThatThrownBy(() -> HtmlReport.render(report)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot render the report: \"checkpoint\" is missing");

    ObjectNode mismatched = zeroshotReport(FASHION, 10, 1);
    ((ArrayNode) mismatched.path("zeroshot").path("per_class_accuracy")).remove(9);
    assertThatThrownBy(() -> HtmlReport.render(mismatched)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot render zeroshot.per_class_accuracy: it has 9 classes but \"classes\" has 10");

    ObjectNode ragged = zeroshotReport(FASHION, 10, 1);
    ((ArrayNode) ragged.path("zeroshot").path("confusion_matrix").path(4)).remove(0);
    assertThatThrownBy(() -> HtmlReport.render(ragged)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot render zeroshot.confusion_matrix: row 4 is not 10 counts");
  }

  // ---- the page in a browser

  @Test
  void chromiumRendersEveryChartAndImage(@TempDir Path dir) throws Exception {
    // Every section at once: zero-shot, linear probe, retrieval examples and learning curves.
    ObjectNode report = zeroshotReport(FASHION, 1000, 5);
    addLearningCurve(report, 200);
    ObjectNode probe = report.putObject("linear_probe");
    probe.put("test_accuracy", 0.85).put("chosen_reg_param", 0.001);
    ArrayNode sweep = probe.putArray("sweep");
    for (int e = -6; e <= 0; e++) {
      sweep.addObject().put("reg_param", Math.pow(10, e)).put("validation_accuracy", 0.8 - 0.01 * Math.abs(e + 3));
    }
    report.set("retrieval", retrievalReport().path("retrieval"));
    Path page = dir.resolve("report.html");

    HtmlReport.write(report, page);

    String written = Files.readString(page, StandardCharsets.UTF_8);
    int charts = charts(written).size();
    assertThat(charts).isEqualTo(5);
    String dom = dumpDom(page, dir.resolve("chromium-profile"));
    assertThat(dom).as("the script's chart count").contains("<body data-charts=\"" + charts + "\">");
    List<String> images = new ArrayList<>();
    Matcher img = Pattern.compile("<img\\b[^>]*>").matcher(dom);
    while (img.find()) {
      images.add(img.group().replaceAll("src=\"[^\"]*\"", "src=..."));
    }
    assertThat(images).filteredOn(tag -> tag.contains("class=\"chart\"")).hasSize(charts)
        .allSatisfy(tag -> assertThat(tag).contains("data-rendered=\"true\""));
    assertThat(images).filteredOn(tag -> tag.contains("class=\"example-image\"")).hasSize(4)
        .allSatisfy(tag -> assertThat(tag).contains("data-rendered=\"true\""));
  }

  // ---- fixtures

  private static ObjectNode header(String task) {
    ObjectNode report = JSON.createObjectNode();
    report.put("task", task).put("created", "2026-12-02T18:00:00Z");
    report.putObject("checkpoint").put("directory", "/runs/x/checkpoints/step-00000300").put("step", 300)
        .put("model", "tiny-vit");
    report.putObject("dataset").put("spec", "idx:/usr/share/datasets/fashion-mnist").put("kind", "idx")
        .put("split", "test").put("rows", 10000);
    return report;
  }

  /** A zero-shot report whose metrics all follow from one generated confusion matrix. */
  private static ObjectNode zeroshotReport(List<String> classes, int perClass, long seed) {
    ObjectNode report = header("zeroshot");
    report.set("classes", strings(classes));
    ObjectNode templates = report.putObject("templates").put("source", "fashion-mnist");
    templates.set("templates", strings(List.of("a photo of a {}, a type of clothing.",
        "a photo of the {}, a type of clothing.", "a low resolution photo of a {}.")));
    long[][] matrix = confusion(classes.size(), perClass, new Random(seed));
    double[] recalls = recalls(matrix);
    long correct = 0;
    long total = 0;
    double recallSum = 0;
    for (int i = 0; i < matrix.length; i++) {
      correct += matrix[i][i];
      for (long c : matrix[i]) {
        total += c;
      }
      recallSum += recalls[i];
    }
    ObjectNode zs = report.putObject("zeroshot");
    zs.put("top1", (double) correct / total).put("top5", 0.98).put("mean_per_class_recall", recallSum / matrix.length);
    zs.set("per_class_accuracy", JSON.valueToTree(recalls));
    long[] counts = new long[matrix.length];
    java.util.Arrays.fill(counts, perClass);
    zs.set("per_class_count", JSON.valueToTree(counts));
    zs.set("confusion_matrix", JSON.valueToTree(matrix));
    zs.putObject("single_template").put("template", "a photo of a {}.").put("top1", 0.65).put("top5", 0.97)
        .put("mean_per_class_recall", 0.64);
    return report;
  }

  /**
   * {@code perClass} examples of each of {@code n} classes: each class right with its own probability (30% to
   * 98%), its errors mostly on two "look-alike" classes and the rest spread at random, as real classifiers err.
   */
  private static long[][] confusion(int n, int perClass, Random random) {
    long[][] m = new long[n][n];
    for (int i = 0; i < n; i++) {
      double p = 0.3 + 0.68 * random.nextDouble();
      int lookAlike = (i + 1 + random.nextInt(n - 1)) % n;
      int other = (i + 1 + random.nextInt(n - 1)) % n;
      for (int k = 0; k < perClass; k++) {
        double u = random.nextDouble();
        int predicted = u < p ? i : u < p + (1 - p) * 0.6 ? lookAlike : u < p + (1 - p) * 0.8 ? other
            : random.nextInt(n);
        m[i][predicted]++;
      }
    }
    return m;
  }

  private static double[] recalls(long[][] m) {
    double[] r = new double[m.length];
    for (int i = 0; i < m.length; i++) {
      long total = 0;
      for (long c : m[i]) {
        total += c;
      }
      r[i] = (double) m[i][i] / total;
    }
    return r;
  }

  /** A learning curve as the trainer logs it: the loss falls, the logit scale climbs from 1/0.07. */
  private static void addLearningCurve(ObjectNode report, int points) {
    ArrayNode curve = report.putArray("learning_curve");
    Random random = new Random(1);
    for (int k = 1; k <= points; k++) {
      int step = 10 * k;
      curve.addObject().put("step", step)
          .put("loss", 0.8 + 2.3 * Math.exp(-step / 400.0) + 0.05 * random.nextGaussian())
          .put("logit_scale", 14.29 + 10 * (1 - Math.exp(-step / 900.0)))
          .put("lr", 0.001);
    }
  }

  /** A retrieval report with four real 48x48 JPEG query images and one image that is not base64. */
  private static ObjectNode retrievalReport() {
    ObjectNode report = header("retrieval");
    ObjectNode retrieval = report.putObject("retrieval").put("images", 1000).put("texts", 1000);
    retrieval.putObject("image_to_text").put("recall@1", 0.3).put("recall@5", 0.6).put("recall@10", 0.7)
        .put("median_rank", 4);
    retrieval.putObject("text_to_image").put("recall@1", 0.28).put("recall@5", 0.58).put("recall@10", 0.69)
        .put("median_rank", 5);
    ArrayNode examples = retrieval.putArray("examples");
    example(examples, "k1", jpeg(Color.RED, true), "a red circle",
        new Object[][] {{"a red circle", 0.31, true}, {"a red square", 0.2, false}});
    example(examples, "k2", jpeg(Color.BLUE, false), "a blue square",
        new Object[][] {{"a blue circle", 0.28, false}, {"a blue square", 0.27, true}, {"a green square", 0.1, false}});
    example(examples, "k3", jpeg(Color.GREEN, true), "a green circle",
        new Object[][] {{"a green square", 0.25, false}, {"a <script>alert(\"x\")</script> caption", 0.21, false}});
    example(examples, "k4", jpeg(Color.ORANGE, false), "an orange square",
        new Object[][] {{"an orange square", 0.4, true}});
    example(examples, "k5", "not\" onerror=\"alert(1)", "broken", new Object[][] {});
    return report;
  }

  private static void example(ArrayNode examples, String key, String jpegBase64, String caption, Object[][] top) {
    ObjectNode example = examples.addObject().put("key", key).put("image_jpeg_base64", jpegBase64)
        .put("caption", caption);
    ArrayNode list = example.putArray("top");
    for (Object[] t : top) {
      list.addObject().put("caption", (String) t[0]).put("score", (Double) t[1]).put("correct", (Boolean) t[2]);
    }
  }

  private static String jpeg(Color color, boolean circle) {
    var image = new BufferedImage(48, 48, BufferedImage.TYPE_INT_RGB);
    var g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, 48, 48);
    g.setColor(color);
    g.setStroke(new BasicStroke(2));
    if (circle) {
      g.fillOval(8, 8, 32, 32);
    } else {
      g.fillRect(10, 10, 28, 28);
    }
    g.dispose();
    var bytes = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "jpg", bytes);
    } catch (IOException e) {
      throw new AssertionError("Cannot encode a test JPEG", e);
    }
    return Base64.getEncoder().encodeToString(bytes.toByteArray());
  }

  private static ArrayNode strings(List<String> values) {
    ArrayNode array = JSON.createArrayNode();
    values.forEach(array::add);
    return array;
  }

  /** The zero-shot section's numbers read back from the fixture. */
  private static final class JsonReport {
    final double top1;
    final double meanRecall;
    final double[] perClass;

    JsonReport(com.fasterxml.jackson.databind.JsonNode zs) {
      top1 = zs.path("top1").asDouble();
      meanRecall = zs.path("mean_per_class_recall").asDouble();
      perClass = new double[zs.path("per_class_accuracy").size()];
      for (int i = 0; i < perClass.length; i++) {
        perClass[i] = zs.path("per_class_accuracy").get(i).asDouble();
      }
    }
  }

  // ---- page inspection

  /** Every chart image on the page by id, decoded from its PNG; its width and height attributes must match. */
  private static Map<String, BufferedImage> charts(String html) throws IOException {
    var charts = new LinkedHashMap<String, BufferedImage>();
    Matcher m = CHART.matcher(html);
    while (m.find()) {
      byte[] png = Base64.getDecoder().decode(m.group(4));
      assertThat(png).as("chart %s", m.group(1)).startsWith(0x89, 'P', 'N', 'G');
      BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
      assertThat(image).as("chart %s decodes", m.group(1)).isNotNull();
      assertSize(image, Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
      assertThat(charts.put(m.group(1), image)).as("chart id %s is unique", m.group(1)).isNull();
    }
    assertThat(charts).hasSize(count(html, "class=\"chart\""));
    return charts;
  }

  private static void assertSize(BufferedImage image, int width, int height) {
    assertThat(image.getWidth()).isEqualTo(width);
    assertThat(image.getHeight()).isEqualTo(height);
  }

  /** The page loads nothing: every src is a data: URL, and no links, imports or external scripts. */
  private static void assertSelfContained(String html) {
    Matcher src = Pattern.compile("\\ssrc=\"([^\"]{0,20})").matcher(html);
    while (src.find()) {
      assertThat(src.group(1)).startsWith("data:image/");
    }
    assertThat(html).doesNotContain("http://", "https://", "<link", "@import", "url(", "<script src");
    assertThat(html).contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:;");
  }

  /** The element {@code <tag id="id" ...>...</tag>} (not nested in itself). */
  private static String element(String html, String tag, String id) {
    int start = html.indexOf("<" + tag + " id=\"" + id + "\"");
    assertThat(start).as("<%s id=\"%s\">", tag, id).isNotNegative();
    return html.substring(start, html.indexOf("</" + tag + ">", start) + tag.length() + 3);
  }

  private static int count(String s, String part) {
    int n = 0;
    for (int i = s.indexOf(part); i >= 0; i = s.indexOf(part, i + 1)) {
      n++;
    }
    return n;
  }

  /** Chromium's DOM of the loaded page, after its load handlers ran. */
  private static String dumpDom(Path page, Path profile) throws IOException, InterruptedException {
    Path chromium = chromium();
    Path stdout = profile.resolveSibling("chromium.out");
    Path stderr = profile.resolveSibling("chromium.err");
    var process = new ProcessBuilder(chromium.toString(), "--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile, "--dump-dom",
        page.toUri().toString())
        .redirectOutput(stdout.toFile())
        .redirectError(stderr.toFile())
        .start();
    if (!process.waitFor(120, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      fail("Chromium did not dump the page within 120 s; its stderr:\n" + Files.readString(stderr));
    }
    String dom = Files.readString(stdout, StandardCharsets.UTF_8);
    if (process.exitValue() != 0 || dom.isBlank()) {
      fail("Chromium exited with " + process.exitValue() + " and " + dom.length() + " characters of DOM; its stderr:\n"
          + Files.readString(stderr));
    }
    return dom;
  }

  private static Path chromium() {
    var candidates = new ArrayList<Path>();
    for (String name : List.of("chromium", "chromium-browser", "google-chrome")) {
      candidates.add(Path.of("/usr/bin", name));
      for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
        if (!dir.isEmpty()) {
          candidates.add(Path.of(dir, name));
        }
      }
    }
    return candidates.stream().filter(Files::isExecutable).findFirst().orElseThrow(() -> new AssertionError(
        "Cannot open report.html in a browser: no chromium, chromium-browser or google-chrome in /usr/bin or on "
            + "the PATH. Install Debian's chromium package (apt-get install chromium) to run this test."));
  }
}
