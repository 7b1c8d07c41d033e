package dev.clipspark.dataset.source;

import dev.clipspark.dataset.Candidate;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * {@code synthetic:[NAME]}: {@code source.synthetic.count} pairs of {@link SyntheticShapes}, generated
 * in executors. The index range is cut into {@code source.partitions} contiguous ranges (0: Spark's
 * default parallelism); since every pair is a function of (seed, index), the pairs do not depend on the
 * partitioning.
 */
final class SyntheticSource implements CandidateSource {

  private static final long serialVersionUID = 1L;

  private final String spec;
  private final SourceOptions options;

  /** Indices {@code [start, end)}. */
  record Range(long start, long end) implements Serializable {}

  SyntheticSource(String spec, SourceOptions options) {
    this.spec = spec;
    this.options = options;
  }

  @Override
  public String spec() {
    return spec;
  }

  @Override
  public JavaRDD<Candidate> candidates(SparkSession spark) {
    long count = options.syntheticCount();
    int wanted = options.partitions() > 0 ? options.partitions() : spark.sparkContext().defaultParallelism();
    int slices = (int) Math.max(1, Math.min(wanted, count));
    var ranges = new ArrayList<Range>(slices);
    for (int i = 0; i < slices; i++) {
      ranges.add(new Range(count * i / slices, count * (i + 1) / slices));
    }
    String source = spec;
    long seed = options.syntheticSeed();
    int size = options.syntheticImageSize();
    return JavaSparkContext.fromSparkContext(spark.sparkContext())
        .parallelize(ranges, slices)
        .flatMap(r -> generate(r, seed, size, source));
  }

  private static Iterator<Candidate> generate(Range r, long seed, int size, String source) {
    return new Iterator<>() {
      long next = r.start();

      @Override
      public boolean hasNext() {
        return next < r.end();
      }

      @Override
      public Candidate next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        Candidate c = SyntheticShapes.pair(next++, seed, size);
        return new Candidate(c.key(), source, c.caption(), c.imageBytes(), null, null, null);
      }
    };
  }
}
