package dev.tandem.io.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * One GGUF metadata value with its exact type, so that it is written back as it was read.
 *
 * <p>Java representation of {@code value}: every integer type as {@link Long} (UINT64 bit
 * patterns above Long.MAX_VALUE stay as their negative long); FLOAT32 {@link Float}; FLOAT64
 * {@link Double}; BOOL {@link Boolean}; STRING {@link String}. An ARRAY has {@code elementType} set
 * and a Java array as value: {@code long[]} for integers, {@code float[]}, {@code double[]},
 * {@code boolean[]}, {@code String[]}, or {@code GgufValue[]} for nested arrays.
 */
public record GgufValue(GgufValueType type, GgufValueType elementType, Object value) {
  public GgufValue {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(value, "value");
    if (type == GgufValueType.ARRAY) {
      Objects.requireNonNull(elementType, "elementType");
      boolean ok = switch (elementType) {
        case STRING -> value instanceof String[];
        case FLOAT32 -> value instanceof float[];
        case FLOAT64 -> value instanceof double[];
        case BOOL -> value instanceof boolean[];
        case ARRAY -> value instanceof GgufValue[];
        default -> value instanceof long[];
      };
      if (!ok) throw new IllegalArgumentException("array of " + elementType + " given as " + value.getClass());
    } else {
      boolean ok = switch (type) {
        case STRING -> value instanceof String;
        case FLOAT32 -> value instanceof Float;
        case FLOAT64 -> value instanceof Double;
        case BOOL -> value instanceof Boolean;
        default -> value instanceof Long;
      };
      if (!ok) throw new IllegalArgumentException(type + " given as " + value.getClass());
    }
  }

  public static GgufValue string(String s) { return new GgufValue(GgufValueType.STRING, null, s); }
  public static GgufValue u32(long v) { return new GgufValue(GgufValueType.UINT32, null, v); }
  public static GgufValue i32(long v) { return new GgufValue(GgufValueType.INT32, null, v); }
  public static GgufValue u64(long v) { return new GgufValue(GgufValueType.UINT64, null, v); }
  public static GgufValue f32(float v) { return new GgufValue(GgufValueType.FLOAT32, null, v); }
  public static GgufValue bool(boolean v) { return new GgufValue(GgufValueType.BOOL, null, v); }
  public static GgufValue strings(String... v) { return new GgufValue(GgufValueType.ARRAY, GgufValueType.STRING, v); }
  public static GgufValue f32s(float... v) { return new GgufValue(GgufValueType.ARRAY, GgufValueType.FLOAT32, v); }

  /** An array of INT32 values. */
  public static GgufValue i32s(int... v) {
    return new GgufValue(GgufValueType.ARRAY, GgufValueType.INT32, Arrays.stream(v).asLongStream().toArray());
  }

  /** Elements of an array (0 for a scalar). */
  public int length() {
    if (type != GgufValueType.ARRAY) return 0;
    return switch (value) {
      case String[] a -> a.length;
      case float[] a -> a.length;
      case double[] a -> a.length;
      case boolean[] a -> a.length;
      case long[] a -> a.length;
      case GgufValue[] a -> a.length;
      default -> throw new AssertionError(value);
    };
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GgufValue v && v.type == type && v.elementType == elementType
        && Arrays.deepEquals(new Object[] {value}, new Object[] {v.value});
  }

  @Override
  public int hashCode() {
    return Objects.hash(type, elementType, Arrays.deepHashCode(new Object[] {value}));
  }

  @Override
  public String toString() {
    if (type != GgufValueType.ARRAY) return type + " " + value;
    return "ARRAY[" + length() + "] of " + elementType;
  }
}
