package dev.clipspark.dataset.source;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.dataset.Candidate;
import dev.clipspark.dataset.RejectReason;
import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams the candidates of one webdataset tar as img2dataset writes it, one key group at a time.
 *
 * <p>A member {@code dir/KEY.ext} belongs to key {@code dir/KEY} (webdataset's rule: the key ends at the
 * first dot of the last path component, the extension is the rest). Consecutive members with the same
 * key form a group: the first image member ({@code jpg, jpeg, png, webp, gif, bmp}) gives the bytes, the
 * first {@code txt} the caption, the first {@code json} the provenance URL (its {@code url} field); other
 * members are skipped. A group becomes one candidate keyed {@code PREFIX/KEY}.
 *
 * <p>Bad input never throws: a group without an image is {@code MISSING_IMAGE}, without a caption
 * {@code MISSING_CAPTION}, with a caption that is not UTF-8 {@code CAPTION_NOT_UTF8}, with a member larger
 * than the limit {@code READ_ERROR}. When the file ends inside a member's data, that member's key is
 * {@code TRUNCATED_TAR_MEMBER} and reading stops (keys completed before it are kept); any other read
 * error stops reading with the current key as {@code READ_ERROR}. A file that is not a tar at all
 * (its first header block fails the tar checksum) and a header that cannot be parsed later on yield one
 * {@code READ_ERROR} candidate keyed by the file's name. A key seen again after other keys (members not
 * consecutive) is {@code READ_ERROR} under {@code PREFIX/KEY~N}, so keys stay unique.
 *
 * <p>Note that a tar cut exactly at a header boundary cannot be told from a complete tar without its
 * end-of-archive blocks: its last group is read as it stands (e.g. {@code MISSING_CAPTION} if the
 * caption member was cut off).
 */
final class TarCandidateReader implements Iterator<Candidate>, Closeable {

  private static final Logger LOG = LoggerFactory.getLogger(TarCandidateReader.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Member extensions read as images. */
  static final Set<String> IMAGE_EXTENSIONS = Set.of("jpg", "jpeg", "png", "webp", "gif", "bmp");
  /** Largest {@code .json} member parsed for its URL. */
  private static final int MAX_JSON_BYTES = 1 << 20;
  private static final int BLOCK = 512;

  private final String prefix;
  private final String fileName;
  private final String source;
  private final long maxBytes;
  private final EofTracking raw;
  private final BufferedInputStream buffered;
  private TarArchiveInputStream tar;

  private final ArrayDeque<Candidate> pending = new ArrayDeque<>();
  private final Map<String, Integer> seen = new HashMap<>();
  private boolean started;
  private boolean done;
  private Group group;

  /**
   * @param in the tar bytes (closed by {@link #close()})
   * @param prefix the key prefix, the tar's relative name without {@code .tar}
   * @param fileName the tar's name, the key of a whole-file {@code READ_ERROR}
   * @param source every candidate's source
   * @param maxBytes largest member read; larger ones make their key {@code READ_ERROR}
   */
  TarCandidateReader(InputStream in, String prefix, String fileName, String source, long maxBytes) {
    this.prefix = prefix;
    this.fileName = fileName;
    this.source = source;
    this.maxBytes = maxBytes;
    this.raw = new EofTracking(in);
    this.buffered = new BufferedInputStream(raw, 1 << 16);
  }

  /** A reader whose only candidate is a {@code READ_ERROR} for a tar that could not be opened. */
  static Iterator<Candidate> unreadable(String fileName, String source) {
    return List.of(Candidate.rejected(fileName, source, null, null, RejectReason.READ_ERROR)).iterator();
  }

  @Override
  public boolean hasNext() {
    while (pending.isEmpty() && !done) {
      step();
    }
    return !pending.isEmpty();
  }

  @Override
  public Candidate next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    return pending.poll();
  }

  @Override
  public void close() throws IOException {
    done = true;
    buffered.close();
  }

  private void step() {
    if (!started) {
      started = true;
      if (!looksLikeTar()) {
        LOG.warn("{} in {} is not a tar archive", fileName, source);
        pending.add(Candidate.rejected(fileName, source, null, null, RejectReason.READ_ERROR));
        finish();
        return;
      }
      tar = new TarArchiveInputStream(buffered, "UTF-8");
    }
    TarArchiveEntry entry;
    try {
      entry = tar.getNextTarEntry();
    } catch (IOException e) {
      flushGroup();
      if (!raw.eof) {
        LOG.warn("Cannot read {} in {}: {}; skipping the rest of the file", fileName, source, e.getMessage());
        pending.add(Candidate.rejected(fileName, source, null, null, RejectReason.READ_ERROR));
      }
      finish();
      return;
    }
    if (entry == null) {
      flushGroup();
      finish();
      return;
    }
    if (!entry.isFile()) {
      return;
    }
    String name = entry.getName();
    while (name.startsWith("./")) {
      name = name.substring(2);
    }
    int slash = name.lastIndexOf('/');
    int dot = name.indexOf('.', slash + 1);
    String key = dot < 0 ? name : name.substring(0, dot);
    String ext = dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    if (group == null || !group.key.equals(key)) {
      flushGroup();
      group = new Group(key);
    }
    String role = IMAGE_EXTENSIONS.contains(ext) && group.image == null ? "image"
        : ext.equals("txt") && group.caption == null ? "caption"
        : ext.equals("json") && group.json == null ? "json"
        : "skip";
    long limit = role.equals("json") ? Math.min(MAX_JSON_BYTES, maxBytes) : maxBytes;
    try {
      if (role.equals("skip") || entry.getSize() > limit) {
        long skipped = drain(tar);
        if (skipped < entry.getSize()) {
          throw new IOException("member " + name + " ends early");
        }
        if (!role.equals("skip") && !role.equals("json")) {
          LOG.debug("Member {} of {} is {} bytes, over the limit of {}", name, fileName, entry.getSize(), limit);
          group.tooLarge = true;
        }
        return;
      }
      byte[] data = BoundedRead.stream(tar, limit, name);
      if (data.length < entry.getSize()) {
        throw new IOException("member " + name + " ends early");
      }
      switch (role) {
        case "image" -> group.image = data;
        case "caption" -> group.caption = data;
        default -> group.json = data;
      }
    } catch (IOException e) {
      group.reject = raw.eof ? RejectReason.TRUNCATED_TAR_MEMBER : RejectReason.READ_ERROR;
      LOG.warn("Cannot read member {} of {} in {}: {}; skipping the rest of the file", name, fileName, source,
          raw.eof ? "the file ends inside it" : e.getMessage());
      flushGroup();
      finish();
    }
  }

  /** Checks the first header block: an empty file or a zero block is an empty archive. */
  private boolean looksLikeTar() {
    try {
      buffered.mark(BLOCK);
      byte[] block = buffered.readNBytes(BLOCK);
      buffered.reset();
      boolean allZero = true;
      for (byte b : block) {
        allZero &= b == 0;
      }
      return allZero || (block.length == BLOCK && TarUtils.verifyCheckSum(block));
    } catch (IOException | IllegalArgumentException e) {
      // verifyCheckSum throws IllegalArgumentException when the checksum field is not octal
      return false;
    }
  }

  private static long drain(InputStream in) throws IOException {
    byte[] buf = new byte[8192];
    long total = 0;
    int n;
    while ((n = in.read(buf)) != -1) {
      total += n;
    }
    return total;
  }

  private void flushGroup() {
    Group g = group;
    group = null;
    if (g == null) {
      return;
    }
    String url = g.json == null ? null : urlOf(g.json);
    String caption = g.caption == null ? null : Utf8.caption(g.caption);
    int occurrence = seen.merge(g.key, 1, Integer::sum);
    String key = prefix + "/" + g.key;
    RejectReason reason = g.reject;
    if (occurrence > 1) {
      LOG.debug("Key {} of {} appears again after other keys; its members are not consecutive", g.key, fileName);
      key = key + "~" + occurrence;
      reason = RejectReason.READ_ERROR;
    } else if (reason == null && g.tooLarge) {
      reason = RejectReason.READ_ERROR;
    } else if (reason == null && g.image == null) {
      reason = RejectReason.MISSING_IMAGE;
    } else if (reason == null && g.caption == null) {
      reason = RejectReason.MISSING_CAPTION;
    } else if (reason == null && caption == null) {
      reason = RejectReason.CAPTION_NOT_UTF8;
    }
    pending.add(reason == null
        ? new Candidate(key, source, caption, g.image, url, null, null)
        : Candidate.rejected(key, source, caption, url, reason));
  }

  private static String urlOf(byte[] json) {
    try {
      JsonNode url = JSON.readTree(json).get("url");
      return url != null && url.isTextual() && !url.asText().isBlank() ? url.asText() : null;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private void finish() {
    done = true;
    try {
      buffered.close();
    } catch (IOException e) {
      LOG.debug("Closing {} failed: {}", fileName, e.getMessage());
    }
  }

  /** The members of one key read so far. */
  private static final class Group {
    final String key;
    byte[] image;
    byte[] caption;
    byte[] json;
    boolean tooLarge;
    RejectReason reject;

    Group(String key) {
      this.key = key;
    }
  }

  /** Remembers whether the underlying stream has reached its end. */
  private static final class EofTracking extends FilterInputStream {
    volatile boolean eof;

    EofTracking(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      eof |= b < 0;
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      eof |= n < 0;
      return n;
    }
  }
}
