package dev.clipspark.training.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/** The HTML5 named character references, read once from {@code html5-entities.tsv} beside this class. */
final class HtmlEntities {

  /** Name (with its trailing semicolon where it has one, without the ampersand) to replacement text. */
  static final Map<String, String> HTML5 = load();

  /** Longest entity name, in characters. */
  static final int MAX_NAME = HTML5.keySet().stream().mapToInt(String::length).max().orElse(0);

  private HtmlEntities() {}

  private static Map<String, String> load() {
    String resource = "html5-entities.tsv";
    try (InputStream in = HtmlEntities.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("Cannot load the HTML5 entity table: resource " + resource
            + " is missing from the class path");
      }
      var map = new HashMap<String, String>(4096);
      var reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
      String line;
      while ((line = reader.readLine()) != null) {
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        int tab = line.indexOf('\t');
        var value = new StringBuilder(2);
        for (String hex : line.substring(tab + 1).split(" ")) {
          value.appendCodePoint(Integer.parseInt(hex, 16));
        }
        map.put(line.substring(0, tab), value.toString());
      }
      return Map.copyOf(map);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot load the HTML5 entity table " + resource + ": " + e.getMessage(), e);
    }
  }
}
