package dev.clipspark.training.tokenizer;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and writes BPE merges files in OpenAI's format ({@code bpe_simple_vocab_16e6.txt.gz}): UTF-8 text,
 * a first line that is a header such as {@code #version: 0.2} and is skipped whatever it holds (as CLIP
 * does), then one merge per line, its two symbols separated by a space, in merge order. Files are read from a
 * local path or any Hadoop file-system URI; gzip is recognised by its magic bytes, not by the name. Written
 * files are gzip-compressed when the name ends in {@code .gz}.
 */
public final class MergesFile {

  /** The header line ClipSpark writes for merges it learned. */
  public static final String CLIPSPARK_HEADER = "#version: 0.2 - trained by ClipSpark";

  private static final Logger LOG = LoggerFactory.getLogger(MergesFile.class);

  private MergesFile() {}

  /**
   * The first {@code limit} merges of the file at {@code location} (fewer if it has fewer).
   *
   * @throws IllegalArgumentException if the file cannot be read or a merge line is not two symbols
   */
  public static List<BpeMerge> read(String location, int limit, Configuration conf) {
    Path path = new Path(location);
    try {
      FileSystem fs = path.getFileSystem(conf);
      try (InputStream in = maybeGunzip(new BufferedInputStream(fs.open(path), 1 << 16))) {
        return parse(location, in, limit);
      }
    } catch (FileNotFoundException e) {
      throw new IllegalArgumentException("Cannot read merges file " + location + ": it does not exist", e);
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("Cannot read merges file " + location + ": it is not UTF-8 text", e);
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot read merges file " + location + ": " + e.getMessage(), e);
    }
  }

  /** Every merge of the file at {@code location}; see {@link #read(String, int, Configuration)}. */
  public static List<BpeMerge> readAll(String location, Configuration conf) {
    return read(location, Integer.MAX_VALUE, conf);
  }

  /**
   * Writes {@code merges} to {@code location} after the header line {@code header}, replacing any file there;
   * gzip-compressed if the name ends in {@code .gz}.
   */
  public static void write(String location, String header, List<BpeMerge> merges, Configuration conf) {
    if (header.indexOf('\n') >= 0 || header.indexOf('\r') >= 0) {
      throw new IllegalArgumentException("Cannot write merges file " + location + ": the header must be one line");
    }
    Path path = new Path(location);
    try {
      FileSystem fs = path.getFileSystem(conf);
      try (OutputStream raw = fs.create(path, true);
          OutputStream out = location.endsWith(".gz") ? new GZIPOutputStream(raw, 1 << 16) : raw;
          Writer w = new BufferedWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), 1 << 16)) {
        w.write(header);
        w.write('\n');
        for (BpeMerge m : merges) {
          w.write(m.left());
          w.write(' ');
          w.write(m.right());
          w.write('\n');
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot write merges file " + location + ": " + e.getMessage(), e);
    }
  }

  private static InputStream maybeGunzip(BufferedInputStream in) throws IOException {
    in.mark(2);
    int b0 = in.read();
    int b1 = in.read();
    in.reset();
    return b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(in, 1 << 16) : in;
  }

  private static List<BpeMerge> parse(String location, InputStream in, int limit) throws IOException {
    var decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    var reader = new BufferedReader(new InputStreamReader(in, decoder), 1 << 16);
    String header = reader.readLine();
    if (header == null) {
      return List.of();
    }
    if (!header.startsWith("#")) {
      LOG.warn("Merges file {} does not start with a '#version' header line; its first line \"{}\" is skipped, "
          + "as CLIP does", location, header);
    }
    var merges = new ArrayList<BpeMerge>();
    int blankLine = 0;
    int lineNo = 1;
    String line;
    while (merges.size() < limit && (line = reader.readLine()) != null) {
      lineNo++;
      String trimmed = line.strip();
      if (trimmed.isEmpty()) {
        blankLine = blankLine == 0 ? lineNo : blankLine;
        continue;
      }
      if (blankLine != 0) {
        throw new IllegalArgumentException("Cannot read merges file " + location + ": line " + blankLine
            + " is empty, but merges follow it");
      }
      String[] parts = trimmed.split("\\s+");
      if (parts.length != 2) {
        throw new IllegalArgumentException("Cannot read merges file " + location + ": line " + lineNo + " (\""
            + line + "\") is not two symbols separated by a space");
      }
      merges.add(new BpeMerge(parts[0], parts[1]));
    }
    return merges;
  }
}
