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
 * Matrix products on weights in their stored formats (Vector API). A weight row is converted from
 * its packed bytes to fp32 with vector instructions into a per-thread scratch row ({@code [k]} floats,
 * in L1; never a dequantized copy of a matrix), then dotted with each activation row. The conversion
 * rounds exactly as {@link dev.tandem.io.quant.Dequantize} (the same products and differences, one
 * rounding each, no fused operations), so the scratch row is bitwise the reference's dequantized
 * row; the fast and reference products differ only in the order of the dot product's sum. Reference:
 * {@link #reference}.
 *
 * <p>Why not multiply straight from the converted registers: the fused kernels (one method per
 * format doing conversion and up to four rows' products) grew past what C2 inlines (seen: {@code
 * block32} "callee is too large", the Vector API's conversion falling back to its Java code, 100 ms
 * per token instead of 20). Small conversion loops and one shared dot product stay compiled.
 *
 * <p><b>Batch invariance.</b> Each dot product runs over the scratch row the same way (two
 * accumulator chains over 16-wide steps, lanes summed in lane order, then the scalar tail), whether
 * its activation row is alone ({@link #dot}) or one of two ({@link #dot2}), so a row's result is
 * bitwise what it is alone, whatever the block size or thread count.
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
  static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);

  // Nibbles and bit pairs are taken apart with byte AND / XOR only, then widened to floats, where the
  // shifts become exact multiplications: a byte shift is not compiled to vector code here (x86 has no
  // byte shift; seen as the Vector API's Java fallback in JFR). High nibble n of byte v: (v & 0xF0) ^ 0x80,
  // read as a signed byte, is 16 n - 128, so n = that / 16 + 8. All these values are small integers or
  // sixteenths, exact in fp32, so the converted weights are bitwise the reference's.
  private static final ByteVector B_0F = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0x0F);
  private static final ByteVector B_F0 = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0xF0);
  private static final ByteVector B_80 = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0x80);
  private static final ByteVector B_03 = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0x03);
  private static final ByteVector B_0C = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0x0C);
  private static final ByteVector B_30 = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0x30);
  private static final ByteVector B_C0 = ByteVector.broadcast(ByteVector.SPECIES_64, (byte) 0xC0);
  private static final FloatVector F_16TH = FloatVector.broadcast(FloatVector.SPECIES_256, 0.0625f);
  private static final FloatVector F_QUARTER = FloatVector.broadcast(FloatVector.SPECIES_256, 0.25f);

  /** The low nibbles of 8 bytes as floats 0..15. */
  private static FloatVector lowNibbles(ByteVector v) {
    return b2f(v.and(B_0F));
  }

  /** The high nibbles of 8 bytes, minus 8, as floats -8..7 (exact). */
  private static FloatVector highNibblesMinus8(ByteVector v) {
    return b2f(v.and(B_F0).lanewise(VectorOperators.XOR, B_80)).mul(F_16TH);
  }

  /**
   * out[i * m + o] = dot(x row i, weight row o) for i in [0, n). x: [n][k] row-major; out: [n][m]
   * row-major; row: scratch of at least k floats (the weight row as fp32). One row (decode) takes the
   * fused kernels ({@link #fusedDot}); a block converts the weight row once into {@code row} and
   * dots it with each row, the same arithmetic in the same order.
   */
  static void weightRowTimesRows(StoredMatrix w, int o, float[] x, int n, float[] out, int m, float[] row) {
    int k = w.cols();
    if (n == 1 && w.format() != dev.tandem.io.gguf.GgufTensorType.F16) {  // F16's conversion is too long to fuse
      out[o] = fusedDot(w, o, x, row);
      return;
    }
    dequantizeRow(w, o, row);
    int i = 0;
    for (; i + 2 <= n; i += 2) dot2(x, i * k, row, k, out, i * m + o, m);
    if (i < n) out[i * m + o] = dot(x, i * k, row, k);
  }

  /**
   * dot(x[0, k), weight row o) converting in registers: each 8 weights are converted and scaled
   * exactly as {@link #dequantizeRow} does, then multiply-added into the chain {@link #dot} would
   * give them (chain (j / 8) mod 4, in increasing j), so the result is bitwise {@link #dot} of the
   * converted row.
   */
  static float fusedDot(StoredMatrix w, int o, float[] x, float[] scratch) {
    MemorySegment seg = w.bytes();
    long at = w.rowOffset(o);
    int k = w.cols();
    return switch (w.format()) {
      case Q8_0 -> fusedQ8_0(seg, at, k, x);
      case Q4_0 -> fusedQ4_0(seg, at, k, x);
      case Q4_K -> {
        fusedQ4KPair(seg, at, k, x, 0, scratch);
        fusedQ4KPair(seg, at, k, x, 16, scratch);
        yield sumChains(scratch);
      }
      case Q6_K -> {
        for (int off = 0; off < 32; off += 8) fusedQ6KChain(seg, at, k, x, off, scratch);
        FloatVector t = FloatVector.fromArray(F, scratch, 0).add(FloatVector.fromArray(F, scratch, 8))
            .add(FloatVector.fromArray(F, scratch, 16).add(FloatVector.fromArray(F, scratch, 24)));
        yield 0f + t.lane(0) + t.lane(1) + t.lane(2) + t.lane(3) + t.lane(4) + t.lane(5) + t.lane(6) + t.lane(7);
      }
      case BF16 -> fusedBf16(seg, at, k, x);
      case F16, F32 -> throw new IllegalArgumentException(w.name() + ": F32 weights go through the panel kernels");
    };
  }

  /** The scalar reference: logical weight row o dequantized into {@code row} ([k]), then the fp32 dot. */
  static float reference(StoredMatrix w, int o, float[] x, int xOffset, float[] row) {
    w.dequantizeRow(o, row, 0);
    float sum = 0f;
    for (int j = 0; j < w.cols(); j++) sum += x[xOffset + j] * row[j];
    return sum;
  }

  /** Logical row o of w as fp32 into {@code row[0, k)}, with vector conversions; bitwise {@link StoredMatrix#dequantizeRow}. */
  static void dequantizeRow(StoredMatrix w, int o, float[] row) {
    MemorySegment seg = w.bytes();
    long at = w.rowOffset(o);
    int k = w.cols();
    switch (w.format()) {
      case Q8_0 -> q8_0(seg, at, k, row);
      case Q4_0 -> q4_0(seg, at, k, row);
      case Q4_K -> q4K(seg, at, k, row);
      case Q6_K -> q6K(seg, at, k, row);
      case BF16 -> bf16Row(seg, at, k, row);
      case F16 -> f16Row(seg, at, k, row);
      case F32 -> throw new IllegalArgumentException(w.name() + ": F32 weights go through the panel kernels");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Dot products over a converted row

  /**
   * dot(x[xb, xb + k), row[0, k)): four chains over 32-wide steps (features j..j+7 to the first,
   * j+8.. to the second, ...), the 8-wide steps after the last full 32 to the first chain, the chains
   * added as (a + b) + (c + d), lanes summed in order, then the scalar tail.
   */
  static float dot(float[] x, int xb, float[] row, int k) {
    FloatVector a = FloatVector.zero(F), b = a, c = a, d = a;
    int j = 0;
    for (; j + 32 <= k; j += 32) {
      a = FloatVector.fromArray(F, x, xb + j).fma(FloatVector.fromArray(F, row, j), a);
      b = FloatVector.fromArray(F, x, xb + j + 8).fma(FloatVector.fromArray(F, row, j + 8), b);
      c = FloatVector.fromArray(F, x, xb + j + 16).fma(FloatVector.fromArray(F, row, j + 16), c);
      d = FloatVector.fromArray(F, x, xb + j + 24).fma(FloatVector.fromArray(F, row, j + 24), d);
    }
    for (; j + 8 <= k; j += 8) a = FloatVector.fromArray(F, x, xb + j).fma(FloatVector.fromArray(F, row, j), a);
    FloatVector t = a.add(b).add(c.add(d));
    float sum = 0f + t.lane(0) + t.lane(1) + t.lane(2) + t.lane(3) + t.lane(4) + t.lane(5) + t.lane(6) + t.lane(7);
    for (; j < k; j++) sum = Math.fma(x[xb + j], row[j], sum);
    return sum;
  }

  /**
   * {@link #dot} for two consecutive rows of x (from xb, stride k) into out[ob] and out[ob + m], each
   * row's chains exactly as alone: the converted weight row is loaded once for both. (Four rows, 16
   * accumulators, went past what C2 compiled well: its fused multiply-adds fell back to calls.)
   */
  static void dot2(float[] x, int xb, float[] row, int k, float[] out, int ob, int m) {
    FloatVector a0 = FloatVector.zero(F), b0 = a0, c0 = a0, d0 = a0, a1 = a0, b1 = a0, c1 = a0, d1 = a0;
    int x1 = xb + k;
    int j = 0;
    for (; j + 32 <= k; j += 32) {
      FloatVector w0 = FloatVector.fromArray(F, row, j), w1 = FloatVector.fromArray(F, row, j + 8);
      FloatVector w2 = FloatVector.fromArray(F, row, j + 16), w3 = FloatVector.fromArray(F, row, j + 24);
      a0 = FloatVector.fromArray(F, x, xb + j).fma(w0, a0);
      b0 = FloatVector.fromArray(F, x, xb + j + 8).fma(w1, b0);
      c0 = FloatVector.fromArray(F, x, xb + j + 16).fma(w2, c0);
      d0 = FloatVector.fromArray(F, x, xb + j + 24).fma(w3, d0);
      a1 = FloatVector.fromArray(F, x, x1 + j).fma(w0, a1);
      b1 = FloatVector.fromArray(F, x, x1 + j + 8).fma(w1, b1);
      c1 = FloatVector.fromArray(F, x, x1 + j + 16).fma(w2, c1);
      d1 = FloatVector.fromArray(F, x, x1 + j + 24).fma(w3, d1);
    }
    for (; j + 8 <= k; j += 8) {
      FloatVector w0 = FloatVector.fromArray(F, row, j);
      a0 = FloatVector.fromArray(F, x, xb + j).fma(w0, a0);
      a1 = FloatVector.fromArray(F, x, x1 + j).fma(w0, a1);
    }
    FloatVector t0 = a0.add(b0).add(c0.add(d0)), t1 = a1.add(b1).add(c1.add(d1));
    float s0 = 0f + t0.lane(0) + t0.lane(1) + t0.lane(2) + t0.lane(3) + t0.lane(4) + t0.lane(5) + t0.lane(6) + t0.lane(7);
    float s1 = 0f + t1.lane(0) + t1.lane(1) + t1.lane(2) + t1.lane(3) + t1.lane(4) + t1.lane(5) + t1.lane(6) + t1.lane(7);
    for (; j < k; j++) {
      s0 = Math.fma(x[xb + j], row[j], s0);
      s1 = Math.fma(x[x1 + j], row[j], s1);
    }
    out[ob] = s0;
    out[ob + m] = s1;
  }

  // ---------------------------------------------------------------------------------------------
  // Conversions: one stored row (bytes from `at`) to k floats

  /** Q8_0: per block, 4 x 8 signed bytes widened to floats, times d. */
  private static void q8_0(MemorySegment seg, long at, int k, float[] row) {
    for (int j = 0; j < k; j += 32, at += 34) {
      FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(U16, at)));
      for (int c = 0; c < 32; c += 8) {
        ByteVector q = ByteVector.fromMemorySegment(B, seg, at + 2 + c, LE);
        ((FloatVector) q.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(row, j + c);
      }
    }
  }

  /** Q4_0: low nibbles of bytes 0-15 are elements 0-15, high nibbles 16-31; (q - 8) times d. */
  private static void q4_0(MemorySegment seg, long at, int k, float[] row) {
    for (int j = 0; j < k; j += 32, at += 18) {
      FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(U16, at)));
      for (int c = 0; c < 16; c += 8) {
        ByteVector v = ByteVector.fromMemorySegment(B, seg, at + 2 + c, LE);
        lowNibbles(v).sub(8f).mul(d).intoArray(row, j + c);
        highNibblesMinus8(v).mul(d).intoArray(row, j + 16 + c);
      }
    }
  }

  private static int u8(MemorySegment seg, long at) {
    return seg.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
  }

  /** Q4_K: chunk c of 32 bytes holds sub-block 2c in its low nibbles, 2c + 1 in its high; d sc q - dmin m. */
  private static void q4K(MemorySegment seg, long at, int k, float[] row) {
    for (int j = 0; j < k; j += 256, at += 144) {
      float d = Float.float16ToFloat(seg.get(U16, at)), dmin = Float.float16ToFloat(seg.get(U16, at + 2));
      for (int c = 0; c < 4; c++) {
        FloatVector d0 = FloatVector.broadcast(F, d * scaleK4(seg, at + 4, 2 * c));
        FloatVector n0 = FloatVector.broadcast(F, dmin * minK4(seg, at + 4, 2 * c));
        FloatVector d1 = FloatVector.broadcast(F, d * scaleK4(seg, at + 4, 2 * c + 1));
        FloatVector n1 = FloatVector.broadcast(F, dmin * minK4(seg, at + 4, 2 * c + 1));
        long qs = at + 16 + 32L * c;
        int e0 = j + 64 * c;
        for (int l = 0; l < 32; l += 8) {
          ByteVector v = ByteVector.fromMemorySegment(B, seg, qs + l, LE);
          lowNibbles(v).mul(d0).sub(n0).intoArray(row, e0 + l);
          highNibblesMinus8(v).add(8f).mul(d1).sub(n1).intoArray(row, e0 + 32 + l);
        }
      }
    }
  }

  /** Q6_K: as {@link #fusedQ6KChain}, the values stored. */
  private static void q6K(MemorySegment seg, long at, int k, float[] row) {
    for (int j = 0; j < k; j += 256, at += 210) {
      float d = Float.float16ToFloat(seg.get(U16, at + 208));
      for (int h = 0; h < 2; h++) {
        long ql = at + 64 * h, qh = at + 128 + 32 * h, sc = at + 192 + 8 * h;
        int e0 = j + 128 * h;
        for (int l = 0; l < 32; l += 8) {
          int is = l / 16;
          ByteVector lo = ByteVector.fromMemorySegment(B, seg, ql + l, LE), mid = ByteVector.fromMemorySegment(B, seg, ql + l + 32, LE);
          ByteVector high = ByteVector.fromMemorySegment(B, seg, qh + l, LE);
          q6Quarter0(lo, high).mul(d * seg.get(ValueLayout.JAVA_BYTE, sc + is)).intoArray(row, e0 + l);
          q6Quarter1(mid, high).mul(d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 2)).intoArray(row, e0 + 32 + l);
          q6Quarter2(lo, high).mul(d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 4)).intoArray(row, e0 + 64 + l);
          q6Quarter3(mid, high).mul(d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 6)).intoArray(row, e0 + 96 + l);
        }
      }
    }
  }

  /** Q6_K q - 32 of the first quarter: low nibble of ql[l] + 16 * bits 0-1 of qh[l], minus 32 (exact). */
  private static FloatVector q6Quarter0(ByteVector lo, ByteVector high) {
    return b2f(high.and(B_03)).mul(16f).add(lowNibbles(lo)).sub(32f);
  }

  /** Second quarter: low nibble of ql[l + 32] + 16 * bits 2-3 of qh[l] ((qh &amp; 0x0C) * 4), minus 32. */
  private static FloatVector q6Quarter1(ByteVector mid, ByteVector high) {
    return b2f(high.and(B_0C)).mul(4f).add(lowNibbles(mid)).sub(32f);
  }

  /** Third quarter: high nibble of ql[l] + 16 * bits 4-5 of qh[l] (qh &amp; 0x30 as it is), minus 32. */
  private static FloatVector q6Quarter2(ByteVector lo, ByteVector high) {
    return highNibblesMinus8(lo).add(b2f(high.and(B_30))).sub(24f);
  }

  /**
   * Fourth quarter: high nibble of ql[l + 32] + 16 * bits 6-7 of qh[l], minus 32; (qh &amp; 0xC0) ^ 0x80
   * as a signed byte is 64 bits - 128, so 16 bits - 32 is a quarter of it.
   */
  private static FloatVector q6Quarter3(ByteVector mid, ByteVector high) {
    return highNibblesMinus8(mid).add(8f).add(b2f(high.and(B_C0).lanewise(VectorOperators.XOR, B_80)).mul(F_QUARTER));
  }

  /** BF16: each value is the top half of a float (exact). */
  private static void bf16Row(MemorySegment seg, long at, int k, float[] row) {
    int j = 0;
    for (; j + 8 <= k; j += 8) bf16(seg, at + 2L * j).intoArray(row, j);
    for (; j < k; j++) row[j] = Float.intBitsToFloat((seg.get(U16, at + 2L * j) & 0xFFFF) << 16);
  }

  private static void f16Row(MemorySegment seg, long at, int k, float[] row) {
    int j = 0;
    for (; j + 8 <= k; j += 8) f16(seg, at + 2L * j).intoArray(row, j);
    for (; j < k; j++) row[j] = Float.float16ToFloat(seg.get(U16, at + 2L * j));
  }

  // ---------------------------------------------------------------------------------------------
  // Fused single-row kernels: the conversions above, multiply-added straight into dot's chains

  private static FloatVector b2f(ByteVector v) {
    return (FloatVector) v.convertShape(VectorOperators.B2F, F, 0);
  }

  private static FloatVector xv(float[] x, int j) {
    return FloatVector.fromArray(F, x, j);
  }

  private static float fusedQ8_0(MemorySegment seg, long at, int k, float[] x) {
    FloatVector a = FloatVector.zero(F), b = a, c = a, e = a;
    for (int j = 0; j < k; j += 32, at += 34) {
      FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(U16, at)));
      a = xv(x, j).fma(b2f(ByteVector.fromMemorySegment(B, seg, at + 2, LE)).mul(d), a);
      b = xv(x, j + 8).fma(b2f(ByteVector.fromMemorySegment(B, seg, at + 10, LE)).mul(d), b);
      c = xv(x, j + 16).fma(b2f(ByteVector.fromMemorySegment(B, seg, at + 18, LE)).mul(d), c);
      e = xv(x, j + 24).fma(b2f(ByteVector.fromMemorySegment(B, seg, at + 26, LE)).mul(d), e);
    }
    FloatVector t = a.add(b).add(c.add(e));
    return 0f + t.lane(0) + t.lane(1) + t.lane(2) + t.lane(3) + t.lane(4) + t.lane(5) + t.lane(6) + t.lane(7);
  }

  private static float fusedQ4_0(MemorySegment seg, long at, int k, float[] x) {
    FloatVector a = FloatVector.zero(F), b = a, c = a, e = a;
    for (int j = 0; j < k; j += 32, at += 18) {
      FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(U16, at)));
      ByteVector v0 = ByteVector.fromMemorySegment(B, seg, at + 2, LE), v1 = ByteVector.fromMemorySegment(B, seg, at + 10, LE);
      a = xv(x, j).fma(lowNibbles(v0).sub(8f).mul(d), a);
      b = xv(x, j + 8).fma(lowNibbles(v1).sub(8f).mul(d), b);
      c = xv(x, j + 16).fma(highNibblesMinus8(v0).mul(d), c);
      e = xv(x, j + 24).fma(highNibblesMinus8(v1).mul(d), e);
    }
    FloatVector t = a.add(b).add(c.add(e));
    return 0f + t.lane(0) + t.lane(1) + t.lane(2) + t.lane(3) + t.lane(4) + t.lane(5) + t.lane(6) + t.lane(7);
  }

  /**
   * Q4_K, two of the four chains: features {@code off .. off + 15} of every 32 (off 0: chains a and b,
   * off 16: c and d), summed a + b into {@code sums[off / 2 .. + 8)}. Chunk c of 32 bytes holds
   * sub-block 2c in its low nibbles and 2c + 1 in its high nibbles. Half the chains per method and
   * only constant byte shifts (then the same widening as Q8_0): the whole row in one method, and the
   * variable shifts or int-lane bit work, left Vector API calls uncompiled (Q4_K at a fifth of Q8_0's
   * speed).
   */
  private static void fusedQ4KPair(MemorySegment seg, long at, int k, float[] x, int off, float[] sums) {
    FloatVector a = FloatVector.zero(F), b = a;
    for (int j = 0; j < k; j += 256, at += 144) {
      q4KScales(seg, at, sums, 16);  // d * scale at [16, 24), dmin * min at [24, 32)
      for (int c = 0; c < 4; c++) {
        FloatVector d0 = FloatVector.broadcast(F, sums[16 + 2 * c]), n0 = FloatVector.broadcast(F, sums[24 + 2 * c]);
        FloatVector d1 = FloatVector.broadcast(F, sums[17 + 2 * c]), n1 = FloatVector.broadcast(F, sums[25 + 2 * c]);
        long qs = at + 16 + 32L * c + off;
        int e0 = j + 64 * c + off;
        ByteVector v0 = ByteVector.fromMemorySegment(B, seg, qs, LE), v1 = ByteVector.fromMemorySegment(B, seg, qs + 8, LE);
        a = xv(x, e0).fma(lowNibbles(v0).mul(d0).sub(n0), a);
        b = xv(x, e0 + 8).fma(lowNibbles(v1).mul(d0).sub(n0), b);
        a = xv(x, e0 + 32).fma(highNibblesMinus8(v0).add(8f).mul(d1).sub(n1), a);
        b = xv(x, e0 + 40).fma(highNibblesMinus8(v1).add(8f).mul(d1).sub(n1), b);
      }
    }
    a.add(b).intoArray(sums, off / 2);
  }

  /** ((a + b) + (c + d)) from the two pair sums in {@code sums[0 .. 16)}, lanes added in order. */
  private static float sumChains(float[] sums) {
    FloatVector t = FloatVector.fromArray(F, sums, 0).add(FloatVector.fromArray(F, sums, 8));
    return 0f + t.lane(0) + t.lane(1) + t.lane(2) + t.lane(3) + t.lane(4) + t.lane(5) + t.lane(6) + t.lane(7);
  }

  /**
   * A Q4_K super-block's eight d * scale into {@code into[base ..]} and eight dmin * min into
   * {@code into[base + 8 ..]}, rounded as {@link dev.tandem.io.quant.Dequantize} rounds them. Its own
   * method: the segment reads, inlined into a kernel, took C2's node budget (the kernel's Vector API
   * calls were then left uncompiled).
   */
  static void q4KScales(MemorySegment seg, long at, float[] into, int base) {
    long head = seg.get(U64, at);       // d, dmin, scale bytes 0-3
    long tail = seg.get(U64, at + 8);   // scale bytes 4-11
    float d = Float.float16ToFloat((short) head), dmin = Float.float16ToFloat((short) (head >>> 16));
    for (int j = 0; j < 8; j++) {
      int sc, m;
      if (j < 4) {
        sc = scaleByte(head, tail, j) & 63;
        m = scaleByte(head, tail, j + 4) & 63;
      } else {
        sc = (scaleByte(head, tail, j + 4) & 15) | ((scaleByte(head, tail, j - 4) >>> 6) << 4);
        m = (scaleByte(head, tail, j + 4) >>> 4) | ((scaleByte(head, tail, j) >>> 6) << 4);
      }
      into[base + j] = d * sc;
      into[base + 8 + j] = dmin * m;
    }
  }

  /** Byte i (0..11) of a Q4_K block's scales, from its first 16 bytes read as two little-endian longs. */
  private static int scaleByte(long head, long tail, int i) {
    return (int) ((i < 4 ? head >>> (32 + 8 * i) : tail >>> (8 * (i - 4))) & 0xFF);
  }

  /** A Q6_K super-block's sixteen d * scale into {@code into[base ..]}. */
  static void q6KScales(MemorySegment seg, long at, float[] into, int base) {
    float d = Float.float16ToFloat(seg.get(U16, at + 208));
    long lo = seg.get(U64, at + 192), hi = seg.get(U64, at + 200);
    for (int j = 0; j < 8; j++) {
      into[base + j] = d * (byte) (lo >>> (8 * j));
      into[base + 8 + j] = d * (byte) (hi >>> (8 * j));
    }
  }

  /** The 6-bit scale of Q4_K sub-block j (get_scale_min_k4's first output). */
  static int scaleK4(MemorySegment seg, long scales, int j) {
    return j < 4 ? u8(seg, scales + j) & 63 : (u8(seg, scales + j + 4) & 15) | ((u8(seg, scales + j - 4) >>> 6) << 4);
  }

  /** The 6-bit min of Q4_K sub-block j. */
  static int minK4(MemorySegment seg, long scales, int j) {
    return j < 4 ? u8(seg, scales + j + 4) & 63 : (u8(seg, scales + j + 4) >>> 4) | ((u8(seg, scales + j) >>> 6) << 4);
  }

  /**
   * Q6_K, one of the four chains: the 8-wide group l = off (0, 8, 16 or 24) of the four quarters of
   * each half (elements 32 * quarter + l), in quarter order, so the chain sees its elements in
   * increasing order, as {@link #dot} does; the chain's sum goes to {@code sums[off .. off + 8)}.
   * Their scale is scales[2 * quarter + off / 16] of the half. One chain per method and constant
   * byte shifts only: with two chains the method was still past C2's budget (the B2F conversion
   * left as a call).
   */
  private static void fusedQ6KChain(MemorySegment seg, long at, int k, float[] x, int off, float[] sums) {
    FloatVector a = FloatVector.zero(F);
    for (int j = 0; j < k; j += 256, at += 210) {
      q6KScales(seg, at, sums, 32);  // d * scale at [32, 48)
      for (int h = 0; h < 2; h++) {
        long ql = at + 64 * h + off, qh = at + 128 + 32 * h + off;
        int sc = 32 + 8 * h + off / 16, e0 = j + 128 * h + off;
        ByteVector l0 = ByteVector.fromMemorySegment(B, seg, ql, LE), m0 = ByteVector.fromMemorySegment(B, seg, ql + 32, LE);
        ByteVector h0 = ByteVector.fromMemorySegment(B, seg, qh, LE);
        a = xv(x, e0).fma(q6Quarter0(l0, h0).mul(sums[sc]), a);
        a = xv(x, e0 + 32).fma(q6Quarter1(m0, h0).mul(sums[sc + 2]), a);
        a = xv(x, e0 + 64).fma(q6Quarter2(l0, h0).mul(sums[sc + 4]), a);
        a = xv(x, e0 + 96).fma(q6Quarter3(m0, h0).mul(sums[sc + 6]), a);
      }
    }
    a.intoArray(sums, off);
  }

  private static float fusedBf16(MemorySegment seg, long at, int k, float[] x) {
    FloatVector a = FloatVector.zero(F), b = a, c = a, e = a;
    int j = 0;
    for (; j + 32 <= k; j += 32) {
      long p = at + 2L * j;
      a = xv(x, j).fma(bf16(seg, p), a);
      b = xv(x, j + 8).fma(bf16(seg, p + 16), b);
      c = xv(x, j + 16).fma(bf16(seg, p + 32), c);
      e = xv(x, j + 24).fma(bf16(seg, p + 48), e);
    }
    for (; j + 8 <= k; j += 8) a = xv(x, j).fma(bf16(seg, at + 2L * j), a);
    FloatVector t = a.add(b).add(c.add(e));
    float sum = 0f + t.lane(0) + t.lane(1) + t.lane(2) + t.lane(3) + t.lane(4) + t.lane(5) + t.lane(6) + t.lane(7);
    for (; j < k; j++) sum = Math.fma(x[j], Float.intBitsToFloat((seg.get(U16, at + 2L * j) & 0xFFFF) << 16), sum);
    return sum;
  }

  /** 8 bfloat16 at {@code at} as 8 floats (exact: the top half of each float). */
  static FloatVector bf16(MemorySegment seg, long at) {
    IntVector i = (IntVector) ShortVector.fromMemorySegment(S, seg, at, LE).convertShape(VectorOperators.S2I, I, 0);
    return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  /**
   * 8 IEEE binary16 at {@code at} as 8 floats, exactly: exponent and mantissa moved into the fp32
   * fields and rescaled by 2^112 (which also turns binary16 subnormals into the right fp32 normals),
   * infinities and NaNs given the fp32 all-ones exponent (selected with int masks, not a vector mask
   * blend, which was not compiled to vector code), then the sign.
   */
  static FloatVector f16(MemorySegment seg, long at) {
    IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, at, LE).convertShape(VectorOperators.S2I, I, 0);
    IntVector em = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
    IntVector scaled = em.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
    // all ones where the exponent is all ones (infinity, NaN): (0x7C00 + 0x400) >> 15 is 1 only there
    IntVector special = h.and(0x7C00).add(0x400).lanewise(VectorOperators.LSHR, 15).neg();
    IntVector bits = scaled.and(special.not()).or(em.or(0x7F800000).and(special));
    return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
  }
}
