package dev.tandem.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FloatFormatsTest {

  private static short bf16(float value) {
    return FloatFormats.floatToBf16(value);
  }

  private static float bits(int bits) {
    return Float.intBitsToFloat(bits);
  }

  @Test
  void bf16OfOneThirdRoundsUpByHand() {
    // 1/3 = 0x3EAAAAAB: the dropped half 0xAAAB is above 0x8000, so the kept half 0x3EAA rounds up to
    // 0x3EAB = 1.0101011b * 2^-2 = 171/512.
    assertThat(Float.floatToRawIntBits(1f / 3)).isEqualTo(0x3EAAAAAB);
    assertThat(bf16(1f / 3)).isEqualTo((short) 0x3EAB);
    assertThat(FloatFormats.bf16ToFloat((short) 0x3EAB)).isEqualTo(171f / 512);
  }

  @Test
  void bf16OfPiRoundsDown() {
    // pi = 0x40490FDB: dropped half 0x0FDB < 0x8000, so 0x4049 = 3.140625.
    assertThat(bf16((float) Math.PI)).isEqualTo((short) 0x4049);
    assertThat(FloatFormats.bf16ToFloat((short) 0x4049)).isEqualTo(3.140625f);
  }

  @Test
  void bf16RoundsJustBelowAndJustAboveTheHalfway() {
    assertThat(bf16(bits(0x3F807FFF))).isEqualTo((short) 0x3F80);
    assertThat(bf16(bits(0x3F808001))).isEqualTo((short) 0x3F81);
  }

  @Test
  void bf16TiesGoToEven() {
    assertThat(bf16(bits(0x3F808000))).as("tie, kept half even: stays").isEqualTo((short) 0x3F80);
    assertThat(bf16(bits(0x3F818000))).as("tie, kept half odd: up to even").isEqualTo((short) 0x3F82);
    assertThat(bf16(bits(0xBF818000))).as("negative tie, odd").isEqualTo((short) 0xBF82);
    assertThat(bf16(bits(0xBF808000))).as("negative tie, even").isEqualTo((short) 0xBF80);
  }

  @Test
  void bf16NaNStaysNaN() {
    // A NaN whose payload lies only in the dropped half would truncate to infinity.
    assertThat(FloatFormats.bf16ToFloat(bf16(bits(0x7F800001)))).isNaN();
    assertThat(FloatFormats.bf16ToFloat(bf16(bits(0xFF800001)))).isNaN();
    assertThat(bf16(bits(0xFF800001)) & 0x8000).as("sign kept").isEqualTo(0x8000);
    assertThat(FloatFormats.bf16ToFloat(bf16(Float.NaN))).isNaN();
  }

  @Test
  void bf16SpecialValues() {
    assertThat(bf16(Float.POSITIVE_INFINITY)).isEqualTo((short) 0x7F80);
    assertThat(bf16(Float.NEGATIVE_INFINITY)).isEqualTo((short) 0xFF80);
    assertThat(bf16(-0f)).isEqualTo((short) 0x8000);
    assertThat(bf16(0f)).isEqualTo((short) 0);
    assertThat(bf16(Float.MAX_VALUE)).as("beyond the largest bf16: infinity").isEqualTo((short) 0x7F80);
    assertThat(bf16(Float.MIN_VALUE)).as("tiny subnormal rounds to zero").isEqualTo((short) 0);
  }

  /**
   * Every bf16 value (all 65536 upper halves, so every exponent and sign) with the lower halves that
   * matter for rounding (zero, just below, at and just above the halfway point, the largest) against a
   * reference that picks the nearer bf16 neighbour in exact double arithmetic, ties to even.
   */
  @Test
  void bf16RoundingMatchesNearestEvenReferenceForEveryUpperHalf() {
    int[] lowerHalves = {0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x1234, 0xC3A5};
    for (int upper = 0; upper < 0x10000; upper++) {
      for (int lower : lowerHalves) {
        float value = bits(upper << 16 | lower);
        if (Float.isNaN(value) || Float.isInfinite(value)) continue;
        assertThat(bf16(value) & 0xFFFF).as("bits %08x", upper << 16 | lower).isEqualTo(nearestEvenBf16(value));
      }
    }
  }

  /** The bf16 bits nearest to a finite {@code value}, ties to even, computed from distances. */
  private static int nearestEvenBf16(float value) {
    int sign = Float.floatToRawIntBits(value) >>> 16 & 0x8000;
    int towardZero = Float.floatToRawIntBits(Math.abs(value)) >>> 16;
    double lo = FloatFormats.bf16ToFloat((short) towardZero);
    double hi = lo + Math.ulp((float) lo) * 65536.0; // the next bf16 up; 2^128 (infinity) past the largest
    double x = Math.abs((double) value);
    int magnitude;
    if (x - lo < hi - x) magnitude = towardZero;
    else if (x - lo > hi - x) magnitude = towardZero + 1;
    else magnitude = (towardZero & 1) == 0 ? towardZero : towardZero + 1;
    return sign | magnitude;
  }

  @Test
  void f16UsesTheJdkConversions() {
    assertThat(FloatFormats.floatToF16(1f)).isEqualTo((short) 0x3C00);
    assertThat(FloatFormats.f16ToFloat((short) 0x3C00)).isEqualTo(1f);
    assertThat(FloatFormats.floatToF16(65520f)).as("beyond the largest half: infinity").isEqualTo((short) 0x7C00);
    assertThat(FloatFormats.f16ToFloat(FloatFormats.floatToF16(Float.NaN))).isNaN();
  }

  @Test
  void bulkConversionsAreLittleEndianAndMatchTheScalarOnes() {
    Random random = new Random(7);
    float[] values = new float[33];
    for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian() * 10;
    try (Arena arena = Arena.ofConfined()) {
      for (DType dtype : new DType[] {DType.F32, DType.F16, DType.BF16}) {
        // Offset by one byte: the converters must not need alignment.
        MemorySegment bytes = arena.allocate(1 + values.length * dtype.byteSize()).asSlice(1);
        FloatFormats.fromFloats(values, 0, values.length, dtype, bytes);
        for (int i = 0; i < values.length; i++) {
          int stored = switch (dtype) {
            case F32 -> Float.floatToRawIntBits(values[i]);
            case F16 -> FloatFormats.floatToF16(values[i]) & 0xFFFF;
            case BF16 -> bf16(values[i]) & 0xFFFF;
            default -> throw new AssertionError();
          };
          for (int b = 0; b < dtype.byteSize(); b++) {
            assertThat(bytes.get(ValueLayout.JAVA_BYTE, (long) i * dtype.byteSize() + b) & 0xFF)
                .as("%s element %d byte %d", dtype, i, b).isEqualTo((stored >>> (8 * b)) & 0xFF);
          }
        }
        float[] back = new float[values.length + 2];
        FloatFormats.toFloats(bytes, dtype, back, 2, values.length);
        for (int i = 0; i < values.length; i++) {
          float expected = switch (dtype) {
            case F32 -> values[i];
            case F16 -> FloatFormats.f16ToFloat(FloatFormats.floatToF16(values[i]));
            case BF16 -> FloatFormats.bf16ToFloat(bf16(values[i]));
            default -> throw new AssertionError();
          };
          assertThat(back[2 + i]).as("%s element %d", dtype, i).isEqualTo(expected);
        }
      }
    }
  }

  @Test
  void bulkConversionRefusesOtherTypesAndShortBuffers() {
    MemorySegment bytes = MemorySegment.ofArray(new byte[8]);
    assertThatThrownBy(() -> FloatFormats.toFloats(bytes, DType.I32, new float[2], 0, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("I32");
    assertThatThrownBy(() -> FloatFormats.toFloats(bytes, DType.F32, new float[4], 0, 3))
        .isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> FloatFormats.fromFloats(new float[3], 0, 3, DType.F32, bytes))
        .isInstanceOf(IndexOutOfBoundsException.class);
  }

  @Test
  void littleEndianLayoutOfF32() {
    MemorySegment bytes = MemorySegment.ofArray(new byte[4]);
    FloatFormats.fromFloats(new float[] {1f}, 0, 1, DType.F32, bytes); // 0x3F800000
    assertThat(bytes.toArray(ValueLayout.JAVA_BYTE)).containsExactly(0, 0, (byte) 0x80, 0x3F);
    assertThat(bytes.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0))
        .isEqualTo(0x3F800000);
  }
}
