package dev.clipspark.dataset.build;

import dev.clipspark.dataset.RejectReason;
import dev.clipspark.dataset.fetch.FetchResult;
import dev.clipspark.dataset.fetch.OrderedParallelMap;
import dev.clipspark.dataset.fetch.UrlFetcher;
import dev.clipspark.dataset.image.ImageProcessor;
import dev.clipspark.dataset.image.ImageResult;
import dev.clipspark.dataset.source.HadoopConf;
import dev.clipspark.dataset.source.Sources;
import java.io.IOException;
import java.io.Serializable;
import java.util.Iterator;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * Turns one partition of fetch units into rows of {@link Schemas#FETCHED}: loads the image bytes (in
 * hand from the source, fetched over HTTP with {@code fetch.threads} downloads in flight, or read from a
 * file system), hashes them, then decodes, validates, resizes and re-encodes them on the task's own
 * thread. Every unit yields exactly one row, rejected or not. Captions were checked when the plan was
 * made, so only candidates worth their image get here.
 */
final class CandidateProcessor implements FlatMapFunction<Iterator<CandidateProcessor.Unit>, Row> {

  private static final long serialVersionUID = 1L;

  private final BuildOptions options;
  private final HadoopConf hadoopConf;

  CandidateProcessor(BuildOptions options, HadoopConf hadoopConf) {
    this.options = options;
    this.hadoopConf = hadoopConf;
  }

  /**
   * One image to load: by its fetch key ({@code u:URL}, {@code p:PATH}), or with its bytes in hand
   * ({@code k:KEY}, read from the source).
   */
  record Unit(String fetchKey, byte[] bytes) implements Serializable {
    static Unit of(String fetchKey) {
      return new Unit(fetchKey, null);
    }
  }

  /** A unit whose image bytes were loaded, or why they could not be. */
  private record Loaded(String fetchKey, byte[] bytes, RejectReason reject, String detail) {}

  @Override
  public Iterator<Row> call(Iterator<Unit> units) {
    var fetcher = new UrlFetcher(options.fetch());
    var images = new ImageProcessor(options.image());
    TaskContext task = TaskContext.get();
    OrderedParallelMap<Unit, Loaded> loaded =
        OrderedParallelMap.map(units, options.fetch().threads(), u -> load(u, fetcher));
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

  private Loaded load(Unit u, UrlFetcher fetcher) {
    String key = u.fetchKey();
    if (u.bytes() != null) {
      return new Loaded(key, u.bytes(), null, null);
    }
    if (key.startsWith(FetchKeys.URL)) {
      FetchResult r = fetcher.fetch(key.substring(FetchKeys.URL.length()));
      return r.ok() ? new Loaded(key, r.body(), null, null) : new Loaded(key, null, r.reject(), r.detail());
    }
    if (key.startsWith(FetchKeys.PATH)) {
      try {
        byte[] bytes = Sources.readFile(key.substring(FetchKeys.PATH.length()), hadoopConf.get(),
            options.fetch().maxBodyBytes());
        return new Loaded(key, bytes, null, null);
      } catch (IOException | RuntimeException e) {
        return new Loaded(key, null, RejectReason.READ_ERROR, String.valueOf(e.getMessage()));
      }
    }
    // A k: key whose candidate the source no longer yields with bytes.
    return new Loaded(key, null, RejectReason.MISSING_IMAGE, "the source did not yield this candidate's image");
  }

  private static Row process(Loaded l, ImageProcessor images) {
    if (l.reject() != null) {
      return rejected(l.fetchKey(), l.reject(), l.detail());
    }
    ImageResult r = images.process(l.bytes());
    if (!r.ok()) {
      return rejected(l.fetchKey(), r.reject(), r.detail());
    }
    return RowFactory.create(l.fetchKey(), Schemas.OK, null, r.jpeg(), r.width(), r.height(),
        r.sourceWidth(), r.sourceHeight(), Hashes.sha256Hex(l.bytes()));
  }

  private static Row rejected(String fetchKey, RejectReason reason, String detail) {
    return RowFactory.create(fetchKey, reason.key(), detail, null, null, null, null, null, null);
  }

  /** The prefixes of fetch keys. */
  static final class FetchKeys {
    /** An http(s) URL, normalised. */
    static final String URL = "u:";
    /** A local path or file-system URI. */
    static final String PATH = "p:";
    /** A candidate whose bytes its source holds; the rest is the candidate's key. */
    static final String IN_SOURCE = "k:";

    private FetchKeys() {}
  }
}
