package dev.clipspark.training.weights;

import dev.clipspark.training.checkpoint.Checkpoint;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ClipParameters.BufferSpec;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelConfigs;
import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.ClipTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Released CLIP weights in and out.
 *
 * <p>{@link #read} accepts the three formats released CLIP weights come in and returns float32 parameters with
 * OpenAI's {@code state_dict} names, which ClipSpark's models use:
 * <ul>
 *   <li>{@value #PYTORCH}: a zip archive written by {@code torch.save} of a state dict (open_clip's
 *       {@code open_clip_pytorch_model.bin}), or of a training checkpoint dict with a {@code state_dict} entry whose
 *       names carry {@code module.} (open_clip's {@code epoch_N.pt});
 *   <li>{@value #TORCHSCRIPT}: an archive written by {@code torch.jit.save}, as OpenAI released its models
 *       ({@code ViT-B-32.pt}, {@code RN50.pt}): the parameters and buffers of its module tree;
 *   <li>{@value #SAFETENSORS}: a {@code .safetensors} file (open_clip's {@code open_clip_model.safetensors}).
 * </ul>
 * float16, bfloat16 and float64 tensors become float32. Pickles are read by a reader that builds only data and
 * refuses any other global by name (see the package documentation). The legacy pre-1.6 PyTorch format (not a zip)
 * is not read.
 *
 * <p>{@link #write} writes a model's parameters and buffers as a state dict that open_clip loads with
 * {@code create_model_and_transforms(NAME, pretrained=FILE)}: OpenAI's names (open_clip's for these models),
 * float32 tensors, {@code logit_scale}, and the BatchNorm buffers of a ResNet with {@code num_batches_tracked} as
 * int64.
 */
public final class ExternalWeights {

  /** Format name of a {@code torch.save} zip archive of a state dict. */
  public static final String PYTORCH = "pytorch";
  /** Format name of a {@code torch.jit.save} archive. */
  public static final String TORCHSCRIPT = "torchscript";
  /** Format name of a safetensors file. */
  public static final String SAFETENSORS = "safetensors";
  /** The formats {@link #write} writes. */
  public static final List<String> EXPORT_FORMATS = List.of(SAFETENSORS, PYTORCH);
  /**
   * Tensors of OpenAI's archives that hold the architecture, not weights ({@code build_model} deletes them).
   */
  public static final Set<String> METADATA_TENSORS = Set.of("input_resolution", "context_length", "vocab_size");

  private ExternalWeights() {}

  /**
   * Whether {@code file} is a weights file this class reads (a zip archive or safetensors, by its first bytes)
   * rather than, say, a ClipSpark checkpoint directory.
   */
  public static boolean isWeightsFile(Path file) {
    if (!Files.isRegularFile(file)) {
      return false;
    }
    try (InputStream in = Files.newInputStream(file)) {
      byte[] head = in.readNBytes(16);
      return isZip(head) || Safetensors.looksLike(head, Files.size(file));
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * Reads a PyTorch zip archive (state dict, or open_clip's {@code epoch_N.pt} with {@code state_dict} and
   * {@code module.} prefixes), a TorchScript archive (OpenAI's released {@code .pt}) or a {@code .safetensors}
   * file; infers the model from the shapes when {@code modelOrNull} is null, else checks the file against it.
   *
   * @throws WeightsException naming the file when it cannot be read (truncated, damaged, a pickle naming a global
   *     that is not allowed), when tensors are missing or unknown (all are listed), or when the given model does not
   *     match (every mismatching name and both shapes are listed)
   */
  public static ImportedWeights read(Path file, ModelConfig modelOrNull) {
    return withTensors(file, (format, tensors) -> build(file, format, tensors, modelOrNull));
  }

  /** What to do with the tensors of an open weights file. */
  interface TensorsReader<T> {
    T read(String format, Map<String, StoredTensor> tensors);
  }

  /**
   * Opens {@code file} as a PyTorch zip archive (torch.save or torch.jit.save) or a safetensors file and hands its
   * tensors, by name, to {@code reader} while the file is open (a stored tensor is read when it is loaded).
   *
   * @throws WeightsException naming the file when it is missing, not one of these formats, or damaged
   */
  static <T> T withTensors(Path file, TensorsReader<T> reader) {
    if (!Files.isRegularFile(file)) {
      throw new WeightsException("Cannot read weights " + file + ": no such file");
    }
    byte[] head;
    long size;
    try (InputStream in = Files.newInputStream(file)) {
      head = in.readNBytes(16);
      size = Files.size(file);
    } catch (IOException e) {
      throw new WeightsException("Cannot read weights " + file + ": " + e.getMessage(), e);
    }
    if (isZip(head)) {
      try (TorchArchive archive = TorchArchive.open(file)) {
        String format = archive.isTorchScript() ? TORCHSCRIPT : PYTORCH;
        return reader.read(format, archive.tensors());
      }
    }
    if (Safetensors.looksLike(head, size)) {
      return reader.read(SAFETENSORS, Safetensors.read(file));
    }
    if (head.length > 1 && (head[0] & 0xff) == 0x80) {
      throw new WeightsException("Cannot read weights " + file + ": it is a bare pickle (PyTorch's legacy format "
          + "from before 1.6), which is not read; load and re-save it with a current torch.save, or use "
          + "safetensors");
    }
    throw new WeightsException("Cannot read weights " + file + ": it is neither a PyTorch zip archive (torch.save, "
        + "torch.jit.save) nor a safetensors file (it is " + size + " bytes"
        + (size == 0 ? ", empty" : "") + ")");
  }

  /**
   * {@link #saveCheckpoint(ImportedWeights, String, int, String, Configuration)} with as many tokens as the merges
   * file provides, up to the model's {@code text.vocab_size}.
   */
  public static org.apache.hadoop.fs.Path saveCheckpoint(ImportedWeights imported, String tokenizerMerges,
      String outDir, Configuration conf) {
    return saveCheckpoint(imported, tokenizerMerges, 0, outDir, conf);
  }

  /**
   * Writes {@code imported} as an ordinary ClipSpark checkpoint (step 0, no optimiser state) under
   * {@code outDir/checkpoints/}, with {@code tokenizerMerges} (OpenAI's {@code bpe_simple_vocab_16e6.txt.gz} or a
   * learned merges file) copied into it. The tokenizer is loaded first ({@link ClipTokenizer#forModel}): it may be
   * smaller than the model's vocabulary ({@code text.vocab_size} token embedding rows; a model trained with a
   * small learned tokenizer, exported by open_clip), never larger. The checkpoint records its size as
   * {@code tokenizer_vocab_size}, as training does. The save is atomic: on any error nothing is left behind.
   *
   * @param tokenizerVocabSize the tokenizer's size; 0 for as many tokens as the file provides, up to
   *     {@code text.vocab_size}
   * @return the checkpoint's directory
   * @throws IllegalArgumentException if the merges file cannot be read, has no merge or too few for
   *     {@code tokenizerVocabSize}, or {@code tokenizerVocabSize} is larger than the model's vocabulary
   */
  public static org.apache.hadoop.fs.Path saveCheckpoint(ImportedWeights imported, String tokenizerMerges,
      int tokenizerVocabSize, String outDir, Configuration conf) {
    int modelVocab = imported.model().text().vocabSize();
    ClipTokenizer tokenizer;
    try {
      tokenizer = ClipTokenizer.forModel(tokenizerMerges, modelVocab, tokenizerVocabSize, conf);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Cannot use the tokenizer " + tokenizerMerges + " with model "
          + imported.model().name() + " (text.vocab_size " + modelVocab + "): " + e.getMessage(), e);
    }
    var state = new LinkedHashMap<String, Object>();
    state.put("tokenizer_vocab_size", (long) tokenizer.vocabSize());
    state.put("imported_from", String.valueOf(imported.source()));
    state.put("imported_format", imported.format());
    return Checkpoints.save(outDir, new Checkpoint(0, state, imported.model(), tokenizerMerges,
        imported.parameters(), null), conf);
  }

  /**
   * Writes the parameters and buffers of {@code model} from {@code parameters} as a state dict file in
   * {@code format} ({@value #SAFETENSORS} or {@value #PYTORCH}), in {@link ClipParameters}' order. The file is
   * written next to {@code out} under a temporary name and moved into place, so a failed export leaves no file.
   *
   * @throws IllegalArgumentException for an unknown format or a parameter set that does not fit {@code model}
   * @throws UncheckedIOException if the file cannot be written
   */
  public static void write(ModelConfig model, ParameterSet parameters, Path out, String format) {
    String f = format.toLowerCase(Locale.ROOT);
    if (!EXPORT_FORMATS.contains(f)) {
      throw new IllegalArgumentException("Cannot export to format '" + format + "': allowed are "
          + String.join(", ", EXPORT_FORMATS));
    }
    List<Map.Entry<String, INDArray>> tensors = stateDict(model, parameters);
    Path target = out.toAbsolutePath();
    Path dir = target.getParent();
    Path tmp = null;
    try {
      Files.createDirectories(dir);
      // A fresh name in the target's folder, created with the process's usual permissions (umask).
      tmp = dir.resolve("." + target.getFileName() + "-" + java.util.UUID.randomUUID() + ".tmp");
      try (OutputStream os = new java.io.BufferedOutputStream(Files.newOutputStream(tmp,
          java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE), 1 << 20)) {
        if (f.equals(SAFETENSORS)) {
          Safetensors.write(tensors, os);
        } else {
          WeightsWriter.writePytorch(tensors, os);
        }
      }
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      tmp = null;
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot export weights to " + out + ": " + e.getMessage(), e);
    } finally {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // best effort
        }
      }
    }
  }

  /** The state dict of {@code model}: its parameters then its buffers, checked against the model's specs. */
  static List<Map.Entry<String, INDArray>> stateDict(ModelConfig model, ParameterSet parameters) {
    var out = new ArrayList<Map.Entry<String, INDArray>>();
    var problems = new ArrayList<String>();
    for (ParameterSpec spec : ClipParameters.specs(model)) {
      if (!parameters.contains(spec.name())) {
        problems.add(spec.name() + " is missing");
        continue;
      }
      INDArray v = parameters.value(spec.name());
      if (!Arrays.equals(v.shape(), spec.shape())) {
        problems.add(spec.name() + " is " + Arrays.toString(v.shape()) + ", the model needs "
            + Arrays.toString(spec.shape()));
      }
      out.add(new AbstractMap.SimpleImmutableEntry<>(spec.name(), v));
    }
    var buffers = new java.util.HashSet<>(parameters.bufferNames());
    for (BufferSpec spec : ClipParameters.buffers(model)) {
      if (!buffers.contains(spec.name())) {
        problems.add("buffer " + spec.name() + " is missing");
        continue;
      }
      out.add(new AbstractMap.SimpleImmutableEntry<>(spec.name(), parameters.buffer(spec.name())));
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("Cannot export model " + model.name() + ": " + String.join("; ", problems));
    }
    return out;
  }

  private static boolean isZip(byte[] head) {
    return head.length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
  }

  private static ImportedWeights build(Path file, String format, Map<String, StoredTensor> found,
      ModelConfig modelOrNull) {
    String origin = file + " (" + format + ")";
    var ignored = new ArrayList<String>();
    var tensors = new LinkedHashMap<String, StoredTensor>();
    found.forEach((name, t) -> {
      if (METADATA_TENSORS.contains(name) && t.shape().length == 0) {
        ignored.add(name);
      } else {
        tensors.put(name, t);
      }
    });
    var shapes = new LinkedHashMap<String, long[]>();
    tensors.forEach((name, t) -> shapes.put(name, t.shape()));
    ModelConfig model = modelOrNull != null ? modelOrNull : name(ArchitectureInference.infer(
        modelName(file), shapes, origin));
    check(origin, model, modelOrNull != null, shapes);
    var set = new ParameterSet();
    for (ParameterSpec spec : ClipParameters.specs(model)) {
      INDArray v = tensors.get(spec.name()).load();
      set.add(spec.name(), v.dataType() == DataType.FLOAT ? v : v.castTo(DataType.FLOAT));
    }
    for (BufferSpec spec : ClipParameters.buffers(model)) {
      StoredTensor t = tensors.get(spec.name());
      INDArray v = t == null ? spec.allocate(DataType.FLOAT) : t.load();
      DataType type = spec.dataType(DataType.FLOAT);
      set.addBuffer(spec.name(), v.dataType() == type ? v : v.castTo(type));
    }
    return new ImportedWeights(model, set, format, file, ignored);
  }

  /**
   * Checks the file's tensors against the model: every parameter and buffer present with its shape (a BatchNorm's
   * {@code num_batches_tracked} may be absent, as in files from PyTorch before 0.4.1), nothing else present.
   */
  private static void check(String origin, ModelConfig model, boolean given, Map<String, long[]> shapes) {
    var expected = new LinkedHashMap<String, long[]>();
    var optional = new java.util.HashSet<String>();
    for (ParameterSpec spec : ClipParameters.specs(model)) {
      expected.put(spec.name(), spec.shape());
    }
    for (BufferSpec spec : ClipParameters.buffers(model)) {
      expected.put(spec.name(), spec.shape());
      if (spec.counter()) {
        optional.add(spec.name());
      }
    }
    var mismatched = new ArrayList<String>();
    var missing = new ArrayList<String>();
    expected.forEach((name, shape) -> {
      long[] found = shapes.get(name);
      if (found == null) {
        if (!optional.contains(name)) {
          missing.add(name + " " + Arrays.toString(shape));
        }
      } else if (!Arrays.equals(found, shape)) {
        mismatched.add(name + " is " + Arrays.toString(found) + " in the file, " + Arrays.toString(shape)
            + " in the model");
      }
    });
    var unknown = new ArrayList<String>();
    shapes.forEach((name, shape) -> {
      if (!expected.containsKey(name)) {
        unknown.add(name + " " + Arrays.toString(shape));
      }
    });
    if (mismatched.isEmpty() && missing.isEmpty() && unknown.isEmpty()) {
      return;
    }
    var msg = new StringBuilder();
    msg.append("Cannot use ").append(origin).append(" as model ").append(model.name())
        .append(given ? " (given)" : " (inferred from its shapes)").append(':');
    if (!mismatched.isEmpty()) {
      msg.append("\n  ").append(mismatched.size()).append(" tensors do not match the model's shapes: ")
          .append(String.join("; ", mismatched));
    }
    if (!missing.isEmpty()) {
      msg.append("\n  ").append(missing.size()).append(" tensors are missing: ").append(String.join(", ", missing));
    }
    if (!unknown.isEmpty()) {
      msg.append("\n  ").append(unknown.size()).append(" tensors are unknown to the model: ")
          .append(String.join(", ", unknown));
    }
    throw new WeightsException(msg.toString());
  }

  /** {@code inferred} named after the packaged model it equals, if any. */
  private static ModelConfig name(ModelConfig inferred) {
    for (String name : ModelConfigs.available()) {
      ModelConfig packaged = ModelConfigs.load(name);
      if (packaged.embedDim() == inferred.embedDim() && packaged.vision().equals(inferred.vision())
          && packaged.text().equals(inferred.text())) {
        return packaged;
      }
    }
    return inferred;
  }

  /** A model name from the file name: its stem, with characters other than letters, digits, '.', '_', '-' as '_'. */
  static String modelName(Path file) {
    String stem = file.getFileName().toString();
    int dot = stem.lastIndexOf('.');
    if (dot > 0) {
      stem = stem.substring(0, dot);
    }
    String name = stem.replaceAll("[^A-Za-z0-9._-]", "_");
    return name.isEmpty() ? "imported" : name;
  }
}
