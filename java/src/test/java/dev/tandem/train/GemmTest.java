package dev.tandem.train;

import static dev.tandem.testing.Close.assertBitwise;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.testing.Close;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The blocked Vector API product against its scalar reference, bit for bit (both run the same fixed
 * arithmetic: one fused multiply-add chain per block of K), on awkward sizes (1, 7, 33, K across
 * several blocks, edges in both tile dimensions) with every stride layout the layers use, on 1 and 2
 * threads.
 */
class GemmTest {
  static final WorkerPool ONE = new WorkerPool(1);
  static final WorkerPool TWO = new WorkerPool(2);

  @AfterAll
  static void close() {
    ONE.close();
    TWO.close();
  }

  @ParameterizedTest
  @CsvSource({"1,1,1", "7,33,5", "33,7,300", "97,113,17", "6,16,256", "100,90,600", "1,4097,3"})
  void equalsReferenceBitwise(int m, int n, int k) {
    SplittableRandom r = new SplittableRandom(m * 31L + n * 7L + k);
    float[] a = Close.random(r, m * k, 1), b = Close.random(r, k * n, 1), c0 = Close.random(r, m * n, 1);
    // Layouts: A row-major or transposed, B row-major or transposed, overwrite or accumulate.
    for (int layout = 0; layout < 8; layout++) {
      boolean aT = (layout & 1) != 0, bT = (layout & 2) != 0, acc = (layout & 4) != 0;
      int aRs = aT ? 1 : k, aCs = aT ? m : 1, bRs = bT ? 1 : n, bCs = bT ? k : 1;
      float[] expected = c0.clone();
      Gemm.reference(m, n, k, a, 0, aRs, aCs, b, 0, bRs, bCs, expected, 0, n, acc);
      for (WorkerPool pool : new WorkerPool[] {ONE, TWO}) {
        float[] actual = c0.clone();
        new Gemm(pool).gemm(m, n, k, a, 0, aRs, aCs, b, 0, bRs, bCs, actual, 0, n, acc);
        assertBitwise(m + "x" + n + "x" + k + " layout " + layout + " threads " + pool.threads(), expected, actual,
            expected.length);
      }
    }
  }
}
