package dev.clipspark.training.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Named parameter tensors, each with a gradient accumulator of the same shape and data type, in
 * insertion order. Layers look their tensors up by OpenAI's {@code state_dict} names.
 */
public final class ParameterSet {

  private final Map<String, INDArray> values = new LinkedHashMap<>();
  private final Map<String, INDArray> gradients = new LinkedHashMap<>();
  private final Map<String, INDArray> buffers = new LinkedHashMap<>();

  /**
   * Adds a parameter and a zero gradient for it.
   *
   * @throws IllegalArgumentException if the name is taken
   */
  public ParameterSet add(String name, INDArray value) {
    if (values.containsKey(name) || buffers.containsKey(name)) {
      throw new IllegalArgumentException("Cannot add parameter " + name + ": the name is taken");
    }
    values.put(name, value);
    gradients.put(name, value.ulike().assign(0));
    return this;
  }

  /**
   * Adds a buffer: state that is saved and loaded with the model but not trained by gradients
   * (BatchNorm running statistics), PyTorch's {@code register_buffer}.
   *
   * @throws IllegalArgumentException if the name is taken by a parameter or a buffer
   */
  public ParameterSet addBuffer(String name, INDArray value) {
    if (values.containsKey(name) || buffers.containsKey(name)) {
      throw new IllegalArgumentException("Cannot add buffer " + name + ": the name is taken");
    }
    buffers.put(name, value);
    return this;
  }

  /** The buffer's values (the live array: layers update it in place). */
  public INDArray buffer(String name) {
    return lookup(buffers, name);
  }

  /** Buffer names in insertion order. */
  public List<String> bufferNames() {
    return Collections.unmodifiableList(new ArrayList<>(buffers.keySet()));
  }

  /** Whether a parameter of that name exists. */
  public boolean contains(String name) {
    return values.containsKey(name);
  }

  /** The parameter's values (the live array: layers and optimisers update it in place). */
  public INDArray value(String name) {
    return lookup(values, name);
  }

  /** The parameter's gradient accumulator (the live array). */
  public INDArray gradient(String name) {
    return lookup(gradients, name);
  }

  /**
   * The parameter's values, checked to have the given shape.
   *
   * @throws IllegalArgumentException naming the parameter and both shapes if they differ
   */
  public INDArray value(String name, long... shape) {
    INDArray v = value(name);
    if (!Arrays.equals(v.shape(), shape)) {
      throw new IllegalArgumentException(String.format("Cannot use parameter %s of shape %s: expected %s",
          name, Arrays.toString(v.shape()), Arrays.toString(shape)));
    }
    return v;
  }

  /** Parameter names in insertion order. */
  public List<String> names() {
    return Collections.unmodifiableList(new ArrayList<>(values.keySet()));
  }

  /** Total number of parameter elements. */
  public long elementCount() {
    return values.values().stream().mapToLong(INDArray::length).sum();
  }

  /** Sets every gradient accumulator to zero. */
  public void zeroGradients() {
    gradients.values().forEach(g -> g.assign(0));
  }

  private static INDArray lookup(Map<String, INDArray> map, String name) {
    INDArray a = map.get(name);
    if (a == null) {
      throw new IllegalArgumentException(String.format(
          "Cannot find parameter %s: not among the %d parameters of this set", name, map.size()));
    }
    return a;
  }
}
