package dev.tandem.io;

import java.util.Arrays;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Element types of the safetensors format. Each constant's name is its safetensors name ("F32",
 * "BF16", ...). The engine computes with {@link #F32}, {@link #F16} and {@link #BF16}; the others are
 * recognised so that a file holding them (token ids, masks, fp8 weights) can still be opened, listed and
 * read as raw bytes.
 */
public enum DType {
  /** IEEE 754 binary32. */
  F32(4),
  /** IEEE 754 binary16 (half precision). */
  F16(2),
  /** bfloat16: the upper 16 bits of a binary32. */
  BF16(2),
  /** IEEE 754 binary64. */
  F64(8),
  /** 8-bit float, 4 exponent and 3 mantissa bits. */
  F8_E4M3(1),
  /** 8-bit float, 5 exponent and 2 mantissa bits. */
  F8_E5M2(1),
  I64(8),
  I32(4),
  I16(2),
  I8(1),
  U64(8),
  U32(4),
  U16(2),
  U8(1),
  /** One byte per element, 0 or 1. */
  BOOL(1);

  private static final Map<String, DType> BY_NAME =
      Arrays.stream(values()).collect(Collectors.toUnmodifiableMap(DType::safetensorsName, Function.identity()));

  private final int byteSize;

  DType(int byteSize) {
    this.byteSize = byteSize;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** The name used for this type in a safetensors header, e.g. {@code "BF16"}. */
  public String safetensorsName() {
    return name();
  }

  /** Whether elements of this type can be converted to and from {@code float} by {@link FloatFormats}. */
  public boolean convertsToFloat() {
    return this == F32 || this == F16 || this == BF16;
  }

  /**
   * The type with this safetensors name (case-sensitive, as in the format).
   *
   * @throws IllegalArgumentException if no type has that name
   */
  public static DType fromSafetensorsName(String name) {
    DType type = name == null ? null : BY_NAME.get(name);
    if (type == null) {
      throw new IllegalArgumentException("unknown safetensors dtype \"" + name + "\"; known dtypes: "
          + Arrays.toString(values()));
    }
    return type;
  }
}
