package dev.clipspark.training.model;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Finds and parses model architectures: {@code conf/models/NAME.conf}, packaged into the training jar
 * under {@value #RESOURCE_DIR}, or any {@code .conf} file by path.
 *
 * <p>A model file holds only {@code embed_dim}, {@code vision { ... }} and {@code text { ... }} with
 * open_clip's field names; missing fields take open_clip's defaults (the {@code _DEFAULT} constants of
 * {@link VisionConfig} and {@link TextConfig}); unknown keys are errors, so a typo never silently falls
 * back to a default.
 */
public final class ModelConfigs {

  /** Classpath folder holding the packaged model files. */
  public static final String RESOURCE_DIR = "clipspark/models";
  /** Extension of model files. */
  public static final String EXTENSION = ".conf";

  private static final Set<String> TOP_KEYS = Set.of(ModelConfig.EMBED_DIM, ModelConfig.VISION, ModelConfig.TEXT);
  private static final Set<String> VISION_KEYS = Set.of(VisionConfig.IMAGE_SIZE, VisionConfig.LAYERS,
      VisionConfig.WIDTH, VisionConfig.PATCH_SIZE, VisionConfig.HEAD_WIDTH);
  private static final Set<String> TEXT_KEYS = Set.of(TextConfig.CONTEXT_LENGTH, TextConfig.VOCAB_SIZE,
      TextConfig.WIDTH, TextConfig.HEADS, TextConfig.LAYERS);

  private ModelConfigs() {}

  /**
   * Loads a model by name ({@code "ViT-B-32"}, found on the classpath) or by path to a {@code .conf}
   * file (anything ending in {@code .conf} or containing a path separator); a file's model name is its
   * file name without {@code .conf}.
   *
   * @throws IllegalArgumentException for an unknown name (listing the available ones), a missing file,
   *     or an invalid model file (naming the key, the value and what is allowed)
   */
  public static ModelConfig load(String nameOrPath) {
    if (nameOrPath.endsWith(EXTENSION) || nameOrPath.contains("/") || nameOrPath.contains(File.separator)) {
      Path path = Paths.get(nameOrPath);
      if (!Files.isRegularFile(path)) {
        throw new IllegalArgumentException("Cannot load model file " + nameOrPath + ": no such file");
      }
      String file = path.getFileName().toString();
      String name = file.endsWith(EXTENSION) ? file.substring(0, file.length() - EXTENSION.length()) : file;
      Config config = parseStrict(() -> ConfigFactory.parseFile(path.toFile(), strictOptions()), nameOrPath);
      return parse(name, config, path.toString());
    }
    String resource = RESOURCE_DIR + "/" + nameOrPath + EXTENSION;
    if (classLoader().getResource(resource) == null) {
      throw new IllegalArgumentException(String.format(
          "Cannot load model %s: unknown model; available: %s (or give a path to a .conf file)",
          nameOrPath, String.join(", ", available())));
    }
    Config config = parseStrict(() -> ConfigFactory.parseResources(classLoader(), resource, strictOptions()), resource);
    return parse(nameOrPath, config, "classpath:" + resource);
  }

  /** Names of the models packaged on the classpath, sorted. */
  public static List<String> available() {
    Set<String> names = new TreeSet<>();
    try {
      Enumeration<URL> dirs = classLoader().getResources(RESOURCE_DIR);
      while (dirs.hasMoreElements()) {
        URL url = dirs.nextElement();
        if ("file".equals(url.getProtocol())) {
          try (Stream<Path> files = Files.list(Paths.get(url.toURI()))) {
            files.map(p -> p.getFileName().toString()).filter(f -> f.endsWith(EXTENSION))
                .forEach(f -> names.add(f.substring(0, f.length() - EXTENSION.length())));
          }
        } else if ("jar".equals(url.getProtocol())) {
          var connection = (JarURLConnection) url.openConnection();
          connection.setUseCaches(false);
          try (JarFile jar = connection.getJarFile()) {
            String prefix = RESOURCE_DIR + "/";
            jar.stream().map(e -> e.getName())
                .filter(n -> n.startsWith(prefix) && n.endsWith(EXTENSION) && n.indexOf('/', prefix.length()) < 0)
                .forEach(n -> names.add(n.substring(prefix.length(), n.length() - EXTENSION.length())));
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot list the models under " + RESOURCE_DIR + ": " + e.getMessage(), e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException("Cannot list the models under " + RESOURCE_DIR + ": " + e.getMessage(), e);
    }
    return Collections.unmodifiableList(new ArrayList<>(names));
  }

  /**
   * Parses a model from a HOCON object holding {@code embed_dim}, {@code vision} and {@code text}.
   *
   * @param name   the model's name
   * @param config the parsed file
   * @param origin where the config came from, for error messages
   */
  public static ModelConfig parse(String name, Config config, String origin) {
    try {
      Config resolved = config.resolve();
      checkKeys(resolved.root().keySet(), TOP_KEYS, "");
      if (!resolved.hasPath(ModelConfig.EMBED_DIM)) {
        throw new IllegalArgumentException("embed_dim is required");
      }
      Config vision = resolved.hasPath(ModelConfig.VISION) ? resolved.getConfig(ModelConfig.VISION) : ConfigFactory.empty();
      Config text = resolved.hasPath(ModelConfig.TEXT) ? resolved.getConfig(ModelConfig.TEXT) : ConfigFactory.empty();
      checkKeys(vision.root().keySet(), VISION_KEYS, "vision.");
      checkKeys(text.root().keySet(), TEXT_KEYS, "text.");
      return new ModelConfig(name, resolved.getInt(ModelConfig.EMBED_DIM), vision(vision), text(text));
    } catch (IllegalArgumentException | ConfigException e) {
      throw new IllegalArgumentException(
          String.format("Cannot load model %s from %s: %s", name, origin, e.getMessage()), e);
    }
  }

  private static VisionConfig vision(Config c) {
    int imageSize = intOr(c, VisionConfig.IMAGE_SIZE, VisionConfig.IMAGE_SIZE_DEFAULT);
    int width = intOr(c, VisionConfig.WIDTH, VisionConfig.WIDTH_DEFAULT);
    int headWidth = intOr(c, VisionConfig.HEAD_WIDTH, VisionConfig.HEAD_WIDTH_DEFAULT);
    int patchSize = intOr(c, VisionConfig.PATCH_SIZE, VisionConfig.PATCH_SIZE_DEFAULT);
    if (c.hasPath(VisionConfig.LAYERS)) {
      ConfigValue layers = c.getValue(VisionConfig.LAYERS);
      if (layers.valueType() == ConfigValueType.LIST) {
        return VisionConfig.resNet(imageSize, c.getIntList(VisionConfig.LAYERS), width, headWidth);
      }
      return VisionConfig.vit(imageSize, c.getInt(VisionConfig.LAYERS), width, patchSize, headWidth);
    }
    return VisionConfig.vit(imageSize, VisionConfig.LAYERS_DEFAULT, width, patchSize, headWidth);
  }

  private static TextConfig text(Config c) {
    return new TextConfig(
        intOr(c, TextConfig.CONTEXT_LENGTH, TextConfig.CONTEXT_LENGTH_DEFAULT),
        intOr(c, TextConfig.VOCAB_SIZE, TextConfig.VOCAB_SIZE_DEFAULT),
        intOr(c, TextConfig.WIDTH, TextConfig.WIDTH_DEFAULT),
        intOr(c, TextConfig.HEADS, TextConfig.HEADS_DEFAULT),
        intOr(c, TextConfig.LAYERS, TextConfig.LAYERS_DEFAULT));
  }

  private static int intOr(Config c, String key, int fallback) {
    return c.hasPath(key) ? c.getInt(key) : fallback;
  }

  private static void checkKeys(Set<String> keys, Set<String> allowed, String prefix) {
    for (String key : keys) {
      if (!allowed.contains(key)) {
        throw new IllegalArgumentException(String.format("unknown key %s%s (allowed: %s)",
            prefix, key, String.join(", ", new TreeSet<>(allowed).stream().map(k -> prefix + k).toList())));
      }
    }
  }

  private interface Parse {
    Config get();
  }

  private static Config parseStrict(Parse parse, String origin) {
    try {
      return parse.get();
    } catch (ConfigException e) {
      throw new IllegalArgumentException("Cannot parse model file " + origin + ": " + e.getMessage(), e);
    }
  }

  private static ConfigParseOptions strictOptions() {
    return ConfigParseOptions.defaults().setAllowMissing(false);
  }

  private static ClassLoader classLoader() {
    ClassLoader context = Thread.currentThread().getContextClassLoader();
    return context != null ? context : ModelConfigs.class.getClassLoader();
  }
}
