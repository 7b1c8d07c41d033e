package dev.clipspark.dataset.source;

import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code folder:DIR}: a directory tree of images, each with a same-named {@code .txt} caption beside it
 * ({@code a/b/cat.jpg} and {@code a/b/cat.txt}).
 *
 * <p>The tree is listed on the driver (recursively, skipping names that start with a dot), paired by
 * relative path without extension, sorted, and read in executors in {@code source.partitions} partitions
 * (0: Spark's default parallelism). The key is the relative path without extension, so it does not
 * depend on the partitioning. An image without caption is {@code MISSING_CAPTION}, a caption without
 * image {@code MISSING_IMAGE}, a caption that is not UTF-8 {@code CAPTION_NOT_UTF8}, a file that cannot
 * be read or is larger than {@code source.max-file-bytes} {@code READ_ERROR}. When several images share
 * one caption ({@code cat.jpg}, {@code cat.png}, {@code cat.txt}), the first by extension is keyed
 * {@code cat} and the others {@code cat.png} etc., all with that caption.
 */
final class FolderSource implements CandidateSource {

  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(FolderSource.class);

  private final String spec;
  private final String path;
  private final SourceOptions options;

  /** One pair to read: either path may be null. */
  record Item(String key, String image, String caption) implements Serializable {}

  FolderSource(String spec, String path, SourceOptions options) {
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
    var extensions = new HashSet<>(options.folderExtensions());
    String expected = "a directory of images (" + String.join(", ", options.folderExtensions())
        + ") with a .txt caption beside each";
    if (FileListing.isFile(path, conf.get())) {
      throw new IllegalArgumentException(String.format(
          "Cannot read source '%s': %s is a file; expected %s", spec, path, expected));
    }
    List<FileListing.Listed> files = FileListing.list(spec, path, conf.get(), ".",
        rel -> extensions.contains(FileListing.extension(rel)) || FileListing.extension(rel).equals("txt"),
        expected, "images or .txt captions");
    List<Item> items = pair(files, options.folderExtensions());
    int slices = Math.max(1, Math.min(items.size(),
        options.partitions() > 0 ? options.partitions() : spark.sparkContext().defaultParallelism()));
    LOG.info("Reading {} image-caption pairs of {} in {} partitions", items.size(), spec, slices);
    var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Broadcast<HadoopConf> shared = jsc.broadcast(conf);
    String source = spec;
    long maxBytes = options.maxFileBytes();
    return jsc.parallelize(items, slices).map(item -> read(item, shared.value(), source, maxBytes));
  }

  /** Pairs images and captions by relative path without extension; sorted by key. */
  static List<Item> pair(List<FileListing.Listed> files, List<String> extensions) {
    var byStem = new TreeMap<String, List<FileListing.Listed>>();
    for (var f : files) {
      byStem.computeIfAbsent(FileListing.stripExtension(f.relative()), k -> new ArrayList<>()).add(f);
    }
    var items = new ArrayList<Item>();
    for (Map.Entry<String, List<FileListing.Listed>> e : byStem.entrySet()) {
      String caption = null;
      var images = new ArrayList<FileListing.Listed>();
      for (var f : e.getValue()) {
        if (FileListing.extension(f.relative()).equals("txt")) {
          caption = f.path();
        } else {
          images.add(f);
        }
      }
      images.sort(Comparator.comparingInt((FileListing.Listed f) -> rank(f, extensions))
          .thenComparing(FileListing.Listed::relative));
      if (images.isEmpty()) {
        items.add(new Item(e.getKey(), null, caption));
      }
      for (int i = 0; i < images.size(); i++) {
        var img = images.get(i);
        items.add(new Item(i == 0 ? e.getKey() : img.relative(), img.path(), caption));
      }
    }
    return items;
  }

  private static int rank(FileListing.Listed f, List<String> extensions) {
    return extensions.indexOf(FileListing.extension(f.relative()));
  }

  static Candidate read(Item item, HadoopConf conf, String source, long maxBytes) {
    String caption = null;
    boolean captionBad = false;
    if (item.caption() != null) {
      try {
        caption = Utf8.caption(BoundedRead.file(item.caption(), conf.get(), maxBytes));
        captionBad = caption == null;
      } catch (IOException e) {
        LOG.debug("Rejecting {}: {}", item.key(), e.getMessage());
        return Candidate.rejected(item.key(), source, null, null, RejectReason.READ_ERROR);
      }
    }
    if (item.image() == null) {
      return Candidate.rejected(item.key(), source, caption, null, RejectReason.MISSING_IMAGE);
    }
    byte[] image;
    try {
      image = BoundedRead.file(item.image(), conf.get(), maxBytes);
    } catch (IOException e) {
      LOG.debug("Rejecting {}: {}", item.key(), e.getMessage());
      return Candidate.rejected(item.key(), source, caption, null, RejectReason.READ_ERROR);
    }
    if (item.caption() == null) {
      return Candidate.rejected(item.key(), source, null, null, RejectReason.MISSING_CAPTION);
    }
    if (captionBad) {
      return Candidate.rejected(item.key(), source, null, null, RejectReason.CAPTION_NOT_UTF8);
    }
    return Candidate.ofBytes(item.key(), source, caption, image);
  }
}
