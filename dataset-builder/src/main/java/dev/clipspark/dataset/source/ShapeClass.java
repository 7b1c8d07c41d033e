package dev.clipspark.dataset.source;

import java.io.Serializable;
import java.util.Objects;

/**
 * One class of {@link SyntheticShapes}: a named colour and a named shape, e.g. red circle.
 *
 * @param colour the colour's name, one word, e.g. {@code red}
 * @param shape the shape's name, one word, e.g. {@code circle}
 */
public record ShapeClass(String colour, String shape) implements Serializable {

  public ShapeClass {
    Objects.requireNonNull(colour, "colour");
    Objects.requireNonNull(shape, "shape");
  }

  /** The class's name as a query or zero-shot label, e.g. {@code red circle}. */
  public String label() {
    return colour + " " + shape;
  }
}
