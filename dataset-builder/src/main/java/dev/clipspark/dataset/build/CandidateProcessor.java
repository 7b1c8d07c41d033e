package dev.clipspark.dataset.build;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.fetch.FetchResult;
import dev.clipspark.dataset.fetch.OrderedParallelMap;
import dev.clipspark.dataset.fetch.UrlFetcher;
import dev.clipspark.dataset.image.ImageProcessor;
import dev.clipspark.dataset.image.ImageResult;
import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.dataset.source.Sources;
import java.io.IOException;
import java.util.Iterator;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * Turns one partition of candidates into rows of {@link Schemas#PROCESSED}: checks the caption, loads
 * the image bytes (in hand, fetched over HTTP with {@code fetch.threads} downloads in flight, or read
 * from a file system), hashes them, then decodes, validates, resizes and re-encodes them on the task's
 * own thread. Every candidate yields exactly one row, rejected or not.
 */
final class CandidateProcessor implements FlatMapFunction<Iterator<Candidate>, Row> {

  private static final long serialVersionUID = 1L;

  private final BuildOptions options;
  private final HadoopConf hadoopConf;

  CandidateProcessor(BuildOptions options, HadoopConf hadoopConf) {
    this.options = options;
    this.hadoopConf = hadoopConf;
  }

  /** A candidate whose image bytes were loaded, or why they could not be. */
  private record Loaded(Candidate candidate, String caption, byte[] bytes, RejectReason reject, String detail) {}

  @Override
  public Iterator<Row> call(Iterator<Candidate> candidates) {
    var fetcher = new UrlFetcher(options.fetch());
    var images = new ImageProcessor(options.image());
    TaskContext task = TaskContext.get();
    OrderedParallelMap<Candidate, Loaded> loaded =
        OrderedParallelMap.map(candidates, options.fetch().threads(), c -> load(c, fetcher));
    Runnable close = () -> {
      loaded.close();
      fetcher.close();
      images.close();
    };
    if (task != null) {
      task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> close.run());
    }
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        boolean more = loaded.hasNext();
        if (!more && task == null) {
          close.run();
        }
        return more;
      }

      @Override
      public Row next() {
        return process(loaded.next(), images);
      }
    };
  }

  private Loaded load(Candidate c, UrlFetcher fetcher) {
    if (c.reject() != null) {
      return new Loaded(c, c.caption(), null, c.reject(), null);
    }
    String caption = Captions.clean(c.caption());
    RejectReason captionProblem = Captions.check(caption, options.captionMaxLength());
    if (captionProblem != null) {
      // Checked before loading: a caption that cannot be used is not worth a download.
      return new Loaded(c, caption, null, captionProblem, null);
    }
    if (c.imageBytes() != null) {
      return new Loaded(c, caption, c.imageBytes(), null, null);
    }
    if (c.url() != null) {
      FetchResult r = fetcher.fetch(c.url());
      return r.ok()
          ? new Loaded(c, caption, r.body(), null, null)
          : new Loaded(c, caption, null, r.reject(), r.detail());
    }
    if (c.path() != null) {
      try {
        byte[] bytes = Sources.readFile(c.path(), hadoopConf.get(), options.fetch().maxBodyBytes());
        return new Loaded(c, caption, bytes, null, null);
      } catch (IOException | RuntimeException e) {
        return new Loaded(c, caption, null, RejectReason.READ_ERROR, String.valueOf(e.getMessage()));
      }
    }
    return new Loaded(c, caption, null, RejectReason.MISSING_IMAGE, null);
  }

  private static Row process(Loaded l, ImageProcessor images) {
    Candidate c = l.candidate();
    if (l.reject() != null) {
      return rejected(c, l.caption(), l.reject(), l.detail());
    }
    ImageResult r = images.process(l.bytes());
    if (!r.ok()) {
      return rejected(c, l.caption(), r.reject(), r.detail());
    }
    return RowFactory.create(c.key(), c.source(), c.url(), l.caption(), r.jpeg(), r.width(), r.height(),
        r.sourceWidth(), r.sourceHeight(), Hashes.sha256Hex(l.bytes()), Schemas.OK, null);
  }

  private static Row rejected(Candidate c, String caption, RejectReason reason, String detail) {
    return RowFactory.create(c.key(), c.source(), c.url(), caption, null, null, null, null, null, null,
        reason.key(), detail);
  }
}
