package dev.clipspark.training.model;

import java.util.Arrays;
import java.util.Objects;

/**
 * One parameter tensor of a CLIP model: its OpenAI {@code state_dict} name, shape, role and initialiser.
 *
 * @param name  OpenAI's name, e.g. {@code visual.transformer.resblocks.0.attn.in_proj_weight}
 * @param shape PyTorch's shape (a linear weight is {@code [out, in]}, a convolution
 *              {@code [out, in, kh, kw]}, {@code logit_scale} is a scalar of shape {@code []})
 * @param role  what the tensor is, which decides its weight-decay group
 * @param init  how a fresh model fills it
 */
public record ParameterSpec(String name, long[] shape, Role role, Init init) {

  /** What a tensor is; only {@link #WEIGHT} is weight-decayed, as in OpenAI's and open_clip's training. */
  public enum Role {
    /** A matrix or convolution kernel (including the projections): decayed. */
    WEIGHT,
    /** A LayerNorm or BatchNorm gain: not decayed. */
    GAIN,
    /** A bias (linear, attention, LayerNorm, BatchNorm): not decayed. */
    BIAS,
    /** A token or positional embedding, or the class token: not decayed. */
    EMBEDDING,
    /** The learned logit scale (a log temperature): not decayed. */
    SCALE
  }

  /** How a fresh model fills a tensor. */
  public enum Distribution {
    /** Normal with mean 0 and standard deviation {@code value}. */
    NORMAL,
    /** Uniform on {@code [-value, value]}. */
    UNIFORM,
    /** Every element equals {@code value}. */
    CONSTANT
  }

  /**
   * An initialiser.
   *
   * @param distribution the distribution
   * @param value        its standard deviation, bound or constant
   */
  public record Init(Distribution distribution, double value) {
    /** Normal with standard deviation {@code std}. */
    public static Init normal(double std) {
      return new Init(Distribution.NORMAL, std);
    }

    /** Uniform on {@code [-bound, bound]}. */
    public static Init uniform(double bound) {
      return new Init(Distribution.UNIFORM, bound);
    }

    /** The constant {@code value}. */
    public static Init constant(double value) {
      return new Init(Distribution.CONSTANT, value);
    }
  }

  /** Validates and copies the shape. */
  public ParameterSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(init, "init");
    shape = shape.clone();
    for (long d : shape) {
      if (d < 1) {
        throw new IllegalArgumentException("Cannot create parameter " + name + " of shape "
            + Arrays.toString(shape) + ": every dimension must be at least 1");
      }
    }
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Number of elements. */
  public long size() {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** Whether AdamW applies weight decay to this tensor (only to {@link Role#WEIGHT}s). */
  public boolean weightDecay() {
    return role == Role.WEIGHT;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ParameterSpec p && name.equals(p.name) && Arrays.equals(shape, p.shape)
        && role == p.role && init.equals(p.init);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, Arrays.hashCode(shape), role, init);
  }

  @Override
  public String toString() {
    return name + Arrays.toString(shape) + " " + role + " " + init;
  }
}
