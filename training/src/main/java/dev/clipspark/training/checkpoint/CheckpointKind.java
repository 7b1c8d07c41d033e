package dev.clipspark.training.checkpoint;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What model a checkpoint holds; written to {@code checkpoint.json} as {@code kind} (a checkpoint without the field
 * was written before kinds existed and is a CLIP checkpoint). The kind says how {@code model.conf} reads and which
 * extra files the checkpoint carries.
 */
public enum CheckpointKind {
  /** A CLIP model: {@code model.conf} as {@code conf/models/NAME.conf}, the CLIP tokenizer in {@code tokenizer.txt}. */
  CLIP("clip"),
  /** A GPT-2-family causal language model: {@code model.conf} with GPT2Config keys, GPT-2's tokenizer files. */
  GPT2("gpt2"),
  /** A LiMBeR map P between a frozen CLIP image tower and a frozen language model. */
  LIMBER("limber");

  private final String json;

  CheckpointKind(String json) {
    this.json = json;
  }

  /** The value written to {@code checkpoint.json}. */
  public String json() {
    return json;
  }

  /**
   * The kind written as {@code json}.
   *
   * @throws IllegalArgumentException naming the value and the kinds allowed
   */
  public static CheckpointKind of(String json) {
    for (CheckpointKind k : values()) {
      if (k.json.equals(json)) {
        return k;
      }
    }
    throw new IllegalArgumentException(String.format(Locale.ROOT, "unknown checkpoint kind '%s': must be one of %s",
        json, Arrays.stream(values()).map(CheckpointKind::json).collect(Collectors.joining(", "))));
  }
}
