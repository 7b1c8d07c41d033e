package dev.clipspark.training.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clipspark.training.checkpoint.Checkpoints;
import dev.clipspark.training.lm.Gpt2Parameters;
import dev.clipspark.training.lm.LmCheckpoints;
import dev.clipspark.training.lm.LmConfig;
import dev.clipspark.training.lm.LmConfigs;
import dev.clipspark.training.model.ParameterSpec;
import dev.clipspark.training.nn.ParameterSet;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * GPT-2-family language-model weights with Hugging Face's names, read from the files Hugging Face distributes
 * ({@code model.safetensors}, {@code pytorch_model.bin}) through the same safe readers as CLIP weights
 * ({@link ExternalWeights#withTensors}): a pickle never runs code.
 *
 * <ul>
 *   <li>Names: {@code GPT2Model}'s ({@code wte.weight}, {@code wpe.weight}, {@code h.N.*}, {@code ln_f.*}), or
 *       {@code GPT2LMHeadModel}'s, whose {@value #PREFIX} prefix is dropped and whose {@value #LM_HEAD} must equal
 *       {@code wte.weight} (ClipSpark's GPT-2 ties the head to the token embedding; a file whose head differs is
 *       refused). The causal-mask buffers {@code h.N.attn.bias} and {@code h.N.attn.masked_bias} of older files
 *       are skipped. Every other tensor must be a parameter of the model, with its shape: unknown, missing and
 *       mismatching tensors are all listed in one error and nothing is returned.
 *   <li>Types: float16, bfloat16 and float64 become float32; a parameter stored as an integer type is refused.
 *   <li>Architecture: the vocabulary, context and width are in the shapes, but the number of attention heads is
 *       not. It comes from Hugging Face's {@value #CONFIG_FILE} in the weights file's folder, or from a given
 *       model ({@code conf/models/lm}); with neither the file is refused (GPT-2's own models use heads of width
 *       64, but that is not assumed). When both are there they must agree.
 * </ul>
 */
public final class Gpt2Weights {

  /** Hugging Face's architecture file, looked for beside the weights file. */
  public static final String CONFIG_FILE = "config.json";
  /** Prefix of {@code GPT2LMHeadModel}'s transformer tensors. */
  public static final String PREFIX = "transformer.";
  /** {@code GPT2LMHeadModel}'s output head, tied to {@code wte.weight}. */
  public static final String LM_HEAD = "lm_head.weight";
  /** Activations of {@code config.json} that are GPT-2's tanh-approximated GELU. */
  public static final Set<String> ACTIVATIONS = Set.of("gelu_new", "gelu_pytorch_tanh");

  private static final Pattern BUFFER = Pattern.compile("h\\.\\d+\\.attn\\.(bias|masked_bias)");
  private static final ObjectMapper JSON = new ObjectMapper();

  private Gpt2Weights() {}

  /**
   * Whether {@code file} is a weights file holding GPT-2 tensors ({@code wte.weight} or
   * {@code transformer.wte.weight}); false for CLIP weights and for anything that is not a readable weights file.
   */
  public static boolean isGpt2(Path file) {
    if (!ExternalWeights.isWeightsFile(file)) {
      return false;
    }
    try {
      return ExternalWeights.withTensors(file, (format, tensors) -> isGpt2(tensors.keySet()));
    } catch (WeightsException e) {
      return false;
    }
  }

  /** Whether these tensor names are a GPT-2 state dict's. */
  static boolean isGpt2(Collection<String> names) {
    return names.contains("wte.weight") || names.contains(PREFIX + "wte.weight");
  }

  /**
   * Reads a GPT-2-family weights file.
   *
   * @param file        a PyTorch zip archive of a state dict or a safetensors file
   * @param modelOrNull the architecture the file must have; null to take it from {@value #CONFIG_FILE} beside the
   *                    file
   * @throws WeightsException naming the file when it cannot be read, is not a GPT-2 state dict, has no known
   *     number of heads, has tensors that are missing, unknown or of the wrong shape (all listed), or has an output
   *     head that differs from the token embedding
   */
  public static ImportedLm read(Path file, LmConfig modelOrNull) {
    return ExternalWeights.withTensors(file, (format, found) -> build(file, format, found, modelOrNull));
  }

  private static ImportedLm build(Path file, String format, Map<String, StoredTensor> found, LmConfig modelOrNull) {
    String origin = file + " (" + format + ")";
    boolean prefixed = found.keySet().stream().anyMatch(k -> k.startsWith(PREFIX));
    var tensors = new LinkedHashMap<String, StoredTensor>();
    var fileNames = new LinkedHashMap<String, String>();
    var ignored = new ArrayList<String>();
    var twice = new ArrayList<String>();
    StoredTensor head = null;
    for (var e : found.entrySet()) {
      String name = e.getKey();
      String n = prefixed && name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
      if (name.equals(LM_HEAD)) {
        head = e.getValue();
      } else if (BUFFER.matcher(n).matches()) {
        ignored.add(name);
      } else if (tensors.containsKey(n)) {
        twice.add(fileNames.get(n) + " and " + name);
      } else {
        tensors.put(n, e.getValue());
        fileNames.put(n, name);
      }
    }
    if (!tensors.containsKey("wte.weight") || !tensors.containsKey("wpe.weight")) {
      throw new WeightsException(String.format("Cannot read %s as a GPT-2 model: it has no %s, so it is not a"
          + " GPT-2 state dict with Hugging Face's names (found %d tensors%s)", origin,
          tensors.containsKey("wte.weight") ? "wpe.weight" : "wte.weight", found.size(),
          found.isEmpty() ? "" : ", e.g. " + String.join(", ", found.keySet().stream().limit(5).toList())));
    }
    if (!twice.isEmpty()) {
      throw new WeightsException("Cannot read " + origin + " as a GPT-2 model: these tensors are there twice, with"
          + " and without the " + PREFIX + " prefix: " + String.join("; ", twice));
    }
    var shapes = new LinkedHashMap<String, long[]>();
    tensors.forEach((n, t) -> shapes.put(n, t.shape()));
    Architecture arch = architecture(file, origin, shapes, modelOrNull);
    check(origin, arch, tensors, fileNames);

    var set = new ParameterSet();
    for (ParameterSpec spec : Gpt2Parameters.specs(arch.model)) {
      INDArray v = tensors.get(spec.name()).load();
      set.add(spec.name(), v.dataType() == DataType.FLOAT ? v : v.castTo(DataType.FLOAT));
    }
    if (head != null) {
      checkTied(origin, head, set.value("wte.weight"));
      ignored.add(LM_HEAD);
    }
    return new ImportedLm(arch.model, set, format, file, arch.source, ignored);
  }

  /**
   * Writes {@code imported} as a language-model checkpoint ({@link LmCheckpoints}; step 0, no optimiser state) under
   * {@code outDir/checkpoints/}, with the GPT-2 tokenizer of {@code tokenizerDir} ({@code vocab.json},
   * {@code merges.txt}) copied into it. The tokenizer is loaded first; its vocabulary must fit the model's
   * {@code vocab_size} (GPT-2's own files: 50,257 tokens for a {@code vocab_size} of 50,257). The save is atomic.
   *
   * @return the checkpoint's directory
   * @throws IllegalArgumentException if the tokenizer cannot be read or has more tokens than the model
   */
  public static org.apache.hadoop.fs.Path saveCheckpoint(ImportedLm imported, String tokenizerDir, String outDir,
      Configuration conf) {
    LmConfig model = imported.model();
    Gpt2Tokenizer tokenizer;
    try {
      tokenizer = Gpt2Tokenizer.load(tokenizerDir, conf);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Cannot use the tokenizer " + tokenizerDir + " with model " + model.name()
          + ": " + e.getMessage(), e);
    }
    if (tokenizer.vocabSize() > model.vocabSize()) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot use the tokenizer %s with model %s:"
          + " its %d tokens exceed the model's vocab_size %d", tokenizerDir, model.name(), tokenizer.vocabSize(),
          model.vocabSize()));
    }
    var state = new LinkedHashMap<String, Object>();
    state.put(LmCheckpoints.TOKENIZER_VOCAB_SIZE, (long) tokenizer.vocabSize());
    state.put("imported_from", String.valueOf(imported.source()));
    state.put("imported_format", imported.format());
    state.put("architecture_from", imported.architecture());
    return Checkpoints.save(outDir, LmCheckpoints.checkpoint(0, state, model, tokenizerDir, imported.parameters(),
        null), conf);
  }

  /** The architecture and where its heads came from. */
  private record Architecture(LmConfig model, String source, boolean given) {}

  private static Architecture architecture(Path file, String origin, Map<String, long[]> shapes,
      LmConfig modelOrNull) {
    Path dir = file.toAbsolutePath().getParent();
    Path json = dir == null ? null : dir.resolve(CONFIG_FILE);
    LmConfig fromJson = null;
    if (json != null && Files.isRegularFile(json)) {
      String name = modelOrNull != null ? modelOrNull.name()
          : dir.getFileName() == null ? ExternalWeights.modelName(file)
          : dir.getFileName().toString().replaceAll("[^A-Za-z0-9._-]", "_");
      fromJson = named(fromConfigJson(json, name));
    }
    if (modelOrNull != null) {
      if (fromJson != null && !sameArchitecture(fromJson, modelOrNull)) {
        throw new WeightsException(String.format("Cannot use %s as model %s: the %s beside it describes another"
            + " architecture (%s, the given model is %s); remove one of them", origin, modelOrNull.name(), json,
            describe(fromJson), describe(modelOrNull)));
      }
      return new Architecture(modelOrNull, "model " + modelOrNull.name(), true);
    }
    if (fromJson != null) {
      return new Architecture(fromJson, json.toString(), false);
    }
    long[] wte = shapes.get("wte.weight");
    long width = wte.length == 2 ? wte[1] : -1;
    throw new WeightsException(String.format(Locale.ROOT, "Cannot tell the architecture of %s: the number of"
        + " attention heads is not in its tensor shapes (GPT-2's own models use heads of width 64, %s, but that is"
        + " not assumed), and there is no %s beside it; put Hugging Face's %s for these weights in the same folder,"
        + " or give the model (--model NAME|FILE: one of %s, or a .conf file with n_head)", origin,
        width > 0 && width % 64 == 0 ? "which would give " + width / 64 + " heads of n_embd " + width
            : "which does not divide n_embd " + width,
        CONFIG_FILE, CONFIG_FILE, String.join(", ", LmConfigs.PACKAGED)));
  }

  /**
   * A model from Hugging Face's {@code GPT2Config} JSON: {@code vocab_size}, {@code n_positions} (or the older
   * {@code n_ctx}), {@code n_embd}, {@code n_layer}, {@code n_head}, {@code layer_norm_epsilon}; missing keys take
   * GPT-2 small's values as {@code GPT2Config} does. Settings that change GPT-2's mathematics are refused.
   *
   * @throws WeightsException naming the file and the key
   */
  static LmConfig fromConfigJson(Path json, String name) {
    JsonNode root;
    try {
      root = JSON.readTree(json.toFile());
    } catch (IOException e) {
      throw new WeightsException("Cannot read " + json + ": it is not valid JSON (" + e.getMessage() + ")", e);
    }
    if (root == null || !root.isObject()) {
      throw new WeightsException("Cannot read " + json + ": it holds no JSON object, so it is not Hugging Face's"
          + " config.json");
    }
    String type = text(json, root, "model_type");
    if (type != null && !type.equals("gpt2")) {
      throw new WeightsException("Cannot use " + json + ": its model_type is '" + type + "'; only gpt2 is read");
    }
    String activation = text(json, root, "activation_function");
    if (activation != null && !ACTIVATIONS.contains(activation)) {
      throw new WeightsException("Cannot use " + json + ": its activation_function is '" + activation
          + "'; ClipSpark's GPT-2 computes " + String.join(" / ", new TreeSet<>(ACTIVATIONS))
          + " (the tanh approximation) only");
    }
    refuse(json, root, "scale_attn_weights", false, "attention scores are always scaled by 1/sqrt(head width)");
    refuse(json, root, "scale_attn_by_inverse_layer_idx", true, "attention is not scaled by the layer index");
    refuse(json, root, "add_cross_attention", true, "there is no cross-attention");
    int embd = integer(json, root, LmConfig.N_EMBD, LmConfig.N_EMBD_DEFAULT);
    JsonNode inner = root.get("n_inner");
    if (inner != null && !inner.isNull() && !(inner.canConvertToInt() && inner.asInt() == 4 * embd)) {
      throw new WeightsException(String.format("Cannot use %s: its n_inner is %s; ClipSpark's GPT-2 has an MLP of"
          + " 4 n_embd = %d (n_inner null)", json, inner, 4 * embd));
    }
    int positions = root.has("n_positions") ? integer(json, root, "n_positions", LmConfig.N_CTX_DEFAULT)
        : integer(json, root, LmConfig.N_CTX, LmConfig.N_CTX_DEFAULT);
    double eps = LmConfig.LAYER_NORM_EPSILON_DEFAULT;
    JsonNode e = root.get(LmConfig.LAYER_NORM_EPSILON);
    if (e != null) {
      if (!e.isNumber()) {
        throw new WeightsException("Cannot use " + json + ": its " + LmConfig.LAYER_NORM_EPSILON + " is " + e
            + ", not a number");
      }
      eps = e.asDouble();
    }
    try {
      return new LmConfig(name, integer(json, root, LmConfig.VOCAB_SIZE, LmConfig.VOCAB_SIZE_DEFAULT), positions,
          embd, integer(json, root, LmConfig.N_LAYER, LmConfig.N_LAYER_DEFAULT),
          integer(json, root, LmConfig.N_HEAD, LmConfig.N_HEAD_DEFAULT), eps);
    } catch (IllegalArgumentException ex) {
      throw new WeightsException("Cannot use " + json + ": " + ex.getMessage(), ex);
    }
  }

  private static String text(Path json, JsonNode root, String key) {
    JsonNode v = root.get(key);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual()) {
      throw new WeightsException("Cannot use " + json + ": its " + key + " is " + v + ", not a string");
    }
    return v.asText();
  }

  private static int integer(Path json, JsonNode root, String key, int fallback) {
    JsonNode v = root.get(key);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw new WeightsException("Cannot use " + json + ": its " + key + " is " + v + ", not an integer");
    }
    return v.asInt();
  }

  private static void refuse(Path json, JsonNode root, String key, boolean value, String why) {
    JsonNode v = root.get(key);
    if (v != null && v.isBoolean() && v.asBoolean() == value) {
      throw new WeightsException("Cannot use " + json + ": its " + key + " is " + value + ", which ClipSpark's GPT-2"
          + " does not compute (" + why + ")");
    }
  }

  /**
   * Every parameter of the model present with its shape and a floating type, nothing else present.
   */
  private static void check(String origin, Architecture arch, Map<String, StoredTensor> tensors,
      Map<String, String> fileNames) {
    var expected = new LinkedHashMap<String, long[]>();
    for (ParameterSpec spec : Gpt2Parameters.specs(arch.model)) {
      expected.put(spec.name(), spec.shape());
    }
    var mismatched = new ArrayList<String>();
    var missing = new ArrayList<String>();
    var integral = new ArrayList<String>();
    expected.forEach((name, shape) -> {
      StoredTensor t = tensors.get(name);
      if (t == null) {
        missing.add(name + " " + Arrays.toString(shape));
      } else if (!Arrays.equals(t.shape(), shape)) {
        mismatched.add(fileNames.get(name) + " is " + Arrays.toString(t.shape()) + " in the file, "
            + Arrays.toString(shape) + " in the model");
      } else if (!t.type().floating) {
        integral.add(fileNames.get(name) + " (" + t.type() + ")");
      }
    });
    var unknown = new ArrayList<String>();
    tensors.forEach((name, t) -> {
      if (!expected.containsKey(name)) {
        unknown.add(fileNames.get(name) + " " + Arrays.toString(t.shape()));
      }
    });
    if (mismatched.isEmpty() && missing.isEmpty() && unknown.isEmpty() && integral.isEmpty()) {
      return;
    }
    var msg = new StringBuilder();
    msg.append("Cannot use ").append(origin).append(" as model ").append(arch.model.name()).append(" (")
        .append(describe(arch.model)).append(arch.given ? ", given" : ", from " + arch.source).append("):");
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
    if (!integral.isEmpty()) {
      msg.append("\n  ").append(integral.size()).append(" parameters are stored as integers, not floating point: ")
          .append(String.join(", ", integral));
    }
    throw new WeightsException(msg.toString());
  }

  private static void checkTied(String origin, StoredTensor head, INDArray wte) {
    if (!Arrays.equals(head.shape(), wte.shape())) {
      throw new WeightsException(String.format("Cannot use %s: %s is %s but wte.weight is %s; ClipSpark's GPT-2"
          + " ties the output head to the token embedding", origin, LM_HEAD, Arrays.toString(head.shape()),
          Arrays.toString(wte.shape())));
    }
    INDArray h = head.load();
    h = h.dataType() == DataType.FLOAT ? h : h.castTo(DataType.FLOAT);
    if (!h.equals(wte)) {
      INDArray diff = Transforms.abs(h.sub(wte), false);
      long differing = diff.gt(0).castTo(DataType.INT64).sumNumber().longValue();
      throw new WeightsException(String.format(Locale.ROOT, "Cannot use %s: its %s differs from wte.weight (%d of"
          + " %d values, by up to %.6g); ClipSpark's GPT-2 ties the output head to the token embedding, so an"
          + " untied head cannot be imported", origin, LM_HEAD, differing, diff.length(),
          diff.maxNumber().doubleValue()));
    }
  }

  /** {@code model} named after the packaged model it equals, if any. */
  private static LmConfig named(LmConfig model) {
    for (String name : LmConfigs.PACKAGED) {
      LmConfig packaged = LmConfigs.load(name);
      if (sameArchitecture(packaged, model)) {
        return packaged;
      }
    }
    return model;
  }

  /** Whether two architectures are the same, their names aside. */
  public static boolean sameArchitecture(LmConfig a, LmConfig b) {
    return a.vocabSize() == b.vocabSize() && a.nCtx() == b.nCtx() && a.nEmbd() == b.nEmbd()
        && a.nLayer() == b.nLayer() && a.nHead() == b.nHead() && a.layerNormEpsilon() == b.layerNormEpsilon();
  }

  private static String describe(LmConfig m) {
    return String.format(Locale.ROOT, "vocab_size %d, n_ctx %d, n_embd %d, n_layer %d, n_head %d,"
        + " layer_norm_epsilon %s", m.vocabSize(), m.nCtx(), m.nEmbd(), m.nLayer(), m.nHead(), m.layerNormEpsilon());
  }
}
