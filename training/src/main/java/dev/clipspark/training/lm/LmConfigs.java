package dev.clipspark.training.lm;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Finds and parses language-model architectures: {@code conf/models/lm/NAME.conf}, packaged into the training
 * jar under {@value #RESOURCE_DIR}, or any {@code .conf} file by path. A file holds only the keys of
 * {@link LmConfig} (Hugging Face's {@code GPT2Config} names); missing keys take GPT-2 small's values, unknown keys
 * are errors.
 */
public final class LmConfigs {

  /** Classpath folder holding the packaged language-model files. */
  public static final String RESOURCE_DIR = "clipspark/models/lm";
  /** Extension of model files. */
  public static final String EXTENSION = ".conf";
  /** The packaged models, for error messages and documentation. */
  public static final List<String> PACKAGED = List.of("gpt2-tiny", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl");

  private static final Set<String> KEYS = Set.of(LmConfig.VOCAB_SIZE, LmConfig.N_CTX, LmConfig.N_EMBD,
      LmConfig.N_LAYER, LmConfig.N_HEAD, LmConfig.LAYER_NORM_EPSILON);

  private LmConfigs() {}

  /**
   * Loads a model by name ({@code "gpt2"}, found on the classpath) or by path to a {@code .conf} file (anything
   * ending in {@code .conf} or containing a path separator).
   *
   * @throws IllegalArgumentException for an unknown name (listing the packaged ones), a missing file, or an
   *     invalid file (naming the key, the value and what is allowed)
   */
  public static LmConfig load(String nameOrPath) {
    ConfigParseOptions strict = ConfigParseOptions.defaults().setAllowMissing(false);
    if (nameOrPath.endsWith(EXTENSION) || nameOrPath.contains("/") || nameOrPath.contains(File.separator)) {
      Path path = Paths.get(nameOrPath);
      if (!Files.isRegularFile(path)) {
        throw new IllegalArgumentException("Cannot load language model file " + nameOrPath + ": no such file");
      }
      String file = path.getFileName().toString();
      String name = file.endsWith(EXTENSION) ? file.substring(0, file.length() - EXTENSION.length()) : file;
      return parse(name, () -> ConfigFactory.parseFile(path.toFile(), strict), path.toString());
    }
    String resource = RESOURCE_DIR + "/" + nameOrPath + EXTENSION;
    ClassLoader loader = classLoader();
    if (loader.getResource(resource) == null) {
      throw new IllegalArgumentException(String.format(
          "Cannot load language model %s: unknown model; available: %s (or give a path to a .conf file)",
          nameOrPath, String.join(", ", PACKAGED)));
    }
    return parse(nameOrPath, () -> ConfigFactory.parseResources(loader, resource, strict), "classpath:" + resource);
  }

  /**
   * Parses a model from a HOCON object holding the keys of {@link LmConfig}.
   *
   * @param origin where the config came from, for error messages
   */
  public static LmConfig parse(String name, Config config, String origin) {
    return parse(name, () -> config, origin);
  }

  private interface Source {
    Config get();
  }

  private static LmConfig parse(String name, Source source, String origin) {
    try {
      Config c = source.get().resolve();
      for (String key : c.root().keySet()) {
        if (!KEYS.contains(key)) {
          throw new IllegalArgumentException(String.format("unknown key %s (allowed: %s)", key,
              String.join(", ", new TreeSet<>(KEYS))));
        }
      }
      return new LmConfig(name,
          c.hasPath(LmConfig.VOCAB_SIZE) ? c.getInt(LmConfig.VOCAB_SIZE) : LmConfig.VOCAB_SIZE_DEFAULT,
          c.hasPath(LmConfig.N_CTX) ? c.getInt(LmConfig.N_CTX) : LmConfig.N_CTX_DEFAULT,
          c.hasPath(LmConfig.N_EMBD) ? c.getInt(LmConfig.N_EMBD) : LmConfig.N_EMBD_DEFAULT,
          c.hasPath(LmConfig.N_LAYER) ? c.getInt(LmConfig.N_LAYER) : LmConfig.N_LAYER_DEFAULT,
          c.hasPath(LmConfig.N_HEAD) ? c.getInt(LmConfig.N_HEAD) : LmConfig.N_HEAD_DEFAULT,
          c.hasPath(LmConfig.LAYER_NORM_EPSILON) ? c.getDouble(LmConfig.LAYER_NORM_EPSILON)
              : LmConfig.LAYER_NORM_EPSILON_DEFAULT);
    } catch (IllegalArgumentException | ConfigException e) {
      throw new IllegalArgumentException(
          String.format("Cannot load language model %s from %s: %s", name, origin, e.getMessage()), e);
    }
  }

  private static ClassLoader classLoader() {
    ClassLoader context = Thread.currentThread().getContextClassLoader();
    return context != null ? context : LmConfigs.class.getClassLoader();
  }
}
