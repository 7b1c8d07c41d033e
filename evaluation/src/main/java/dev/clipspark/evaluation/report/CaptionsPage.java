package dev.clipspark.evaluation.report;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The page {@code clip caption} writes: each image (a JPEG thumbnail as a data URI) with its generated caption and,
 * when the source has one, its reference caption; a table of the run's facts above. Self-contained and inert like
 * the report pages: a content security policy allows images from data URIs and the one inline style, nothing else.
 */
public final class CaptionsPage {

  private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/]*={0,2}");
  private static final String STYLE = """
      body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
             padding: 0 1em; color: #222; }
      table.facts { border-collapse: collapse; margin: 0.8em 0; }
      table.facts th, table.facts td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
      table.facts th { background: #f4f4f4; font-weight: normal; }
      .images { display: flex; flex-wrap: wrap; gap: 1.2em; }
      figure.item { width: 240px; margin: 0; border: 1px solid #ddd; padding: 0.6em; }
      figure.item img { max-width: 100%; height: auto; image-rendering: pixelated; min-width: 128px; }
      .caption { font-weight: bold; margin: 0.3em 0; }
      .reference { color: #555; }
      .key { color: #777; font-size: 0.85em; }
      .note { color: #8a5a00; }
      """;

  private CaptionsPage() {}

  /**
   * The page.
   *
   * @param title the heading
   * @param facts name to value, shown as a table in order
   * @param items each with {@code key}, {@code caption}, optional {@code reference} and
   *     {@code image_jpeg_base64}
   * @param total captions written in all (the page may show fewer)
   */
  public static String render(String title, Map<String, ?> facts, List<Map<String, Object>> items, long total) {
    var out = new StringBuilder(1 << 16);
    out.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; ")
        .append("style-src '").append(HtmlReport.sha256(STYLE)).append("'\">\n")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .append("<title>").append(Html.text(title)).append("</title>\n<style>").append(STYLE)
        .append("</style>\n</head>\n<body>\n<h1>").append(Html.text(title)).append("</h1>\n<table class=\"facts\">\n");
    facts.forEach((k, v) -> out.append("<tr><th>").append(Html.text(k)).append("</th><td>")
        .append(Html.text(String.valueOf(v))).append("</td></tr>\n"));
    out.append("</table>\n");
    if (items.size() < total) {
      out.append("<p class=\"note\">Showing ").append(Html.count(items.size())).append(" of ")
          .append(Html.count(total)).append(" images (eval.captioning.html-images); the Parquet output has every"
              + " caption.</p>\n");
    }
    out.append("<div class=\"images\">\n");
    int index = 0;
    for (Map<String, Object> item : items) {
      String key = String.valueOf(item.get("key"));
      out.append("<figure class=\"item\" id=\"item-").append(index++).append("\">\n");
      Object image = item.get("image_jpeg_base64");
      if (image instanceof String b && BASE64.matcher(b).matches()) {
        out.append("<img alt=\"").append(Html.text("image " + key)).append("\" src=\"data:image/jpeg;base64,")
            .append(b).append("\">\n");
      } else {
        out.append("<p class=\"note\">No thumbnail (the image does not decode).</p>\n");
      }
      out.append("<figcaption><div class=\"caption\">").append(Html.text(String.valueOf(item.get("caption"))))
          .append("</div>\n");
      if (item.get("reference") != null) {
        out.append("<div class=\"reference\">Reference: ").append(Html.text(String.valueOf(item.get("reference"))))
            .append("</div>\n");
      }
      out.append("<div class=\"key\"><code>").append(Html.text(key)).append("</code></div>\n</figcaption>\n</figure>\n");
    }
    out.append("</div>\n</body>\n</html>\n");
    return out.toString();
  }
}
