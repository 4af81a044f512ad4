package dev.tandem.io.quant;

import dev.tandem.io.gguf.GgufTensorType;

/**
 * Quantizers into llama.cpp's block layouts (see {@link Dequantize} for what the bytes mean), one row
 * of fp32 weights at a time. Q8_0 and Q4_0 follow llama.cpp's reference quantizers (round to nearest
 * with the block's largest magnitude setting the scale). The K-quants use a simpler scale search
 * than llama.cpp's ({@code make_qkx2_quants} tries 20 candidate scales per sub-block and keeps the one
 * with the least weighted squared error; {@code make_qx_quants} likewise): here each Q4_K sub-block of
 * 32 takes scale (max - min) / 15 and min -min(0, min) from its own extremes, each Q6_K sub-block of 16
 * takes the scale that maps its largest magnitude to -32, and the 6- or 8-bit sub-block scales are
 * then rounded against the super-block's fp16 scale; every weight is finally rounded against the
 * stored (rounded) scales, as llama.cpp's second pass does.
 */
public final class Quantize {
  private Quantize() {}

  /** Bytes of {@code rows} rows of {@code cols} weights quantized as {@code type} (F32, F16, BF16 too). */
  public static byte[] matrix(GgufTensorType type, float[] w, int rows, int cols) {
    if ((long) rows * cols != w.length) {
      throw new IllegalArgumentException(w.length + " weights for [" + rows + "][" + cols + "]");
    }
    if (cols % type.blockSize() != 0) {
      throw new IllegalArgumentException(type + " needs rows of a multiple of " + type.blockSize() + " weights, got " + cols);
    }
    int rowBytes = (int) type.byteSize(cols);
    byte[] out = new byte[Math.multiplyExact(rowBytes, rows)];
    for (int r = 0; r < rows; r++) row(type, w, r * cols, cols, out, r * rowBytes);
    return out;
  }

  /** Quantizes {@code cols} weights from {@code w[offset ..]} into {@code out[at ..]}. */
  public static void row(GgufTensorType type, float[] w, int offset, int cols, byte[] out, int at) {
    int blocks = cols / type.blockSize();
    for (int b = 0; b < blocks; b++) {
      int from = offset + b * type.blockSize(), to = at + b * type.blockBytes();
      switch (type) {
        case F32 -> putInt(out, to, Float.floatToRawIntBits(w[from]));
        case F16 -> putShort(out, to, Float.floatToFloat16(w[from]));
        case BF16 -> putShort(out, to, dev.tandem.io.FloatFormats.floatToBf16(w[from]));
        case Q8_0 -> q8_0(w, from, out, to);
        case Q4_0 -> q4_0(w, from, out, to);
        case Q4_K -> q4K(w, from, out, to);
        case Q6_K -> q6K(w, from, out, to);
      }
    }
  }

  private static void putShort(byte[] out, int at, short v) {
    out[at] = (byte) v;
    out[at + 1] = (byte) (v >> 8);
  }

  private static void putInt(byte[] out, int at, int v) {
    for (int i = 0; i < 4; i++) out[at + i] = (byte) (v >> (8 * i));
  }

  private static float fp16Round(float v) {
    return Float.float16ToFloat(Float.floatToFloat16(v));
  }

  private static void q8_0(float[] w, int from, byte[] out, int at) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[from + i]));
    float d = amax / 127;
    float id = d != 0 ? 1 / d : 0;
    putShort(out, at, Float.floatToFloat16(d));
    for (int i = 0; i < 32; i++) out[at + 2 + i] = (byte) Math.round(w[from + i] * id);
  }

  private static void q4_0(float[] w, int from, byte[] out, int at) {
    float amax = 0, max = 0; // max: the value of largest magnitude, with its sign
    for (int i = 0; i < 32; i++) {
      if (Math.abs(w[from + i]) > amax) {
        amax = Math.abs(w[from + i]);
        max = w[from + i];
      }
    }
    float d = max / -8;
    float id = d != 0 ? 1 / d : 0;
    putShort(out, at, Float.floatToFloat16(d));
    for (int i = 0; i < 16; i++) {
      int lo = Math.min(15, (int) (w[from + i] * id + 8.5f));
      int hi = Math.min(15, (int) (w[from + 16 + i] * id + 8.5f));
      out[at + 2 + i] = (byte) (lo | (hi << 4));
    }
  }

  private static void q4K(float[] w, int from, byte[] out, int at) {
    float[] scale = new float[8], min = new float[8]; // per sub-block of 32; min >= 0 is subtracted
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < 8; j++) {
      float lo = 0, hi = -Float.MAX_VALUE;
      for (int l = 0; l < 32; l++) {
        lo = Math.min(lo, w[from + 32 * j + l]);
        hi = Math.max(hi, w[from + 32 * j + l]);
      }
      scale[j] = (hi - lo) / 15;
      min[j] = -lo;
      maxScale = Math.max(maxScale, scale[j]);
      maxMin = Math.max(maxMin, min[j]);
    }
    float d = maxScale / 63, dmin = maxMin / 63;
    int[] sc = new int[8], m = new int[8];
    for (int j = 0; j < 8; j++) {
      sc[j] = d > 0 ? Math.min(63, Math.round(scale[j] / d)) : 0;
      m[j] = dmin > 0 ? Math.min(63, Math.round(min[j] / dmin)) : 0;
    }
    putShort(out, at, Float.floatToFloat16(d));
    putShort(out, at + 2, Float.floatToFloat16(dmin));
    byte[] s = new byte[12];
    for (int j = 0; j < 8; j++) {
      if (j < 4) {
        s[j] |= (byte) sc[j];
        s[j + 4] |= (byte) m[j];
      } else {
        s[j + 4] = (byte) ((sc[j] & 15) | ((m[j] & 15) << 4));
        s[j - 4] |= (byte) ((sc[j] >>> 4) << 6);
        s[j] |= (byte) ((m[j] >>> 4) << 6);
      }
    }
    System.arraycopy(s, 0, out, at + 4, 12);
    float dq = fp16Round(d), dminq = fp16Round(dmin);
    int[] q = new int[256];
    for (int j = 0; j < 8; j++) {
      float dl = dq * sc[j], ml = dminq * m[j];
      for (int l = 0; l < 32; l++) {
        int v = dl != 0 ? Math.round((w[from + 32 * j + l] + ml) / dl) : 0;
        q[32 * j + l] = Math.max(0, Math.min(15, v));
      }
    }
    for (int c = 0; c < 4; c++) {
      for (int l = 0; l < 32; l++) out[at + 16 + 32 * c + l] = (byte) (q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
  }

  private static void q6K(float[] w, int from, byte[] out, int at) {
    float[] scale = new float[16]; // per sub-block of 16, signed: its largest magnitude maps to -32
    float maxScale = 0, amaxScale = 0;
    for (int s = 0; s < 16; s++) {
      float amax = 0, max = 0;
      for (int l = 0; l < 16; l++) {
        float v = w[from + 16 * s + l];
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      scale[s] = max / -32;
      if (Math.abs(scale[s]) > amaxScale) {
        amaxScale = Math.abs(scale[s]);
        maxScale = scale[s];
      }
    }
    float iscale = maxScale != 0 ? -128 / maxScale : 0;
    float d = iscale != 0 ? 1 / iscale : 0;
    putShort(out, at + 208, Float.floatToFloat16(d));
    float dq = fp16Round(d);
    int[] q = new int[256];
    for (int s = 0; s < 16; s++) {
      int sc = Math.max(-128, Math.min(127, Math.round(iscale * scale[s])));
      out[at + 192 + s] = (byte) sc;
      float dl = dq * sc;
      for (int l = 0; l < 16; l++) {
        int v = dl != 0 ? Math.round(w[from + 16 * s + l] / dl) : 0;
        q[16 * s + l] = Math.max(-32, Math.min(31, v)) + 32;
      }
    }
    for (int h = 0; h < 2; h++) {
      int b = 128 * h;
      for (int l = 0; l < 32; l++) {
        out[at + 64 * h + l] = (byte) ((q[b + l] & 15) | ((q[b + 64 + l] & 15) << 4));
        out[at + 64 * h + 32 + l] = (byte) ((q[b + 32 + l] & 15) | ((q[b + 96 + l] & 15) << 4));
        out[at + 128 + 32 * h + l] = (byte) ((q[b + l] >>> 4) | ((q[b + 32 + l] >>> 4) << 2)
            | ((q[b + 64 + l] >>> 4) << 4) | ((q[b + 96 + l] >>> 4) << 6));
      }
    }
  }
}
