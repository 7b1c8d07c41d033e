package dev.clipspark.evaluation.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.stream.IntStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries.XYSeriesRenderStyle;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler.ChartTheme;
import org.knowm.xchart.style.Styler.LegendLayout;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The report's charts, drawn with XChart and encoded as PNG. Chart titles are left to the page's headings;
 * class names on the axes are cut to {@link #LABEL_CHARS} characters (the page's tables carry them whole).
 */
final class ReportCharts {

  /** Width of the line charts and of the per-class bar chart when few classes leave it narrow. */
  static final int WIDTH = 900;
  /** Height of the line charts. */
  static final int LINE_HEIGHT = 420;
  /** Height of the per-class bar chart (the rotated class names take the lower part). */
  static final int BAR_HEIGHT = 560;
  /** Horizontal pixels per class in the per-class bar chart. */
  static final int BAR_PIXELS = 18;
  /** The per-class bar chart shows every class up to this many, else the best and worst {@link #BEST_WORST}. */
  static final int ALL_CLASSES_LIMIT = 60;
  /** How many best and how many worst classes the bar chart shows for many classes. */
  static final int BEST_WORST = 25;
  /** The confusion heat map shows every class up to this many, else {@link #CONFUSED_CLASSES} of them. */
  static final int HEATMAP_ALL_LIMIT = 50;
  /** How many classes the confusion heat map shows for many classes: those in the most frequent confusions. */
  static final int CONFUSED_CLASSES = 20;
  /** Pixels per heat-map cell. */
  static final int CELL_PIXELS = 18;
  /** Class names on the axes are cut to this many characters. */
  static final int LABEL_CHARS = 24;
  /** The heat map writes each cell's percentage when it shows at most this many classes. */
  static final int CELL_VALUES_LIMIT = 20;

  private static final Color BLUE = new Color(0x1f77b4);
  private static final Color ORANGE = new Color(0xd62728);
  private static final Color GRID = new Color(0xdddddd);

  static {
    // Charts are drawn off-screen; without this a JVM with a DISPLAY set would try to reach an X server.
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }

  private ReportCharts() {}

  /** A chart encoded as PNG, with its pixel size. */
  record Png(byte[] bytes, int width, int height) {}

  /**
   * Per-class accuracy bars with the class names on the x axis: every class in class order up to
   * {@link #ALL_CLASSES_LIMIT} classes, else the {@link #BEST_WORST} best and worst, best first.
   */
  static Png perClassAccuracy(List<String> classes, double[] accuracy) {
    int n = accuracy.length;
    boolean all = n <= ALL_CLASSES_LIMIT;
    int shown = all ? n : 2 * BEST_WORST;
    int width = Math.max(WIDTH, 120 + BAR_PIXELS * shown);
    var chart = new CategoryChart(width, BAR_HEIGHT);
    var styler = chart.getStyler();
    style(styler);
    styler.setXAxisLabelRotation(90);
    styler.setYAxisMin(0.0).setYAxisMax(100.0);
    styler.setAvailableSpaceFill(0.8);
    styler.setOverlapped(true);
    chart.setYAxisTitle("accuracy (%)");
    if (all) {
      styler.setLegendVisible(false);
      chart.setXAxisTitle("class");
      chart.addSeries("accuracy", labels(classes, IntStream.range(0, n)), percentages(accuracy, IntStream.range(0, n)));
    } else {
      Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
      // Best first; equal accuracies in class order so the chart is the same on every run.
      Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -accuracy[i]).thenComparingInt(i -> i));
      var picked = new ArrayList<Integer>(shown);
      picked.addAll(Arrays.asList(order).subList(0, BEST_WORST));
      picked.addAll(Arrays.asList(order).subList(n - BEST_WORST, n));
      var names = labels(classes, picked.stream().mapToInt(Integer::intValue));
      var best = new ArrayList<Double>(shown);
      var worst = new ArrayList<Double>(shown);
      for (int k = 0; k < shown; k++) {
        double value = 100 * accuracy[picked.get(k)];
        best.add(k < BEST_WORST ? value : 0.0);
        worst.add(k < BEST_WORST ? 0.0 : value);
      }
      chart.setXAxisTitle("class (the " + BEST_WORST + " best and the " + BEST_WORST + " worst of " + n + ")");
      styler.setLegendPosition(LegendPosition.InsideNE);
      styler.setSeriesColors(new Color[] {BLUE, ORANGE});
      chart.addSeries(BEST_WORST + " best", names, best);
      chart.addSeries(BEST_WORST + " worst", names, worst);
    }
    return png(chart, width, BAR_HEIGHT);
  }

  /**
   * A confusion-matrix heat map of the classes {@code shown} (indices into {@code counts}, in display order):
   * true class down the y axis (the first shown at the top), predicted class along the x axis, each cell the
   * percentage of the true class's examples (all of its row, shown or not) predicted as the column's class.
   */
  static Png confusionMatrix(List<String> classes, long[][] counts, int[] shown) {
    int k = shown.length;
    int width = 300 + CELL_PIXELS * k + 120;
    int height = 220 + CELL_PIXELS * k;
    width = Math.max(width, 640);
    height = Math.max(height, 480);
    // HeatMapChart(width, height) leaves its styler's fonts and colours null in XChart 3.8.8; name the theme.
    var chart = new HeatMapChart(width, height, ChartTheme.XChart);
    var styler = chart.getStyler();
    style(styler);
    styler.setLegendPosition(LegendPosition.OutsideE);
    styler.setXAxisLabelRotation(90);
    styler.setMin(0).setMax(100);
    // Light enough at 100% for the black cell values to stay readable.
    styler.setRangeColors(new Color[] {Color.WHITE, new Color(0xc6dbef), new Color(0x6baed6), new Color(0x2171b5)});
    styler.setShowValue(k <= CELL_VALUES_LIMIT);
    styler.setHeatMapValueDecimalPattern("0");
    styler.setValueFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
    styler.setPlotGridLinesVisible(false);
    chart.setXAxisTitle("predicted class");
    chart.setYAxisTitle("true class");
    var x = labels(classes, Arrays.stream(shown));
    var y = new ArrayList<>(x);
    java.util.Collections.reverse(y); // row 0 of the heat map is drawn at the bottom
    var cells = new ArrayList<Number[]>(k * k);
    for (int r = 0; r < k; r++) {
      long[] row = counts[shown[r]];
      long total = 0;
      for (long c : row) {
        total += c;
      }
      for (int c = 0; c < k; c++) {
        if (row[shown[c]] > 0) { // empty cells stay blank rather than filled with "0"
          cells.add(new Number[] {c, k - 1 - r, 100.0 * row[shown[c]] / total});
        }
      }
    }
    chart.addSeries("% of the true class", x, y, cells);
    return png(chart, width, height);
  }

  /**
   * The {@code k} classes (or all, if fewer) most involved in confusions, in display order: pairs of classes
   * by their confusions in both directions ({@code counts[i][j] + counts[j][i]}), most first, each pair adding
   * its classes not yet picked; when the confused pairs run out, the classes with the most errors, then in
   * class order. Confused pairs come out side by side.
   */
  static int[] mostConfused(long[][] counts, int k) {
    int n = counts.length;
    if (k >= n) {
      return IntStream.range(0, n).toArray();
    }
    // Only the top k(k-1)/2 + k pairs can matter: a pair adds no class only when both of its classes are
    // already among the (at most k) picked, and at most k(k-1)/2 pairs lie within them. A bounded heap keeps
    // those without sorting all n(n-1)/2 pairs. Pair order: most confusions first, then by (i, j).
    int keep = k * (k - 1) / 2 + k;
    Comparator<long[]> order =
        Comparator.<long[]>comparingLong(p -> -p[0]).thenComparingLong(p -> p[1]).thenComparingLong(p -> p[2]);
    var heap = new PriorityQueue<long[]>(keep + 1, order.reversed()); // the worst kept pair on top
    for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
        long both = counts[i][j] + counts[j][i];
        if (both > 0 && (heap.size() < keep || order.compare(new long[] {both, i, j}, heap.peek()) < 0)) {
          heap.add(new long[] {both, i, j});
          if (heap.size() > keep) {
            heap.poll();
          }
        }
      }
    }
    var pairs = new ArrayList<>(heap);
    pairs.sort(order);
    var picked = new LinkedHashSet<Integer>();
    for (long[] pair : pairs) {
      for (int side = 1; side <= 2 && picked.size() < k; side++) {
        picked.add((int) pair[side]);
      }
      if (picked.size() == k) {
        break;
      }
    }
    if (picked.size() < k) {
      long[] errors = new long[n];
      for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
          if (i != j) {
            errors[i] += counts[i][j];
            errors[j] += counts[i][j];
          }
        }
      }
      IntStream.range(0, n).boxed()
          .filter(i -> !picked.contains(i))
          .sorted(Comparator.<Integer>comparingLong(i -> -errors[i]).thenComparingInt(i -> i))
          .limit(k - picked.size())
          .toList()
          .forEach(picked::add);
    }
    return picked.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Validation accuracy against the regularisation parameter on a log x axis, the chosen value marked. */
  static Png regularisationSweep(double[] regParams, double[] validationAccuracy, double chosen) {
    var chart = new XYChart(WIDTH, LINE_HEIGHT);
    var styler = chart.getStyler();
    style(styler);
    styler.setXAxisLogarithmic(true);
    styler.setLegendPosition(LegendPosition.OutsideS);
    styler.setLegendLayout(LegendLayout.Horizontal);
    styler.setSeriesColors(new Color[] {BLUE, ORANGE});
    chart.setXAxisTitle("regularisation parameter");
    chart.setYAxisTitle("validation accuracy (%)");
    double[] y = Arrays.stream(validationAccuracy).map(a -> 100 * a).toArray();
    var sweep = chart.addSeries("validation accuracy", regParams, y);
    sweep.setXYSeriesRenderStyle(XYSeriesRenderStyle.Line);
    sweep.setMarker(SeriesMarkers.CIRCLE);
    for (int i = 0; i < regParams.length; i++) {
      if (regParams[i] == chosen) {
        var mark = chart.addSeries("chosen", new double[] {regParams[i]}, new double[] {y[i]});
        mark.setXYSeriesRenderStyle(XYSeriesRenderStyle.Scatter);
        mark.setMarker(SeriesMarkers.DIAMOND);
        break;
      }
    }
    if (regParams.length == 1) {
      // One point gives the log axis no range; give it a decade either side.
      styler.setXAxisMin(regParams[0] / 10).setXAxisMax(regParams[0] * 10);
    }
    return png(chart, WIDTH, LINE_HEIGHT);
  }

  /** One line of {@code values} against {@code steps}, markers only when there are few points. */
  static Png curve(String yTitle, double[] steps, double[] values) {
    var chart = new XYChart(WIDTH, LINE_HEIGHT);
    var styler = chart.getStyler();
    style(styler);
    styler.setLegendVisible(false);
    styler.setSeriesColors(new Color[] {BLUE});
    styler.setSeriesLines(new BasicStroke[] {new BasicStroke(1.5f)});
    chart.setXAxisTitle("step");
    if (steps.length > 0 && steps[0] >= 0) {
      styler.setXAxisMin(0.0); // round tick values rather than ones counted from the first logged step
    }
    chart.setYAxisTitle(yTitle);
    var series = chart.addSeries(yTitle, steps, values);
    series.setXYSeriesRenderStyle(XYSeriesRenderStyle.Line);
    series.setMarker(steps.length <= 50 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
    return png(chart, WIDTH, LINE_HEIGHT);
  }

  private static void style(AxesChartStyler styler) {
    styler.setChartTitleVisible(false);
    styler.setChartBackgroundColor(Color.WHITE);
    styler.setPlotBackgroundColor(Color.WHITE);
    styler.setPlotBorderColor(Color.GRAY);
    styler.setPlotGridLinesColor(GRID);
    styler.setLegendBorderColor(Color.LIGHT_GRAY);
    styler.setChartPadding(12);
    styler.setAntiAlias(true);
  }

  private static List<String> labels(List<String> classes, IntStream indices) {
    return indices.mapToObj(i -> {
      String name = classes.get(i);
      return name.length() <= LABEL_CHARS ? name : name.substring(0, LABEL_CHARS - 1) + "\u2026";
    }).toList();
  }

  private static List<Double> percentages(double[] fractions, IntStream indices) {
    return indices.mapToObj(i -> 100 * fractions[i]).toList();
  }

  private static Png png(Chart<?, ?> chart, int width, int height) {
    try {
      return new Png(BitmapEncoder.getBitmapBytes(chart, BitmapFormat.PNG), width, height);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot encode a " + width + "x" + height + " chart as PNG", e);
    }
  }
}
