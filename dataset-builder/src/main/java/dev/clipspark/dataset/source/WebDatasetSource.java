package dev.clipspark.dataset.source;

import dev.clipspark.dataset.Candidate;
import java.io.IOException;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code webdataset:PATH}: tar files as img2dataset writes them, one Spark partition per tar (in order of
 * their relative names), each streamed by a {@link TarCandidateReader}. Keys are
 * {@code <tar's relative name without .tar>/<member key>}; for a flat directory or a single tar the
 * relative name is the file name.
 */
final class WebDatasetSource implements CandidateSource {

  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(WebDatasetSource.class);
  static final String EXPECTED = "a .tar file, a directory of .tar files or a glob such as /data/*.tar";

  private final String spec;
  private final String path;
  private final SourceOptions options;

  WebDatasetSource(String spec, String path, SourceOptions options) {
    this.spec = spec;
    this.path = path;
    this.options = options;
  }

  @Override
  public String spec() {
    return spec;
  }

  @Override
  public JavaRDD<Candidate> candidates(SparkSession spark) {
    HadoopConf conf = HadoopConf.from(spark);
    List<FileListing.Listed> tars = FileListing.list(spec, path, conf.get(), "._",
        rel -> rel.toLowerCase(Locale.ROOT).endsWith(".tar"), EXPECTED, ".tar files");
    LOG.info("Reading {} tar files of {}", tars.size(), spec);
    var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Broadcast<HadoopConf> shared = jsc.broadcast(conf);
    String source = spec;
    long maxBytes = options.maxFileBytes();
    return jsc.parallelize(tars, tars.size())
        .flatMap(tar -> read(tar, shared.value(), source, maxBytes));
  }

  static Iterator<Candidate> read(FileListing.Listed tar, HadoopConf conf, String source, long maxBytes) {
    String name = new Path(tar.path()).getName();
    String rel = tar.relative();
    String prefix = rel.toLowerCase(Locale.ROOT).endsWith(".tar") ? rel.substring(0, rel.length() - 4) : rel;
    TarCandidateReader reader;
    try {
      var p = new Path(tar.path());
      reader = new TarCandidateReader(p.getFileSystem(conf.get()).open(p), prefix, rel, source, maxBytes);
    } catch (IOException e) {
      LOG.warn("Cannot open {} of {}: {}", name, source, e.getMessage());
      return TarCandidateReader.unreadable(rel, source);
    }
    TaskContext task = TaskContext.get();
    if (task != null) {
      task.addTaskCompletionListener((TaskCompletionListener) ctx -> {
        try {
          reader.close();
        } catch (IOException e) {
          LOG.debug("Closing {} failed: {}", name, e.getMessage());
        }
      });
    }
    return reader;
  }
}
