package dev.clipspark.dataset.source;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads records of a CSV or TSV file as raw field bytes, so that each field can be decoded strictly.
 *
 * <p>CSV follows RFC 4180: fields separated by commas, a field may be quoted with {@code "} and then hold
 * commas, line breaks and doubled quotes ({@code ""}); a quote inside an unquoted field, or after the
 * closing quote, is kept as an ordinary character. TSV (IANA text/tab-separated-values) has no quoting:
 * a field ends at a tab or line break, so captions that contain quotes are read as written. Records end
 * at LF, CRLF or CR. A UTF-8 byte order mark at the start of the file is skipped. Empty lines are
 * skipped. Working on bytes is safe because in UTF-8 the bytes of a multi-byte character never equal an
 * ASCII delimiter, quote or line break.
 */
final class DelimitedReader implements Closeable {

  private final InputStream in;
  private final byte delimiter;
  private final boolean quoting;
  private final byte[] buf = new byte[1 << 16];
  private int pos;
  private int len;
  private boolean started;

  DelimitedReader(InputStream in, char delimiter, boolean quoting) {
    this.in = in;
    this.delimiter = (byte) delimiter;
    this.quoting = quoting;
  }

  /** A reader for CSV ({@code tsv == false}) or TSV. */
  static DelimitedReader of(InputStream in, boolean tsv) {
    return tsv ? new DelimitedReader(in, '\t', false) : new DelimitedReader(in, ',', true);
  }

  /** The next non-empty record's fields, or null at the end of the file. */
  List<byte[]> next() throws IOException {
    if (!started) {
      started = true;
      if (peek() == 0xEF) {
        fill(3);
        if (len - pos >= 3 && (buf[pos + 1] & 0xFF) == 0xBB && (buf[pos + 2] & 0xFF) == 0xBF) {
          pos += 3;
        }
      }
    }
    while (true) {
      if (peek() < 0) {
        return null;
      }
      List<byte[]> record = readRecord();
      if (!(record.size() == 1 && record.get(0).length == 0)) {
        return record;
      }
    }
  }

  private List<byte[]> readRecord() throws IOException {
    var fields = new ArrayList<byte[]>();
    var field = new ByteArrayOutputStream();
    boolean inQuotes = false;
    boolean fieldQuoted = false;
    while (true) {
      int b = read();
      if (b < 0) {
        fields.add(field.toByteArray());
        return fields;
      }
      if (inQuotes) {
        if (b == '"') {
          if (peek() == '"') {
            read();
            field.write('"');
          } else {
            inQuotes = false;
          }
        } else {
          field.write(b);
        }
      } else if (quoting && b == '"' && field.size() == 0 && !fieldQuoted) {
        inQuotes = true;
        fieldQuoted = true;
      } else if (b == delimiter) {
        fields.add(field.toByteArray());
        field.reset();
        fieldQuoted = false;
      } else if (b == '\n' || b == '\r') {
        if (b == '\r' && peek() == '\n') {
          read();
        }
        fields.add(field.toByteArray());
        return fields;
      } else {
        field.write(b);
      }
    }
  }

  private int read() throws IOException {
    if (pos == len && !fill(1)) {
      return -1;
    }
    return buf[pos++] & 0xFF;
  }

  private int peek() throws IOException {
    if (pos == len && !fill(1)) {
      return -1;
    }
    return buf[pos] & 0xFF;
  }

  /** Makes at least {@code n} bytes available unless the stream ends; false if none is. */
  private boolean fill(int n) throws IOException {
    if (len - pos >= n) {
      return true;
    }
    System.arraycopy(buf, pos, buf, 0, len - pos);
    len -= pos;
    pos = 0;
    while (len < n) {
      int r = in.read(buf, len, buf.length - len);
      if (r < 0) {
        break;
      }
      len += r;
    }
    return len > 0;
  }

  @Override
  public void close() throws IOException {
    in.close();
  }
}
