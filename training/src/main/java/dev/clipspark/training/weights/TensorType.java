package dev.clipspark.training.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.Collectors;

/** Element types of stored tensors, with PyTorch's storage name and safetensors' dtype name. */
enum TensorType {
  F32(4, "FloatStorage", "F32", true),
  F16(2, "HalfStorage", "F16", true),
  BF16(2, "BFloat16Storage", "BF16", true),
  F64(8, "DoubleStorage", "F64", true),
  I64(8, "LongStorage", "I64", false),
  I32(4, "IntStorage", "I32", false),
  I16(2, "ShortStorage", "I16", false),
  I8(1, "CharStorage", "I8", false),
  U8(1, "ByteStorage", "U8", false),
  BOOL(1, "BoolStorage", "BOOL", false);

  final int bytes;
  final String storage;
  final String safetensors;
  final boolean floating;

  TensorType(int bytes, String storage, String safetensors, boolean floating) {
    this.bytes = bytes;
    this.storage = storage;
    this.safetensors = safetensors;
    this.floating = floating;
  }

  /** The type of PyTorch storage class {@code torch.NAME}, or null. */
  static TensorType ofStorage(String name) {
    for (TensorType t : values()) {
      if (t.storage.equals(name)) {
        return t;
      }
    }
    return null;
  }

  /** The type of a safetensors dtype name, or null. */
  static TensorType ofSafetensors(String name) {
    for (TensorType t : values()) {
      if (t.safetensors.equals(name)) {
        return t;
      }
    }
    return null;
  }

  static String storageNames() {
    return Arrays.stream(values()).map(t -> "torch." + t.storage).collect(Collectors.joining(", "));
  }

  static String safetensorsNames() {
    return Arrays.stream(values()).map(t -> t.safetensors).collect(Collectors.joining(", "));
  }

  /** Element {@code i} (little-endian) of {@code bytes} as a float (floating types, exact for F32/F16/BF16). */
  float readFloat(ByteBuffer bytes, long i) {
    int at = Math.toIntExact(i * this.bytes);
    return switch (this) {
      case F32 -> bytes.getFloat(at);
      case F16 -> halfToFloat(bytes.getShort(at));
      case BF16 -> Float.intBitsToFloat((bytes.getShort(at) & 0xffff) << 16);
      case F64 -> (float) bytes.getDouble(at);
      default -> (float) readLong(bytes, i);
    };
  }

  /** Element {@code i} (little-endian) of {@code bytes} as a long (integer types). */
  long readLong(ByteBuffer bytes, long i) {
    int at = Math.toIntExact(i * this.bytes);
    return switch (this) {
      case I64 -> bytes.getLong(at);
      case I32 -> bytes.getInt(at);
      case I16 -> bytes.getShort(at);
      case I8 -> bytes.get(at);
      case U8, BOOL -> bytes.get(at) & 0xff;
      default -> (long) readFloat(bytes, i);
    };
  }

  /** IEEE 754 binary16 to float, exactly (subnormals, infinities and NaN included). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exponent == 0) {
      float value = mantissa * 0x1p-24f;
      return sign == 0 ? value : -value;
    }
    return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }

  static ByteBuffer little(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
  }
}
