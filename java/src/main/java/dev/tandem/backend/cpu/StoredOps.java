package dev.tandem.backend.cpu;

import dev.tandem.backend.StoredMatrix;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Matrix products on weights in their stored formats (Vector API), reading the packed bytes and
 * converting them to fp32 in registers: no dequantized copy of a matrix exists. Reference: {@link
 * #reference} (dequantize a row with {@link dev.tandem.io.quant.Dequantize}, then the plain fp32 dot
 * product).
 *
 * <p>Layout of the work: one weight row (an output feature) against up to four activation rows at a
 * time (the block mode: the row's bytes are converted once and feed four dot products). Lanes run
 * along the input features, 8 fp32 lanes (256-bit vectors, whatever the preferred width: a Q8_0 block
 * of 32 is four of them). Within a block of 32 (16 for Q6_K) the products are summed in a fixed tree,
 * scaled by the block's scale into one accumulator chain per (activation row, weight row); the lanes
 * are summed in lane order at the end.
 *
 * <p><b>Batch invariance.</b> Each (activation row, output) pair has its own chain of operations, the
 * same whatever the number of rows next to it (the four-row tile only shares the loaded weights), so
 * a row's result is bitwise what it is alone, and does not depend on the thread count either.
 */
final class StoredOps {
  private StoredOps() {}

  static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
  static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;
  static final VectorSpecies<Short> S = ShortVector.SPECIES_128;
  static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
  static final int LANES = 8;
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

  /** Rows of x per tile. */
  static final int TILE_ROWS = 4;

  /**
   * out[(r0 + i) * m + o] = dot(x row r0 + i, weight row o) for i < rows (1 to 4). x: [n][k]
   * row-major; out: [n][m] row-major.
   */
  static void rowsTimesWeightRow(StoredMatrix w, int o, float[] x, int r0, int rows, float[] out, int m) {
    MemorySegment seg = w.bytes();
    long at = w.rowOffset(o);
    int k = w.cols(), x0 = r0 * k, out0 = r0 * m + o;
    switch (w.format()) {
      case Q8_0 -> q8_0(seg, at, x, x0, rows, k, out, out0, m);
      case Q4_0 -> q4_0(seg, at, x, x0, rows, k, out, out0, m);
      case Q4_K -> q4K(seg, at, x, x0, rows, k, out, out0, m);
      case Q6_K -> q6K(seg, at, x, x0, rows, k, out, out0, m);
      case BF16, F16 -> half(seg, at, w.format() == dev.tandem.io.gguf.GgufTensorType.BF16, x, x0, rows, k, out, out0, m);
      case F32 -> throw new IllegalArgumentException(w.name() + ": F32 weights go through the panel kernels");
    }
  }

  /** The scalar reference: logical weight row o dequantized into {@code row} ([k]), then the fp32 dot. */
  static float reference(StoredMatrix w, int o, float[] x, int xOffset, float[] row) {
    w.dequantizeRow(o, row, 0);
    float sum = 0f;
    for (int j = 0; j < w.cols(); j++) sum += x[xOffset + j] * row[j];
    return sum;
  }

  // ---------------------------------------------------------------------------------------------
  // Conversions in registers

  /** 8 signed bytes at {@code at} as 8 floats. */
  private static FloatVector bytes(MemorySegment seg, long at) {
    return (FloatVector) ByteVector.fromMemorySegment(B, seg, at, LE).convertShape(VectorOperators.B2F, F, 0);
  }

  private static FloatVector toFloats(ByteVector v) {
    return (FloatVector) v.convertShape(VectorOperators.B2F, F, 0);
  }

  /** 8 bfloat16 at {@code at} as 8 floats (exact: the top half of each float). */
  static FloatVector bf16(MemorySegment seg, long at) {
    IntVector i = (IntVector) ShortVector.fromMemorySegment(S, seg, at, LE).convertShape(VectorOperators.S2I, I, 0);
    return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  /**
   * 8 IEEE binary16 at {@code at} as 8 floats, exactly: exponent and mantissa moved into the fp32
   * fields and rescaled by 2^112 (which also turns binary16 subnormals into the right fp32 normals),
   * infinities and NaNs given the fp32 all-ones exponent, then the sign.
   */
  static FloatVector f16(MemorySegment seg, long at) {
    IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, at, LE).convertShape(VectorOperators.S2I, I, 0);
    IntVector em = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
    FloatVector f = em.reinterpretAsFloats().mul(0x1p112f);
    VectorMask<Integer> special = h.and(0x7C00).eq(0x7C00);
    f = f.blend(em.or(0x7F800000).reinterpretAsFloats(), special.cast(F));
    return f.reinterpretAsInts().or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
  }

  private static FloatVector xv(float[] x, int at) {
    return FloatVector.fromArray(F, x, at);
  }

  /** (x0*q0 + x1*q1) + (x2*q2 + x3*q3) over 32 features from {@code at}: one block's products, in a fixed tree. */
  private static FloatVector block32(float[] x, int at, FloatVector q0, FloatVector q1, FloatVector q2, FloatVector q3) {
    return xv(x, at).mul(q0).add(xv(x, at + 8).mul(q1)).add(xv(x, at + 16).mul(q2).add(xv(x, at + 24).mul(q3)));
  }

  /** (x0 + x1) + (x2 + x3) over 32 features from {@code at}. */
  private static FloatVector sum32(float[] x, int at) {
    return xv(x, at).add(xv(x, at + 8)).add(xv(x, at + 16).add(xv(x, at + 24)));
  }

  static float sumLanes(FloatVector v) {
    return 0f + v.lane(0) + v.lane(1) + v.lane(2) + v.lane(3) + v.lane(4) + v.lane(5) + v.lane(6) + v.lane(7);
  }

  // ---------------------------------------------------------------------------------------------
  // Kernels: one weight row (bytes from `at`) against `rows` rows of x (from x0, stride k)

  private static void q8_0(MemorySegment seg, long at, float[] x, int x0, int rows, int k, float[] out, int out0, int m) {
    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
    int x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
    for (int b = 0, j = 0; j < k; b++, j += 32) {
      long blk = at + 34L * b;
      FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(U16, blk)));
      FloatVector q0 = bytes(seg, blk + 2), q1 = bytes(seg, blk + 10), q2 = bytes(seg, blk + 18), q3 = bytes(seg, blk + 26);
      a0 = block32(x, x0 + j, q0, q1, q2, q3).fma(d, a0);
      if (rows > 1) a1 = block32(x, x1 + j, q0, q1, q2, q3).fma(d, a1);
      if (rows > 2) a2 = block32(x, x2 + j, q0, q1, q2, q3).fma(d, a2);
      if (rows > 3) a3 = block32(x, x3 + j, q0, q1, q2, q3).fma(d, a3);
    }
    out[out0] = sumLanes(a0);
    if (rows > 1) out[out0 + m] = sumLanes(a1);
    if (rows > 2) out[out0 + 2 * m] = sumLanes(a2);
    if (rows > 3) out[out0 + 3 * m] = sumLanes(a3);
  }

  private static void q4_0(MemorySegment seg, long at, float[] x, int x0, int rows, int k, float[] out, int out0, int m) {
    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
    int x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
    for (int b = 0, j = 0; j < k; b++, j += 32) {
      long blk = at + 18L * b;
      FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(U16, blk)));
      ByteVector v0 = ByteVector.fromMemorySegment(B, seg, blk + 2, LE);
      ByteVector v1 = ByteVector.fromMemorySegment(B, seg, blk + 10, LE);
      FloatVector q0 = toFloats(v0.and((byte) 15).sub((byte) 8));  // elements 0..7: low nibbles of bytes 0..7
      FloatVector q1 = toFloats(v1.and((byte) 15).sub((byte) 8));  // 8..15
      FloatVector q2 = toFloats(v0.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8));  // 16..23
      FloatVector q3 = toFloats(v1.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8));  // 24..31
      a0 = block32(x, x0 + j, q0, q1, q2, q3).fma(d, a0);
      if (rows > 1) a1 = block32(x, x1 + j, q0, q1, q2, q3).fma(d, a1);
      if (rows > 2) a2 = block32(x, x2 + j, q0, q1, q2, q3).fma(d, a2);
      if (rows > 3) a3 = block32(x, x3 + j, q0, q1, q2, q3).fma(d, a3);
    }
    out[out0] = sumLanes(a0);
    if (rows > 1) out[out0 + m] = sumLanes(a1);
    if (rows > 2) out[out0 + 2 * m] = sumLanes(a2);
    if (rows > 3) out[out0 + 3 * m] = sumLanes(a3);
  }

  private static int u8(MemorySegment seg, long at) {
    return seg.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
  }

  /**
   * Q4_K: per sub-block of 32, d * scale times the products of x with the nibbles, and dmin * min
   * times the sum of x (w = d sc q - dmin m, so the min term factors out of the sub-block's sum); the
   * two chains are subtracted at the end.
   */
  private static void q4K(MemorySegment seg, long at, float[] x, int x0, int rows, int k, float[] out, int out0, int m) {
    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;  // scale chains
    FloatVector n0 = a0, n1 = a0, n2 = a0, n3 = a0;                   // min chains
    int x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
    for (int b = 0, j = 0; j < k; b++, j += 256) {
      long blk = at + 144L * b;
      float d = Float.float16ToFloat(seg.get(U16, blk)), dmin = Float.float16ToFloat(seg.get(U16, blk + 2));
      long sc = blk + 4;
      for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;  // sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
        if (c < 2) {
          s0 = u8(seg, sc + 2 * c) & 63;
          m0 = u8(seg, sc + 2 * c + 4) & 63;
          s1 = u8(seg, sc + 2 * c + 1) & 63;
          m1 = u8(seg, sc + 2 * c + 5) & 63;
        } else {
          int j0 = 2 * c, j1 = 2 * c + 1;
          s0 = (u8(seg, sc + j0 + 4) & 15) | ((u8(seg, sc + j0 - 4) >>> 6) << 4);
          m0 = (u8(seg, sc + j0 + 4) >>> 4) | ((u8(seg, sc + j0) >>> 6) << 4);
          s1 = (u8(seg, sc + j1 + 4) & 15) | ((u8(seg, sc + j1 - 4) >>> 6) << 4);
          m1 = (u8(seg, sc + j1 + 4) >>> 4) | ((u8(seg, sc + j1) >>> 6) << 4);
        }
        FloatVector dl0 = FloatVector.broadcast(F, d * s0), ml0 = FloatVector.broadcast(F, dmin * m0);
        FloatVector dl1 = FloatVector.broadcast(F, d * s1), ml1 = FloatVector.broadcast(F, dmin * m1);
        long qs = blk + 16 + 32L * c;
        ByteVector v0 = ByteVector.fromMemorySegment(B, seg, qs, LE), v1 = ByteVector.fromMemorySegment(B, seg, qs + 8, LE);
        ByteVector v2 = ByteVector.fromMemorySegment(B, seg, qs + 16, LE), v3 = ByteVector.fromMemorySegment(B, seg, qs + 24, LE);
        FloatVector l0 = toFloats(v0.and((byte) 15)), l1 = toFloats(v1.and((byte) 15));
        FloatVector l2 = toFloats(v2.and((byte) 15)), l3 = toFloats(v3.and((byte) 15));
        FloatVector h0 = toFloats(v0.lanewise(VectorOperators.LSHR, 4).and((byte) 15));
        FloatVector h1 = toFloats(v1.lanewise(VectorOperators.LSHR, 4).and((byte) 15));
        FloatVector h2 = toFloats(v2.lanewise(VectorOperators.LSHR, 4).and((byte) 15));
        FloatVector h3 = toFloats(v3.lanewise(VectorOperators.LSHR, 4).and((byte) 15));
        int lo = j + 64 * c, hi = lo + 32;
        a0 = block32(x, x0 + hi, h0, h1, h2, h3).fma(dl1, block32(x, x0 + lo, l0, l1, l2, l3).fma(dl0, a0));
        n0 = sum32(x, x0 + hi).fma(ml1, sum32(x, x0 + lo).fma(ml0, n0));
        if (rows > 1) {
          a1 = block32(x, x1 + hi, h0, h1, h2, h3).fma(dl1, block32(x, x1 + lo, l0, l1, l2, l3).fma(dl0, a1));
          n1 = sum32(x, x1 + hi).fma(ml1, sum32(x, x1 + lo).fma(ml0, n1));
        }
        if (rows > 2) {
          a2 = block32(x, x2 + hi, h0, h1, h2, h3).fma(dl1, block32(x, x2 + lo, l0, l1, l2, l3).fma(dl0, a2));
          n2 = sum32(x, x2 + hi).fma(ml1, sum32(x, x2 + lo).fma(ml0, n2));
        }
        if (rows > 3) {
          a3 = block32(x, x3 + hi, h0, h1, h2, h3).fma(dl1, block32(x, x3 + lo, l0, l1, l2, l3).fma(dl0, a3));
          n3 = sum32(x, x3 + hi).fma(ml1, sum32(x, x3 + lo).fma(ml0, n3));
        }
      }
    }
    out[out0] = sumLanes(a0) - sumLanes(n0);
    if (rows > 1) out[out0 + m] = sumLanes(a1) - sumLanes(n1);
    if (rows > 2) out[out0 + 2 * m] = sumLanes(a2) - sumLanes(n2);
    if (rows > 3) out[out0 + 3 * m] = sumLanes(a3) - sumLanes(n3);
  }

  /** x0*q0 + x1*q1 over 16 features from {@code at}: one Q6_K sub-block's products. */
  private static FloatVector block16(float[] x, int at, FloatVector q0, FloatVector q1) {
    return xv(x, at).mul(q0).add(xv(x, at + 8).mul(q1));
  }

  /**
   * Q6_K: per half of 128 and per pair of 8-wide chunks (l = lb and lb + 8, lb = 0 or 16), the four
   * quarters' 6-bit values are assembled from the low and high nibbles of ql and the bit pairs of qh;
   * each quarter's two chunks form one sub-block of 16 with one int8 scale.
   */
  private static void q6K(MemorySegment seg, long at, float[] x, int x0, int rows, int k, float[] out, int out0, int m) {
    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
    int x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
    for (int b = 0, j = 0; j < k; b++, j += 256) {
      long blk = at + 210L * b;
      float d = Float.float16ToFloat(seg.get(U16, blk + 208));
      for (int h = 0; h < 2; h++) {
        long ql = blk + 64 * h, qh = blk + 128 + 32 * h, sc = blk + 192 + 8 * h;
        for (int lb = 0; lb < 32; lb += 16) {
          int is = lb / 16;
          FloatVector d1 = FloatVector.broadcast(F, d * seg.get(ValueLayout.JAVA_BYTE, sc + is));
          FloatVector d2 = FloatVector.broadcast(F, d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 2));
          FloatVector d3 = FloatVector.broadcast(F, d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 4));
          FloatVector d4 = FloatVector.broadcast(F, d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 6));
          // chunk A: l = lb..lb+7, chunk B: l = lb+8..lb+15
          ByteVector lA = ByteVector.fromMemorySegment(B, seg, ql + lb, LE);
          ByteVector lB = ByteVector.fromMemorySegment(B, seg, ql + lb + 8, LE);
          ByteVector mA = ByteVector.fromMemorySegment(B, seg, ql + lb + 32, LE);
          ByteVector mB = ByteVector.fromMemorySegment(B, seg, ql + lb + 40, LE);
          ByteVector hA = ByteVector.fromMemorySegment(B, seg, qh + lb, LE);
          ByteVector hB = ByteVector.fromMemorySegment(B, seg, qh + lb + 8, LE);
          FloatVector q1A = six(lA.and((byte) 15), hA, 0), q1B = six(lB.and((byte) 15), hB, 0);
          FloatVector q2A = six(mA.and((byte) 15), hA, 2), q2B = six(mB.and((byte) 15), hB, 2);
          FloatVector q3A = six(high(lA), hA, 4), q3B = six(high(lB), hB, 4);
          FloatVector q4A = six(high(mA), hA, 6), q4B = six(high(mB), hB, 6);
          int e = j + 128 * h + lb;
          a0 = quarters(x, x0 + e, q1A, q1B, q2A, q2B, q3A, q3B, q4A, q4B, d1, d2, d3, d4, a0);
          if (rows > 1) a1 = quarters(x, x1 + e, q1A, q1B, q2A, q2B, q3A, q3B, q4A, q4B, d1, d2, d3, d4, a1);
          if (rows > 2) a2 = quarters(x, x2 + e, q1A, q1B, q2A, q2B, q3A, q3B, q4A, q4B, d1, d2, d3, d4, a2);
          if (rows > 3) a3 = quarters(x, x3 + e, q1A, q1B, q2A, q2B, q3A, q3B, q4A, q4B, d1, d2, d3, d4, a3);
        }
      }
    }
    out[out0] = sumLanes(a0);
    if (rows > 1) out[out0 + m] = sumLanes(a1);
    if (rows > 2) out[out0 + 2 * m] = sumLanes(a2);
    if (rows > 3) out[out0 + 3 * m] = sumLanes(a3);
  }

  private static ByteVector high(ByteVector v) {
    return v.lanewise(VectorOperators.LSHR, 4).and((byte) 15);
  }

  /** (nibble | ((qh >>> shift) &amp; 3) &lt;&lt; 4) - 32 as floats. */
  private static FloatVector six(ByteVector nibble, ByteVector qh, int shift) {
    ByteVector top = qh.lanewise(VectorOperators.LSHR, shift).and((byte) 3).lanewise(VectorOperators.LSHL, 4);
    return toFloats(nibble.or(top).sub((byte) 32));
  }

  private static FloatVector quarters(float[] x, int e, FloatVector q1A, FloatVector q1B, FloatVector q2A,
      FloatVector q2B, FloatVector q3A, FloatVector q3B, FloatVector q4A, FloatVector q4B, FloatVector d1,
      FloatVector d2, FloatVector d3, FloatVector d4, FloatVector acc) {
    acc = block16(x, e, q1A, q1B).fma(d1, acc);
    acc = block16(x, e + 32, q2A, q2B).fma(d2, acc);
    acc = block16(x, e + 64, q3A, q3B).fma(d3, acc);
    return block16(x, e + 96, q4A, q4B).fma(d4, acc);
  }

  /**
   * BF16 and F16: groups of 32 features summed in the fixed tree of {@link #block32} and added to one
   * chain; the features past the last group of 32 one at a time.
   */
  private static void half(MemorySegment seg, long at, boolean bf16, float[] x, int x0, int rows, int k, float[] out,
      int out0, int m) {
    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
    int x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
    int kBlocks = k / 32 * 32;
    for (int j = 0; j < kBlocks; j += 32) {
      long p = at + 2L * j;
      FloatVector q0, q1, q2, q3;
      if (bf16) {
        q0 = bf16(seg, p);
        q1 = bf16(seg, p + 16);
        q2 = bf16(seg, p + 32);
        q3 = bf16(seg, p + 48);
      } else {
        q0 = f16(seg, p);
        q1 = f16(seg, p + 16);
        q2 = f16(seg, p + 32);
        q3 = f16(seg, p + 48);
      }
      a0 = a0.add(block32(x, x0 + j, q0, q1, q2, q3));
      if (rows > 1) a1 = a1.add(block32(x, x1 + j, q0, q1, q2, q3));
      if (rows > 2) a2 = a2.add(block32(x, x2 + j, q0, q1, q2, q3));
      if (rows > 3) a3 = a3.add(block32(x, x3 + j, q0, q1, q2, q3));
    }
    for (int r = 0; r < rows; r++) {
      float sum = sumLanes(r == 0 ? a0 : r == 1 ? a1 : r == 2 ? a2 : a3);
      int xr = x0 + r * k;
      for (int j = kBlocks; j < k; j++) {
        short bits = seg.get(U16, at + 2L * j);
        float wj = bf16 ? Float.intBitsToFloat((bits & 0xFFFF) << 16) : Float.float16ToFloat(bits);
        sum = Math.fma(x[xr + j], wj, sum);
      }
      out[out0 + r * m] = sum;
    }
  }
}
