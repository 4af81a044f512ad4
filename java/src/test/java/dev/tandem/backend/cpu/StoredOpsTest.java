package dev.tandem.backend.cpu;

import dev.tandem.backend.StoredMatrix;
import dev.tandem.backend.Tensor;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.io.quant.Quantize;
import dev.tandem.testing.Close;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The stored-format products: the Vector API kernels against the scalar reference (dequantize a
 * row, fp32 dot product), a block of rows against the same rows one at a time (bitwise), and the
 * embedding row lookup, on awkward sizes (37 output rows, k not a power of two, blocks of 1 to 9 rows).
 */
class StoredOpsTest {
  static final GgufTensorType[] FORMATS = {GgufTensorType.Q8_0, GgufTensorType.Q4_0, GgufTensorType.Q4_K,
      GgufTensorType.Q6_K, GgufTensorType.BF16, GgufTensorType.F16};

  /** Input features per format: whole blocks, not a power of two; 16-bit floats with a ragged tail. */
  static int cols(GgufTensorType type) {
    return switch (type) {
      case Q4_K, Q6_K -> 768;
      case Q8_0, Q4_0 -> 224;
      default -> 203;
    };
  }

  static StoredMatrix matrix(GgufTensorType type, int rows, int cols, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) w[i] = (float) (random.nextGaussian() * 0.05);
    int[] order = new int[rows];
    for (int r = 0; r < rows; r++) order[r] = (r * 5 + 3) % rows;  // a permuted row order, as GGUF q/k rows have
    if (rows % 5 == 0) order = null;
    return new StoredMatrix("w." + type, type, rows, cols, MemorySegment.ofArray(Quantize.matrix(type, w, rows, cols)),
        order);
  }

  static float[] randomRows(int n, int k, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] x = new float[n * k];
    for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
    return x;
  }

  /**
   * Tolerance: the products are summed in another order (and Q4_K's min term factored out of each
   * sub-block), so each output may differ by a few fp32 roundings of its largest partial sums: 1e-5
   * of the sum of |x_j w_j|.
   */
  @Test
  void fastProductsMatchTheReference() {
    int m = 37, n = 3;
    try (CpuBackend fast = CpuBackend.fast(2); CpuBackend reference = CpuBackend.reference()) {
      for (GgufTensorType type : FORMATS) {
        int k = cols(type);
        StoredMatrix w = matrix(type, m, k, 7);
        float[] x = randomRows(n, k, 11);
        float[] expected = product(reference, w, x, n), actual = product(fast, w, x, n);
        float[] row = new float[k];
        float[] tolerance = new float[n * m];
        for (int i = 0; i < n; i++) {
          for (int o = 0; o < m; o++) {
            w.dequantizeRow(o, row, 0);
            double abs = 0;
            for (int j = 0; j < k; j++) abs += Math.abs(x[i * k + j] * row[j]);
            tolerance[i * m + o] = (float) (1e-5 * abs);
          }
        }
        Close.assertWithin(type + " fast vs reference", expected, actual, n * m, tolerance);
      }
    }
  }

  /** The vector conversion of a stored row is bitwise the scalar reference's dequantized row. */
  @Test
  void vectorConversionIsBitwiseTheReference() {
    for (GgufTensorType type : FORMATS) {
      int k = cols(type), m = 13;
      StoredMatrix w = matrix(type, m, k, 41);
      float[] expected = new float[k], actual = new float[k + 5];
      for (int o = 0; o < m; o++) {
        w.dequantizeRow(o, expected, 0);
        StoredOps.dequantizeRow(w, o, actual);
        Close.assertBitwise(type + " row " + o, expected, actual, k);
      }
    }
  }

  /** The reference backend's product is the dequantized matrix times x in plain fp32, exactly. */
  @Test
  void referenceIsTheDequantizedProduct() {
    try (CpuBackend reference = CpuBackend.reference()) {
      for (GgufTensorType type : FORMATS) {
        int k = cols(type), m = 9, n = 2;
        StoredMatrix w = matrix(type, m, k, 3);
        float[] x = randomRows(n, k, 5);
        float[] dense = w.toFloats();
        float[] expected = new float[n * m];
        ScalarOps.matmul(x, n, k, dense, m, expected);
        Close.assertBitwise(type + " reference", expected, product(reference, w, x, n), n * m);
      }
    }
  }

  @Test
  void aBlockOfRowsGivesEachRowBitwiseWhatItGetsAlone() {
    int m = 37;
    try (CpuBackend fast = CpuBackend.fast(2)) {
      for (GgufTensorType type : FORMATS) {
        int k = cols(type);
        StoredMatrix w = matrix(type, m, k, 13);
        for (int n = 1; n <= 9; n++) {
          float[] x = randomRows(n, k, 100 + n);
          float[] block = product(fast, w, x, n);
          float[] alone = new float[n * m];
          for (int i = 0; i < n; i++) {
            float[] one = product(fast, w, java.util.Arrays.copyOfRange(x, i * k, (i + 1) * k), 1);
            System.arraycopy(one, 0, alone, i * m, m);
          }
          Close.assertBitwise(type + " block of " + n + " vs rows alone", alone, block, n * m);
        }
      }
    }
  }

  /** Large enough to go to the thread pool: the result does not depend on the thread count either. */
  @Test
  void threadCountDoesNotChangeTheResult() {
    try (CpuBackend one = CpuBackend.fast(1); CpuBackend two = CpuBackend.fast(2)) {
      for (GgufTensorType type : FORMATS) {
        int k = type == GgufTensorType.Q4_K || type == GgufTensorType.Q6_K ? 1024 : 1000 / 32 * 32;
        StoredMatrix w = matrix(type, 301, k, 19);
        float[] x = randomRows(5, k, 23);
        Close.assertBitwise(type + " 1 vs 2 threads", product(one, w, x, 5), product(two, w, x, 5), 5 * 301);
      }
    }
  }

  @Test
  void embeddingDequantizesTheTokensRow() {
    try (CpuBackend fast = CpuBackend.fast(2)) {
      for (GgufTensorType type : FORMATS) {
        int k = cols(type);
        StoredMatrix w = matrix(type, 11, k, 29);
        Tensor table = fast.weights(w);
        Tensor out = fast.allocate("out", 2, k);
        dev.tandem.backend.BatchRows rows = new dev.tandem.backend.BatchRows(2);
        rows.addSequence(0, new int[] {7, 3}, 0, 2, 0);
        fast.embed(table, rows, out);
        float[] actual = new float[2 * k], expected = new float[2 * k];
        fast.download(out, 2, actual);
        w.dequantizeRow(7, expected, 0);
        w.dequantizeRow(3, expected, k);
        Close.assertBitwise(type + " embedding", expected, actual, 2 * k);
      }
    }
  }

  /** Every binary16 value through the vector conversion equals {@link Float#float16ToFloat}. */
  @Test
  void f16VectorConversionIsExactForEveryValue() {
    byte[] all = new byte[65536 * 2];
    for (int h = 0; h < 65536; h++) {
      all[2 * h] = (byte) h;
      all[2 * h + 1] = (byte) (h >> 8);
    }
    MemorySegment seg = MemorySegment.ofArray(all);
    float[] expected = new float[65536], actual = new float[65536];
    for (int h = 0; h < 65536; h += 8) {
      StoredOps.f16(seg, 2L * h).intoArray(actual, h);
      for (int i = 0; i < 8; i++) expected[h + i] = Float.float16ToFloat((short) (h + i));
    }
    for (int h = 0; h < 65536; h++) {  // NaN payloads: any NaN for a NaN
      if (Float.isNaN(expected[h]) && Float.isNaN(actual[h])) actual[h] = expected[h];
    }
    Close.assertBitwise("f16 -> f32", expected, actual, 65536);
  }

  static float[] product(CpuBackend backend, StoredMatrix w, float[] x, int n) {
    int k = w.cols(), m = w.rows();
    Tensor wt = backend.weights(w);
    Tensor xt = backend.allocate("x", n, k), out = backend.allocate("out", n, m);
    System.arraycopy(x, 0, ((CpuTensor) xt).data(), 0, n * k);
    backend.matmul(xt, wt, n, out);
    float[] result = new float[n * m];
    backend.download(out, n, result);
    return result;
  }
}
