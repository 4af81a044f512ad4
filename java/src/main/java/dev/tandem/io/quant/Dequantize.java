package dev.tandem.io.quant;

import dev.tandem.io.gguf.GgufTensorType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The scalar reference of every stored weight format: what a block of bytes means, one element at a
 * time, written to be read against llama.cpp's definitions ({@code dequantize_row_*} in ggml-quants.c,
 * block structs in ggml-common.h). The Vector API products of the CPU backend and the quantizers are
 * tested against these. All multi-byte fields are little-endian; fp16 fields convert exactly.
 *
 * <ul>
 *   <li>Q8_0, 34 bytes per 32: fp16 d, int8 q[32]; w[i] = d * q[i].
 *   <li>Q4_0, 18 bytes per 32: fp16 d, u8 qs[16]; w[i] = d * ((qs[i] &amp; 15) - 8), w[i + 16] = d * ((qs[i] &gt;&gt; 4) - 8).
 *   <li>Q4_K, 144 bytes per 256: fp16 d, fp16 dmin, u8 scales[12], u8 qs[128]. Eight sub-blocks of 32
 *       with a 6-bit scale sc and min m each ({@link #scaleMinK4}); chunk c (0..3) of 32 bytes of qs holds
 *       sub-block 2c in its low nibbles and 2c + 1 in its high nibbles; w = d * sc * q - dmin * m.
 *   <li>Q6_K, 210 bytes per 256: u8 ql[128], u8 qh[64], int8 scales[16], fp16 d. Two halves of 128; in
 *       half h, for l &lt; 32, with L = ql + 64h, H = qh + 32h, S = scales + 8h: element l takes the low
 *       nibble of L[l] and bits 0-1 of H[l], l + 32 the low nibble of L[l + 32] and bits 2-3, l + 64 the
 *       high nibble of L[l] and bits 4-5, l + 96 the high nibble of L[l + 32] and bits 6-7; q is the
 *       nibble plus the two bits times 16, minus 32; its scale is S[l / 16 + 2 * quarter]; w = d * scale * q.
 * </ul>
 */
public final class Dequantize {
  private Dequantize() {}

  static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /** Bytes of one row of {@code cols} elements of {@code type}. */
  public static long rowBytes(GgufTensorType type, int cols) {
    return type.byteSize(cols);
  }

  /**
   * Dequantizes {@code cols} elements (a whole number of blocks) starting at byte {@code offset} of
   * {@code src} into {@code out[outOffset ..]}.
   */
  public static void row(GgufTensorType type, MemorySegment src, long offset, int cols, float[] out, int outOffset) {
    if (cols % type.blockSize() != 0) {
      throw new IllegalArgumentException(type + ": " + cols + " elements are not whole blocks of " + type.blockSize());
    }
    int blocks = cols / type.blockSize();
    for (int b = 0; b < blocks; b++) {
      long at = offset + (long) b * type.blockBytes();
      int o = outOffset + b * type.blockSize();
      switch (type) {
        case F32 -> out[o] = src.get(F32, at);
        case F16 -> out[o] = Float.float16ToFloat(src.get(U16, at));
        case BF16 -> out[o] = Float.intBitsToFloat((src.get(U16, at) & 0xFFFF) << 16);
        case Q8_0 -> q8_0(src, at, out, o);
        case Q4_0 -> q4_0(src, at, out, o);
        case Q4_K -> q4K(src, at, out, o);
        case Q6_K -> q6K(src, at, out, o);
      }
    }
  }

  /** A whole matrix {@code [rows][cols]} stored row after row, as fp32 (for tests and the fp32 load path). */
  public static float[] matrix(GgufTensorType type, MemorySegment src, int rows, int cols) {
    float[] out = new float[Math.multiplyExact(rows, cols)];
    long rowBytes = rowBytes(type, cols);
    for (int r = 0; r < rows; r++) row(type, src, r * rowBytes, cols, out, r * cols);
    return out;
  }

  static float fp16(MemorySegment src, long at) {
    return Float.float16ToFloat(src.get(U16, at));
  }

  static int u8(MemorySegment src, long at) {
    return src.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
  }

  private static void q8_0(MemorySegment src, long at, float[] out, int o) {
    float d = fp16(src, at);
    for (int i = 0; i < 32; i++) out[o + i] = d * src.get(ValueLayout.JAVA_BYTE, at + 2 + i);
  }

  private static void q4_0(MemorySegment src, long at, float[] out, int o) {
    float d = fp16(src, at);
    for (int i = 0; i < 16; i++) {
      int q = u8(src, at + 2 + i);
      out[o + i] = d * ((q & 15) - 8);
      out[o + i + 16] = d * ((q >>> 4) - 8);
    }
  }

  /**
   * The 6-bit scale (index 0) and min (index 1) of sub-block j (0..7) of a Q4_K super-block whose 12
   * scale bytes start at {@code scales}: sub-blocks 0-3 keep theirs in the low 6 bits of bytes j and
   * j + 4; sub-blocks 4-7 in the nibbles of byte j + 4 (scale low, min high) with their top 2 bits in
   * the top bits of bytes j - 4 (scale) and j (min).
   */
  public static int[] scaleMinK4(MemorySegment src, long scales, int j) {
    int sc, m;
    if (j < 4) {
      sc = u8(src, scales + j) & 63;
      m = u8(src, scales + j + 4) & 63;
    } else {
      sc = (u8(src, scales + j + 4) & 15) | ((u8(src, scales + j - 4) >>> 6) << 4);
      m = (u8(src, scales + j + 4) >>> 4) | ((u8(src, scales + j) >>> 6) << 4);
    }
    return new int[] {sc, m};
  }

  private static void q4K(MemorySegment src, long at, float[] out, int o) {
    float d = fp16(src, at), dmin = fp16(src, at + 2);
    long scales = at + 4, qs = at + 16;
    for (int c = 0; c < 4; c++) {
      int[] lo = scaleMinK4(src, scales, 2 * c), hi = scaleMinK4(src, scales, 2 * c + 1);
      float d1 = d * lo[0], m1 = dmin * lo[1], d2 = d * hi[0], m2 = dmin * hi[1];
      for (int l = 0; l < 32; l++) {
        int q = u8(src, qs + 32 * c + l);
        out[o + 64 * c + l] = d1 * (q & 15) - m1;
        out[o + 64 * c + 32 + l] = d2 * (q >>> 4) - m2;
      }
    }
  }

  private static void q6K(MemorySegment src, long at, float[] out, int o) {
    float d = fp16(src, at + 208);
    for (int h = 0; h < 2; h++) {
      long ql = at + 64 * h, qh = at + 128 + 32 * h, sc = at + 192 + 8 * h;
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int high = u8(src, qh + l);
        int q1 = ((u8(src, ql + l) & 15) | ((high & 3) << 4)) - 32;
        int q2 = ((u8(src, ql + l + 32) & 15) | (((high >>> 2) & 3) << 4)) - 32;
        int q3 = ((u8(src, ql + l) >>> 4) | (((high >>> 4) & 3) << 4)) - 32;
        int q4 = ((u8(src, ql + l + 32) >>> 4) | (((high >>> 6) & 3) << 4)) - 32;
        int base = o + 128 * h + l;
        out[base] = d * src.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
        out[base + 32] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
        out[base + 64] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
        out[base + 96] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
      }
    }
  }
}
