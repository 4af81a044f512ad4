package dev.tandem.io.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.testing.Close;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Each block layout against llama.cpp's definition (ggml-common.h, dequantize_row_* in ggml-quants.c):
 * blocks assembled byte by byte here from known quantized values, so the expected weights follow
 * from the definition and not from our dequantizer; then the quantizers' round trip.
 */
class QuantFormatsTest {
  private static void putF16(byte[] b, int at, float v) {
    short h = Float.floatToFloat16(v);
    b[at] = (byte) h;
    b[at + 1] = (byte) (h >> 8);
  }

  private static float[] dequantize(GgufTensorType type, byte[] bytes, int n) {
    float[] out = new float[n];
    Dequantize.row(type, MemorySegment.ofArray(bytes), 0, n, out, 0);
    return out;
  }

  @Test
  void q8_0IsScaleTimesSignedBytes() {
    byte[] b = new byte[34];
    putF16(b, 0, 0.5f);
    float[] expected = new float[32];
    for (int i = 0; i < 32; i++) {
      b[2 + i] = (byte) (i * 8 - 128);  // -128 .. 120
      expected[i] = 0.5f * (i * 8 - 128);
    }
    Close.assertBitwise("Q8_0", expected, dequantize(GgufTensorType.Q8_0, b, 32), 32);
  }

  @Test
  void q4_0LowNibblesAreTheFirstHalf() {
    byte[] b = new byte[18];
    putF16(b, 0, 0.25f);
    float[] expected = new float[32];
    for (int i = 0; i < 16; i++) {
      int lo = i, hi = 15 - (i * 3) % 16;
      b[2 + i] = (byte) (lo | (hi << 4));
      expected[i] = 0.25f * (lo - 8);
      expected[16 + i] = 0.25f * (hi - 8);
    }
    Close.assertBitwise("Q4_0", expected, dequantize(GgufTensorType.Q4_0, b, 32), 32);
  }

  @Test
  void q4KSixBitScalesAndMinsAsGgmlPacksThem() {
    byte[] b = new byte[144];
    float d = 0.125f, dmin = 0.0625f;
    putF16(b, 0, d);
    putF16(b, 2, dmin);
    int[] sc = {1, 7, 33, 63, 17, 40, 5, 62}; // sub-blocks 4-7 use their 2 high bits
    int[] m = {0, 63, 12, 31, 48, 3, 60, 21};
    for (int j = 0; j < 8; j++) { // get_scale_min_k4's layout, byte by byte
      if (j < 4) {
        b[4 + j] |= (byte) sc[j];
        b[4 + j + 4] |= (byte) m[j];
      } else {
        b[4 + j + 4] = (byte) ((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
        b[4 + j - 4] |= (byte) ((sc[j] >> 4) << 6);
        b[4 + j] |= (byte) ((m[j] >> 4) << 6);
      }
    }
    int[] q = new int[256];
    for (int e = 0; e < 256; e++) q[e] = (e * 7 + e / 32) % 16;
    for (int c = 0; c < 4; c++) { // 32 bytes per 64 weights: low nibbles first 32, high nibbles next 32
      for (int l = 0; l < 32; l++) b[16 + 32 * c + l] = (byte) (q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
    float[] expected = new float[256];
    for (int e = 0; e < 256; e++) expected[e] = d * sc[e / 32] * q[e] - dmin * m[e / 32];
    Close.assertBitwise("Q4_K", expected, dequantize(GgufTensorType.Q4_K, b, 256), 256);
  }

  @Test
  void q6KLowNibblesHighBitPairsAndInt8Scales() {
    byte[] b = new byte[210];
    float d = 0.03125f;
    putF16(b, 208, d);
    int[] scale = new int[16];
    for (int s = 0; s < 16; s++) {
      scale[s] = (s % 2 == 0 ? 1 : -1) * (s * 8 + 7);  // up to 127 in magnitude
      b[192 + s] = (byte) scale[s];
    }
    int[] q = new int[256]; // 6-bit, 0..63; the weight is d * scale * (q - 32)
    for (int e = 0; e < 256; e++) q[e] = (e * 5 + e / 64) % 64;
    for (int h = 0; h < 2; h++) {
      for (int l = 0; l < 32; l++) {
        int e = 128 * h + l;
        b[64 * h + l] = (byte) ((q[e] & 0xF) | ((q[e + 64] & 0xF) << 4));
        b[64 * h + l + 32] = (byte) ((q[e + 32] & 0xF) | ((q[e + 96] & 0xF) << 4));
        b[128 + 32 * h + l] = (byte) ((q[e] >> 4) | ((q[e + 32] >> 4) << 2) | ((q[e + 64] >> 4) << 4) | ((q[e + 96] >> 4) << 6));
      }
    }
    float[] expected = new float[256];
    for (int e = 0; e < 256; e++) expected[e] = d * scale[e / 16] * (q[e] - 32);
    Close.assertBitwise("Q6_K", expected, dequantize(GgufTensorType.Q6_K, b, 256), 256);
  }

  /**
   * Quantize then dequantize: every weight within the format's rounding step of its block (half a
   * step for round to nearest, plus the fp16 rounding of the scales), the step measured from the
   * block's own range.
   */
  @Test
  void quantizersRoundTripWithinAStep() {
    SplittableRandom random = new SplittableRandom(17);
    int rows = 5, cols = 768;
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) w[i] = (float) (random.nextGaussian() * 0.02 + (i % 97 == 0 ? 0.1 : 0));
    for (GgufTensorType type : new GgufTensorType[] {GgufTensorType.Q8_0, GgufTensorType.Q4_0, GgufTensorType.Q4_K,
        GgufTensorType.Q6_K, GgufTensorType.BF16, GgufTensorType.F16}) {
      byte[] bytes = Quantize.matrix(type, w, rows, cols);
      assertThat((long) bytes.length).isEqualTo(type.byteSize((long) rows * cols));
      float[] back = Dequantize.matrix(type, MemorySegment.ofArray(bytes), rows, cols);
      int group = switch (type) {
        case Q4_K -> 32;
        case Q6_K -> 16;
        default -> 32;
      };
      double levels = switch (type) {
        case Q8_0 -> 254;
        case Q4_0 -> 15;
        case Q4_K -> 15;
        case Q6_K -> 63;
        default -> 256;  // 16-bit floats: well inside
      };
      float[] tolerance = new float[w.length];
      for (int g = 0; g < w.length; g += group) {
        float lo = 0, hi = 0, amax = 0;
        for (int i = g; i < g + group; i++) {
          lo = Math.min(lo, w[i]);
          hi = Math.max(hi, w[i]);
          amax = Math.max(amax, Math.abs(w[i]));
        }
        // K-quants round the sub-block scale to 6 bits against the super-block's: allow a whole step more.
        double step = (type == GgufTensorType.Q4_K || type == GgufTensorType.Q6_K ? 1.5 : 0.5) * (hi - lo) / levels;
        if (type == GgufTensorType.Q8_0 || type == GgufTensorType.Q4_0) step = 0.5 * 2 * amax / levels * 1.01;
        // Q4_0 maps the largest magnitude to -8: the other sign reaches only +7 steps, so up to a whole step.
        if (type == GgufTensorType.Q4_0) step = amax / 8 * 1.01;
        if (type == GgufTensorType.BF16) step = amax / 256.0;
        if (type == GgufTensorType.F16) step = amax / 2048.0 + 1e-7;
        for (int i = g; i < g + group; i++) tolerance[i] = (float) (step + 1e-3 * amax);
      }
      Close.assertWithin(type + " round trip", w, back, w.length, tolerance);
    }
  }

  @Test
  void quantizedRowsMustBeWholeBlocks() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Quantize.matrix(GgufTensorType.Q4_K, new float[576], 1, 576))
        .hasMessageContaining("multiple of 256");
  }
}
