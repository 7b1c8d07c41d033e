package dev.clipspark.dataset.source;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * Lists a source's files on the driver through Hadoop's {@link FileSystem}.
 *
 * <p>A path is a single file, a directory (listed recursively; files and directories whose names start
 * with one of the hidden prefixes are skipped) or a glob ({@code *}, {@code ?}, {@code [..]},
 * {@code {a,b}}; hidden files it matches are skipped, directories it matches are listed like directories). Every file gets a name relative to
 * the root: the directory itself, the parent of a single file, or the longest glob-free prefix of a glob.
 * Relative names are therefore unique and do not depend on where the data set is mounted; files are
 * returned sorted by them.
 */
final class FileListing {

  /** One listed file: its fully qualified path (as {@link Path#toString()}) and its relative name. */
  record Listed(String path, String relative, long length) implements Serializable {}

  private FileListing() {}

  /**
   * Lists {@code path}.
   *
   * @param spec the source spec, for messages
   * @param hiddenPrefixes names starting with one of these are skipped in directory listings
   * @param accept which relative names to keep from directory and glob listings (a single file given by
   *     name is always kept)
   * @param expected what the source expects, for messages, e.g. "a .tar file, a directory of .tar files or
   *     a glob"
   * @param wanted what {@code accept} keeps, for messages, e.g. ".tar files"
   * @throws IllegalArgumentException when the path does not exist or nothing is accepted
   */
  static List<Listed> list(String spec, String path, Configuration conf, String hiddenPrefixes,
      Predicate<String> accept, String expected, String wanted) {
    try {
      var p = new Path(path);
      FileSystem fs = p.getFileSystem(conf);
      var out = new ArrayList<Listed>();
      if (hasGlob(path)) {
        FileStatus[] matches = fs.globStatus(p);
        if (matches == null || matches.length == 0) {
          throw new IllegalArgumentException(String.format(
              "Cannot read source '%s': no file matches %s; expected %s", spec, path, expected));
        }
        Path base = fs.makeQualified(globBase(p));
        for (FileStatus m : matches) {
          if (m.isDirectory()) {
            listTree(fs, m.getPath(), base, hiddenPrefixes, accept, out);
          } else if (!hidden(m.getPath().getName(), hiddenPrefixes) && accept.test(relative(base, m.getPath()))) {
            out.add(new Listed(m.getPath().toString(), relative(base, m.getPath()), m.getLen()));
          }
        }
      } else {
        if (!fs.exists(p)) {
          throw new IllegalArgumentException(String.format(
              "Cannot read source '%s': %s does not exist; expected %s", spec, path, expected));
        }
        FileStatus st = fs.getFileStatus(p);
        if (st.isDirectory()) {
          listTree(fs, st.getPath(), fs.makeQualified(st.getPath()), hiddenPrefixes, accept, out);
        } else {
          out.add(new Listed(st.getPath().toString(), st.getPath().getName(), st.getLen()));
        }
      }
      if (out.isEmpty()) {
        throw new IllegalArgumentException(String.format(
            "Cannot read source '%s': no %s in %s; expected %s", spec, wanted, path, expected));
      }
      out.sort(Comparator.comparing(Listed::relative));
      var seen = new HashMap<String, String>();
      for (var l : out) {
        String before = seen.put(l.relative(), l.path());
        if (before != null) {
          throw new IllegalArgumentException(String.format(
              "Cannot read source '%s': %s and %s have the same relative name %s, so their keys would collide",
              spec, before, l.path(), l.relative()));
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(
          String.format("Cannot read source '%s': listing %s failed: %s", spec, path, e.getMessage()), e);
    }
  }

  /** Whether {@code path} is an existing plain file (not a directory, not a glob). */
  static boolean isFile(String path, Configuration conf) {
    if (hasGlob(path)) {
      return false;
    }
    try {
      var p = new Path(path);
      FileSystem fs = p.getFileSystem(conf);
      return fs.exists(p) && fs.getFileStatus(p).isFile();
    } catch (IOException e) {
      return false;
    }
  }

  /** Whether a file name is hidden: starts with one of {@code prefixes}' characters. */
  static boolean hidden(String name, String prefixes) {
    return !name.isEmpty() && prefixes.indexOf(name.charAt(0)) >= 0;
  }

  /** The file extension of a name in lower case, without the dot ("" if none). */
  static String extension(String name) {
    int slash = name.lastIndexOf('/');
    int dot = name.lastIndexOf('.');
    return dot > slash + 1 ? name.substring(dot + 1).toLowerCase(Locale.ROOT) : "";
  }

  /** A name without its extension (the part before the last dot of the last component). */
  static String stripExtension(String name) {
    int slash = name.lastIndexOf('/');
    int dot = name.lastIndexOf('.');
    return dot > slash + 1 ? name.substring(0, dot) : name;
  }

  static boolean hasGlob(String path) {
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c == '*' || c == '?' || c == '[' || c == '{') {
        return true;
      }
    }
    return false;
  }

  private static Path globBase(Path glob) {
    Path p = glob;
    while (p.getParent() != null && hasGlob(p.toUri().getPath())) {
      p = p.getParent();
    }
    return p;
  }

  private static void listTree(FileSystem fs, Path dir, Path base, String hiddenPrefixes,
      Predicate<String> accept, List<Listed> out) throws IOException {
    RemoteIterator<LocatedFileStatus> it = fs.listFiles(dir, true);
    while (it.hasNext()) {
      LocatedFileStatus st = it.next();
      String rel = relative(base, st.getPath());
      boolean isHidden = false;
      for (String part : rel.split("/")) {
        isHidden |= hidden(part, hiddenPrefixes);
      }
      if (!isHidden && accept.test(rel)) {
        out.add(new Listed(st.getPath().toString(), rel, st.getLen()));
      }
    }
  }

  /** The path of {@code file} relative to {@code base}, '/'-separated. */
  static String relative(Path base, Path file) {
    String b = base.toUri().getPath();
    String f = file.toUri().getPath();
    if (!b.endsWith("/")) {
      b = b + "/";
    }
    return f.startsWith(b) ? f.substring(b.length()) : file.getName();
  }
}
