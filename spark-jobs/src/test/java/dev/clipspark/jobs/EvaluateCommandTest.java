package dev.clipspark.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The summary {@code clip evaluate} prints. */
class EvaluateCommandTest {

  @Test
  void theRetrievalSummaryStatesRowsDistinctCountsAndTheProtocol() {
    var retrieval = new LinkedHashMap<String, Object>();
    retrieval.put("dedupe_captions", true);
    retrieval.put("rows", 1581L);
    retrieval.put("distinct_images", 1581L);
    retrieval.put("distinct_captions", 770L);
    retrieval.put("images", 1581);
    retrieval.put("texts", 770);
    retrieval.put("image_to_text", direction(0.309, 0.5, 0.6, 3.0));
    retrieval.put("text_to_image", direction(0.2, 0.4, 0.5, 7.5));
    var report = report(retrieval);

    assertThat(EvaluateCommand.summary(report)).isEqualTo(String.format(
        "Evaluated tiny-vit (step 300) on shards:/data/clipart: retrieval, 1581 rows%n"
            + "  retrieval on 1581 rows: 1581 distinct images, 770 distinct captions; identical captions are one"
            + " candidate (eval.retrieval.dedupe-captions = true)%n"
            + "  image to text: R@1 0.3090, R@5 0.5000, R@10 0.6000, median rank 3.0%n"
            + "  text to image: R@1 0.2000, R@5 0.4000, R@10 0.5000, median rank 7.5%n"
            + "  report /r/report.json"));

    retrieval.put("dedupe_captions", false);
    retrieval.put("texts", 1581);
    assertThat(EvaluateCommand.summary(report)).contains(String.format("  retrieval on 1581 rows (1581 distinct images,"
        + " 770 distinct captions): 1581 images and 1581 texts ranked, one text per row"
        + " (eval.retrieval.dedupe-captions = false)%n"));
  }

  private static Map<String, Object> direction(double r1, double r5, double r10, double median) {
    return Map.of("recall@1", r1, "recall@5", r5, "recall@10", r10, "median_rank", median);
  }

  private static Map<String, Object> report(Map<String, Object> retrieval) {
    var report = new LinkedHashMap<String, Object>();
    report.put("task", "retrieval");
    report.put("checkpoint", Map.of("model", "tiny-vit", "step", 300));
    report.put("dataset", Map.of("spec", "shards:/data/clipart", "rows", 1581L));
    report.put("retrieval", retrieval);
    report.put("report_json", "/r/report.json");
    return report;
  }
}
