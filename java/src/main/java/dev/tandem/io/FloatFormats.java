package dev.tandem.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Conversions between {@code float} and the 16-bit float formats, one value at a time or in bulk between
 * a {@code float[]} and little-endian bytes in a {@link MemorySegment}. The bulk converters use
 * unaligned accesses, so any segment (heap, native, memory-mapped) at any offset works.
 */
public final class FloatFormats {

  private static final ValueLayout.OfFloat F32_LE =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort U16_LE =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private FloatFormats() {}

  /**
   * Rounds a float to bfloat16, to nearest with ties to even. Infinities and zeros keep their sign; a NaN
   * stays a (quiet) NaN with its sign; a finite value beyond the largest bfloat16 becomes infinity.
   */
  public static short floatToBf16(float value) {
    int bits = Float.floatToRawIntBits(value);
    if (Float.isNaN(value)) {
      // Truncation could clear every mantissa bit left (turning NaN into infinity): set the quiet bit.
      return (short) ((bits >>> 16) | 0x0040);
    }
    int lsb = (bits >>> 16) & 1; // bias 0x7FFF + lsb: ties go to the even neighbour
    return (short) ((bits + 0x7FFF + lsb) >>> 16);
  }

  /** The float a bfloat16 represents (exact). */
  public static float bf16ToFloat(short bf16) {
    return Float.intBitsToFloat((bf16 & 0xFFFF) << 16);
  }

  /** Rounds a float to IEEE binary16, to nearest with ties to even ({@link Float#floatToFloat16}). */
  public static short floatToF16(float value) {
    return Float.floatToFloat16(value);
  }

  /** The float a binary16 represents (exact, {@link Float#float16ToFloat}). */
  public static float f16ToFloat(short f16) {
    return Float.float16ToFloat(f16);
  }

  /**
   * Reads {@code count} elements of {@code dtype} from the start of {@code src} (little-endian) into
   * {@code dst[dstOffset .. dstOffset+count)}.
   *
   * @throws IllegalArgumentException if {@code dtype} is not F32, F16 or BF16
   * @throws IndexOutOfBoundsException if {@code src} or {@code dst} is too short
   */
  public static void toFloats(MemorySegment src, DType dtype, float[] dst, int dstOffset, int count) {
    requireFloatType(dtype);
    Objects.checkFromIndexSize(dstOffset, count, dst.length);
    Objects.checkFromIndexSize(0L, (long) count * dtype.byteSize(), src.byteSize());
    switch (dtype) {
      case F32 -> MemorySegment.copy(src, F32_LE, 0, dst, dstOffset, count);
      case F16 -> {
        for (int i = 0; i < count; i++) dst[dstOffset + i] = Float.float16ToFloat(src.getAtIndex(U16_LE, i));
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) dst[dstOffset + i] = bf16ToFloat(src.getAtIndex(U16_LE, i));
      }
      default -> throw new AssertionError(dtype);
    }
  }

  /**
   * Converts {@code src[srcOffset .. srcOffset+count)} to {@code dtype} and writes the elements
   * little-endian to the start of {@code dst}.
   *
   * @throws IllegalArgumentException if {@code dtype} is not F32, F16 or BF16
   * @throws IndexOutOfBoundsException if {@code src} or {@code dst} is too short
   */
  public static void fromFloats(float[] src, int srcOffset, int count, DType dtype, MemorySegment dst) {
    requireFloatType(dtype);
    Objects.checkFromIndexSize(srcOffset, count, src.length);
    Objects.checkFromIndexSize(0L, (long) count * dtype.byteSize(), dst.byteSize());
    switch (dtype) {
      case F32 -> MemorySegment.copy(src, srcOffset, dst, F32_LE, 0, count);
      case F16 -> {
        for (int i = 0; i < count; i++) dst.setAtIndex(U16_LE, i, Float.floatToFloat16(src[srcOffset + i]));
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) dst.setAtIndex(U16_LE, i, floatToBf16(src[srcOffset + i]));
      }
      default -> throw new AssertionError(dtype);
    }
  }

  private static void requireFloatType(DType dtype) {
    if (!dtype.convertsToFloat()) {
      throw new IllegalArgumentException(dtype + " does not convert to float; only F32, F16 and BF16 do");
    }
  }
}
