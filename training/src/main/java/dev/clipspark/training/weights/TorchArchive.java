package dev.clipspark.training.weights;

import dev.clipspark.training.weights.Pickled.ScriptObject;
import dev.clipspark.training.weights.Pickled.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A PyTorch zip archive: {@code torch.save} of a state dict or of a training checkpoint dict, or a TorchScript
 * archive from {@code torch.jit.save} (OpenAI's released models). Both hold {@code PREFIX/data.pkl} and
 * {@code PREFIX/data/KEY} records; a TorchScript archive also holds {@code constants.pkl} and {@code code/}, whose
 * class declarations ({@code __parameters__}, {@code __buffers__}) say which attributes of a module are its state.
 * Only records of the archive are read.
 */
final class TorchArchive implements AutoCloseable {

  private static final Pattern CLASS = Pattern.compile(
      "class\\s+(\\w+)\\s*\\([^)]*\\)\\s*:\\s*\\n\\s*__parameters__\\s*=\\s*\\[([^\\]]*)\\]\\s*\\n\\s*__buffers__\\s*=\\s*\\[([^\\]]*)\\]");
  private static final Pattern QUOTED = Pattern.compile("\"([^\"]*)\"");

  private final Path file;
  private final ZipFile zip;
  private final String prefix;
  private final Map<String, List<String>> stateNames = new LinkedHashMap<>();

  private TorchArchive(Path file, ZipFile zip, String prefix) {
    this.file = file;
    this.zip = zip;
    this.prefix = prefix;
  }

  /**
   * Opens {@code file} as a PyTorch zip archive.
   *
   * @throws WeightsException if it is not a complete zip archive or has no {@code data.pkl}
   */
  static TorchArchive open(Path file) {
    ZipFile zip;
    try {
      zip = new ZipFile(file.toFile());
    } catch (ZipException e) {
      throw new WeightsException("Cannot read " + file + ": it starts like a PyTorch zip archive but is not a "
          + "complete one (" + e.getMessage() + "; a truncated download?)", e);
    } catch (IOException e) {
      throw new WeightsException("Cannot read " + file + ": " + e.getMessage(), e);
    }
    String prefix = null;
    for (ZipEntry e : Collections.list(zip.entries())) {
      String name = e.getName();
      int slash = name.indexOf('/');
      if (slash > 0 && name.substring(slash + 1).equals("data.pkl")) {
        prefix = name.substring(0, slash);
        break;
      }
    }
    if (prefix == null) {
      closeQuietly(zip);
      throw new WeightsException("Cannot read " + file + ": it is a zip file without a DIR/data.pkl record, so "
          + "not a PyTorch archive (torch.save or torch.jit.save)");
    }
    ZipEntry byteorder = zip.getEntry(prefix + "/byteorder");
    if (byteorder != null) {
      String order;
      try (InputStream in = zip.getInputStream(byteorder)) {
        order = new String(in.readNBytes(16), java.nio.charset.StandardCharsets.US_ASCII).trim();
      } catch (IOException e) {
        closeQuietly(zip);
        throw new WeightsException("Cannot read " + file + ": its byteorder record cannot be read (" + e.getMessage()
            + ")", e);
      }
      if (!order.equals("little")) {
        closeQuietly(zip);
        throw new WeightsException("Cannot read " + file + ": its tensors are stored " + order + "-endian; only "
            + "little-endian archives (every x86 and ARM machine's) are read");
      }
    }
    return new TorchArchive(file, zip, prefix);
  }

  /** Whether this is a TorchScript archive ({@code torch.jit.save}). */
  boolean isTorchScript() {
    return zip.getEntry(prefix + "/constants.pkl") != null;
  }

  /** The unpickled {@code data.pkl}. */
  Object data() {
    return SafeUnpickler.load(file + "!" + prefix + "/data.pkl", record("data.pkl", -1));
  }

  /**
   * The state tensors of the archive by name: for a state dict its tensor entries (a {@code state_dict} entry of a
   * training checkpoint is taken instead of the top-level dict, and a {@code module.} prefix that every name carries
   * is removed); for TorchScript the parameters and buffers of the module tree, named as {@code state_dict()} names
   * them.
   */
  Map<String, StoredTensor> tensors() {
    Object data = data();
    var out = new LinkedHashMap<String, StoredTensor>();
    if (data instanceof ScriptObject module) {
      flatten(module, "", out);
      return out;
    }
    if (!(data instanceof Map<?, ?> map)) {
      throw new WeightsException("Cannot read " + file + ": its data.pkl holds " + describe(data)
          + ", not a state dict (a dict of tensors) or a TorchScript module");
    }
    Map<?, ?> dict = map;
    if (map.get("state_dict") instanceof Map<?, ?> inner) {
      dict = inner;
    }
    var notTensors = new ArrayList<String>();
    for (var e : dict.entrySet()) {
      String name = String.valueOf(e.getKey());
      if (e.getValue() instanceof Tensor t) {
        out.put(name, stored(name, t));
      } else {
        notTensors.add(name + " (" + describe(e.getValue()) + ")");
      }
    }
    if (!notTensors.isEmpty()) {
      throw new WeightsException("Cannot read " + file + ": its state dict holds entries that are not tensors: "
          + String.join(", ", notTensors));
    }
    if (!out.isEmpty() && out.keySet().stream().allMatch(k -> k.startsWith("module."))) {
      var stripped = new LinkedHashMap<String, StoredTensor>();
      out.forEach((k, v) -> stripped.put(k.substring("module.".length()), v));
      return stripped;
    }
    return out;
  }

  private void flatten(ScriptObject module, String path, Map<String, StoredTensor> out) {
    List<String> state = stateNames(module.className);
    for (var e : module.attributes.entrySet()) {
      String name = path + e.getKey();
      if (e.getValue() instanceof ScriptObject child) {
        flatten(child, name + ".", out);
      } else if (e.getValue() instanceof Tensor t && (state == null || state.contains(e.getKey()))) {
        out.put(name, stored(name, t));
      }
    }
  }

  /** The declared parameters and buffers of TorchScript class {@code qualified}, or null if its code is not found. */
  private List<String> stateNames(String qualified) {
    return stateNames.computeIfAbsent(qualified, q -> {
      int dot = q.lastIndexOf('.');
      String module = q.substring(0, dot);
      String cls = q.substring(dot + 1);
      ZipEntry code = zip.getEntry(prefix + "/code/" + module.replace('.', '/') + ".py");
      if (code == null) {
        return null;
      }
      String text = new String(record("code/" + module.replace('.', '/') + ".py", -1),
          java.nio.charset.StandardCharsets.UTF_8);
      Matcher m = CLASS.matcher(text);
      while (m.find()) {
        if (m.group(1).equals(cls)) {
          var names = new ArrayList<String>();
          for (String list : new String[] {m.group(2), m.group(3)}) {
            Matcher q2 = QUOTED.matcher(list);
            while (q2.find()) {
              names.add(q2.group(1));
            }
          }
          return names;
        }
      }
      return null;
    });
  }

  private StoredTensor stored(String name, Tensor t) {
    String what = file + ": tensor " + name;
    return new StoredTensor() {
      @Override
      public TensorType type() {
        return t.storage().type();
      }

      @Override
      public long[] shape() {
        return t.size();
      }

      @Override
      public INDArray load() {
        long bytes = Math.multiplyExact(t.storage().numel(), t.storage().type().bytes);
        byte[] storage = record("data/" + t.storage().key(), bytes);
        return StoredTensor.gather(what, t.storage().type(), storage, t.offset(), t.size(), t.stride());
      }
    };
  }

  /** The bytes of record {@code PREFIX/name}; at least {@code expected} of them unless it is negative. */
  byte[] record(String name, long expected) {
    String full = prefix + "/" + name;
    ZipEntry entry = zip.getEntry(full);
    if (entry == null) {
      throw new WeightsException("Cannot read " + file + ": the archive has no record " + full
          + " (a truncated or damaged file)");
    }
    if (entry.getSize() > Integer.MAX_VALUE - 16) {
      throw new WeightsException("Cannot read " + file + ": record " + full + " is larger than 2 GB");
    }
    try (InputStream in = zip.getInputStream(entry)) {
      byte[] bytes = in.readAllBytes();
      if (expected >= 0 && bytes.length < expected) {
        throw new WeightsException(String.format("Cannot read %s: record %s holds %d bytes, its tensors need %d "
            + "(a truncated or damaged file)", file, full, bytes.length, expected));
      }
      return bytes;
    } catch (IOException e) {
      throw new WeightsException("Cannot read " + file + ": record " + full + " cannot be read ("
          + e.getMessage() + "; a truncated or damaged file?)", e);
    }
  }

  private static String describe(Object o) {
    return o == null ? "None" : o.getClass().getSimpleName();
  }

  private static void closeQuietly(ZipFile zip) {
    try {
      zip.close();
    } catch (IOException ignored) {
      // nothing was read
    }
  }

  @Override
  public void close() {
    closeQuietly(zip);
  }
}
