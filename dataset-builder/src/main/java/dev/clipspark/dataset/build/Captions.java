package dev.clipspark.dataset.build;

import dev.clipspark.dataset.RejectReason;
import java.util.regex.Pattern;

/** Caption clean-up and checks applied to every candidate before its image is loaded. */
public final class Captions {

  private static final Pattern SPACE = Pattern.compile("\\s+");

  private Captions() {}

  /**
   * Strips a leading byte-order mark, trims, and collapses runs of white space (newlines and tabs
   * included) into single spaces. Returns null for null.
   */
  public static String clean(String caption) {
    if (caption == null) {
      return null;
    }
    String s = caption.startsWith("\uFEFF") ? caption.substring(1) : caption;
    return SPACE.matcher(s.strip()).replaceAll(" ");
  }

  /** Why a cleaned caption cannot be used, or null when it can. */
  public static RejectReason check(String cleaned, int maxLength) {
    if (cleaned == null) {
      return RejectReason.MISSING_CAPTION;
    }
    if (cleaned.isEmpty()) {
      return RejectReason.CAPTION_EMPTY;
    }
    if (cleaned.length() > maxLength) {
      return RejectReason.CAPTION_TOO_LONG;
    }
    return null;
  }
}
