package dev.tandem.backend.cuda;

import static dev.tandem.testing.Close.assertBitwise;
import static dev.tandem.testing.Close.assertClose;
import static dev.tandem.testing.Close.assertWithin;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.backend.cpu.ScalarOps;
import dev.tandem.model.RopeTable;
import dev.tandem.sampling.Philox;
import dev.tandem.sampling.Sampler;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.testing.Close;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every kernel against the CPU scalar reference on random inputs of awkward sizes, outputs
 * poisoned with NaN before each launch and every element checked. Skipped without a GPU.
 */
class CudaKernelsTest {
  private static CudaBackend gpu;
  private final SplittableRandom random = new SplittableRandom(20261126);

  @BeforeAll
  static void open() {
    if (GpuTests.available()) gpu = GpuTests.backend();
  }

  /** Per test, not per class: without a GPU each test is reported skipped (with the reason), not absent. */
  @BeforeEach
  void assumeGpu() {
    GpuTests.assumeGpu();
  }

  @AfterAll
  static void close() {
    if (gpu != null) gpu.close();
  }

  private Tensor input(String name, float[] data, int rows, int cols) {
    Tensor t = gpu.allocate(name, rows, cols);
    gpu.upload(t, data, rows);
    return t;
  }

  private Tensor output(String name, int rows, int cols) {
    Tensor t = gpu.allocate(name, rows, cols);
    gpu.poison(t);
    return t;
  }

  private static float[] down(Tensor t, int rows) {
    float[] r = new float[rows * t.cols()];
    gpu.download(t, rows, r);
    return r;
  }

  private static BatchRows rowsOf(int n, int vocab, SplittableRandom random) {
    BatchRows rows = new BatchRows(n);
    int[] tokens = random.ints(n, 0, vocab).toArray();
    rows.addSequence(0, tokens, 0, n, 0);
    return rows;
  }

  @Test
  void embedGathersBf16RowsExactly() {
    for (int d : new int[] {1, 7, 33, 4097}) {
      int vocab = 37, n = 17;
      float[] table = Close.random(random, vocab * d, 1.0);
      Tensor t = gpu.weights("table", table, vocab, d);
      BatchRows rows = rowsOf(n, vocab, random);
      Tensor out = output("out", n, d);
      gpu.embed(t, rows, out);
      float[] expected = new float[n * d];
      float[] rounded = GpuTests.bf16(table);
      for (int i = 0; i < n; i++) System.arraycopy(rounded, rows.token(i) * d, expected, i * d, d);
      assertBitwise("embed d=" + d, expected, down(out, n), n * d);
      gpu.release(t);
      gpu.release(out);
    }
  }

  /**
   * SPEED's greedy round on the device: argmax into the draft table, draft rows embedded from it, and
   * the acceptance of a ragged verification pass, each against the same logic on the host.
   */
  @Test
  void draftTableKernelsMatchTheHostLogic() {
    int vocab = 1009, slots = 5, stride = 6, d = 40;
    float[] initial = new float[slots * stride];
    for (int i = 0; i < initial.length; i++) initial[i] = random.nextInt(vocab);
    Tensor table = input("draft table", initial, slots, stride);
    int[] tokens = random.ints(32, 0, vocab).toArray();

    // 1. Draft step: the last row of each sequence, argmax into column 2 of its slot's row.
    BatchRows step = new BatchRows(16);
    step.addSequence(4, tokens, 0, 3, 7);
    step.addSequence(0, tokens, 3, 1, 2);
    step.addSequence(2, tokens, 4, 2, 0);
    float[] lastLogits = Close.random(random, 3 * vocab, 5.0);
    lastLogits[vocab + 17] = 9f;  // a tie in sequence 1: the lower index wins
    lastLogits[vocab + 600] = 9f;
    Tensor logits = input("logits", lastLogits, 3, vocab);
    gpu.prepare(step);
    gpu.argmaxToDraftTable(logits, step, table, 2);
    float[] expected = initial.clone();
    for (int i = 0; i < 3; i++) expected[step.sequenceSlot(i) * stride + 2] = Sampler.argmax(lastLogits, i * vocab, vocab);
    float[] got = down(table, slots);
    assertBitwise("draft table after argmax", expected, got, slots * stride);
    assertThat(got[0 * stride + 2]).isEqualTo(17f);

    // 2. Draft rows take their tokens from the table.
    float[] embedding = Close.random(random, vocab * d, 1.0), rounded = GpuTests.bf16(embedding);
    Tensor weights = gpu.weights("embedding", embedding, vocab, d);
    BatchRows drafts = new BatchRows(16);
    drafts.useDraftTable(table);
    drafts.addSequenceWithDrafts(4, tokens, 5, 1, 0, 3, 10);
    drafts.addSequenceWithDrafts(1, tokens, 0, 0, 2, 1, 4);
    Tensor out = output("embedded", 5, d);
    gpu.embed(weights, drafts, out);
    int[] resolved = {tokens[5], (int) got[4 * stride], (int) got[4 * stride + 1], (int) got[4 * stride + 2],
        (int) got[stride + 2]};
    float[] embedded = new float[5 * d];
    for (int i = 0; i < 5; i++) System.arraycopy(rounded, resolved[i] * d, embedded, i * d, d);
    assertBitwise("draft rows embedded from the table", embedded, down(out, 5), 5 * d);

    // 3. Verification: sequences with 3, 0 and 5 drafts; the primary agrees with the first two
    //    drafts of the third sequence and with all drafts of the first.
    BatchRows verify = new BatchRows(16);
    verify.useDraftTable(table);
    verify.addSequenceWithDrafts(4, tokens, 6, 1, 0, 3, 20);
    verify.addSequenceWithDrafts(0, tokens, 7, 1, 0, 0, 3);
    verify.addSequenceWithDrafts(2, tokens, 8, 1, 0, 5, 9);
    int n = verify.rowCount();
    float[] all = Close.random(random, n * vocab, 5.0);
    for (int j = 0; j < 3; j++) all[j * vocab + (int) got[4 * stride + j]] = 20f;
    for (int j = 0; j < 2; j++) all[(5 + j) * vocab + (int) got[2 * stride + j]] = 20f;
    Tensor verifyLogits = input("verify logits", all, n, vocab);
    int[] acceptance = new int[3 * (2 + stride)];
    gpu.greedyAccept(verifyLogits, verify, table, acceptance);
    int[] expectedAcceptance = new int[3 * (2 + stride)];
    for (int i = 0; i < 3; i++) {
      int start = verify.sequenceStart(i), k = verify.sequenceLength(i) - 1, base = verify.sequenceSlot(i) * stride;
      int a = 0;
      while (a < k && Sampler.argmax(all, (start + a) * vocab, vocab) == (int) got[base + a]) a++;
      expectedAcceptance[i * (2 + stride)] = a;
      expectedAcceptance[i * (2 + stride) + 1] = Sampler.argmax(all, (start + a) * vocab, vocab);
      for (int j = 0; j < k; j++) expectedAcceptance[i * (2 + stride) + 2 + j] = (int) got[base + j];
    }
    for (int i = 0; i < 3; i++) {  // entries past a sequence's drafts are unspecified
      int used = 2 + verify.sequenceLength(i) - 1;
      assertThat(Arrays.copyOfRange(acceptance, i * (2 + stride), i * (2 + stride) + used)).as("sequence " + i)
          .containsExactly(Arrays.copyOfRange(expectedAcceptance, i * (2 + stride), i * (2 + stride) + used));
    }
    assertThat(acceptance[0]).isEqualTo(3);
    assertThat(acceptance[2 * (2 + stride)]).isGreaterThanOrEqualTo(2);
    for (Tensor t : List.of(table, logits, weights, out, verifyLogits)) gpu.release(t);
  }

  @Test
  void rmsNormAndFusedResidualMatchTheReference() {
    for (int d : new int[] {1, 7, 33, 4097}) {
      int n = 17;
      float[] x = Close.random(random, n * d, 3.0), delta = Close.random(random, n * d, 1.0);
      float[] gain = Close.random(random, d, 2.0);
      Tensor xs = input("x", x, n, d), ds = input("delta", delta, n, d), g = gpu.weights("gain", gain, 1, d);
      Tensor out = output("out", n, d);
      gpu.rmsNorm(xs, g, 1e-5f, n, out);
      float[] expected = new float[n * d];
      for (int i = 0; i < n; i++) ScalarOps.rmsNorm(x, i * d, gain, 1e-5f, d, expected, i * d);
      // fp32 sum of squares in another order: relative error ~sqrt(d) * 2^-24, far below 2e-5.
      assertClose("rmsnorm d=" + d, expected, down(out, n), n * d, 1e-6, 2e-5);

      for (Tensor t : List.of(xs, ds, g, out)) gpu.release(t);
    }
  }

  @Test
  void ropeIsBitwiseTheReference() {
    for (int[] shape : new int[][] {{3, 2}, {3, 8}, {5, 34}, {2, 64}, {1, 128}}) {
      int heads = shape[0], headDim = shape[1], n = 17, positions = 97;
      float[] table = RopeTable.build(positions, headDim, RopeTable.inverseFrequencies(headDim, 500000.0));
      Tensor t = gpu.table("rope", table, positions, headDim);
      float[] x = Close.random(random, n * heads * headDim, 2.0);
      Tensor xs = input("x", x, n, heads * headDim);
      BatchRows rows = new BatchRows(n);
      int[] tokens = new int[n];
      rows.addSequence(0, tokens, 0, 9, 80);   // positions 80..88
      rows.addSequence(1, tokens, 0, 8, 3);    // positions 3..10
      gpu.rope(xs, heads, headDim, t, rows);
      for (int i = 0; i < n; i++) {
        ScalarOps.rope(x, i * heads * headDim, heads, headDim, table, rows.position(i) * headDim);
      }
      assertBitwise("rope heads=" + heads + " headDim=" + headDim, x, down(xs, n), x.length);
      gpu.release(t);
      gpu.release(xs);
    }
  }

  @Test
  void elementwiseKernelsMatchTheReference() {
    for (int f : new int[] {1, 7, 33, 4097}) {
      int n = 17;
      float[] gate = Close.random(random, n * f, 8.0), up = Close.random(random, n * f, 2.0);
      Tensor g = input("gate", gate, n, f), u = input("up", up, n, f), out = output("out", n, f);
      gpu.swiglu(g, u, n, out);
      float[] expected = new float[n * f];
      ScalarOps.swiglu(gate, up, expected, 0, n * f);
      // silu in double on both sides; the GPU's exp may differ in the last bit of a double.
      assertClose("swiglu f=" + f, expected, down(out, n), n * f, 1e-30, 1e-6);

      gpu.add(g, u, n);
      ScalarOps.add(gate, up, 0, n * f);
      assertBitwise("add f=" + f, gate, down(g, n), n * f);

      float[] bias = Close.random(random, f, 1.0);
      Tensor b = gpu.table("bias", bias, 1, f);
      gpu.addBias(g, b, n);
      for (int i = 0; i < n; i++) ScalarOps.addBias(gate, i * f, bias, f);
      assertBitwise("addBias f=" + f, gate, down(g, n), n * f);
      gpu.release(b);

      Tensor dst = output("dst", n + 3, f);
      gpu.copyRows(g, 2, dst, 3, n - 2);
      float[] copied = down(dst, n + 3);
      assertBitwise("copyRows f=" + f, Arrays.copyOfRange(gate, 2 * f, n * f), Arrays.copyOfRange(copied, 3 * f,
          (n + 1) * f), (n - 2) * f);
      assertThat(Float.isNaN(copied[0])).as("rows before the copy stay untouched").isTrue();
      for (Tensor t : List.of(g, u, out, dst)) gpu.release(t);
    }
  }

  @Test
  void kvStoreWritesBf16RowsAtTheirSlotsAndPositions() {
    int kvDim = 33, capacity = 40, slots = 3, layers = 2;
    KvCache cache = gpu.allocateKvCache(layers, slots, capacity, kvDim);
    float[] zeros = new float[slots * capacity * kvDim];
    gpu.uploadCache(cache, 1, zeros, zeros);
    BatchRows rows = new BatchRows(16);
    int[] tokens = new int[16];
    rows.addSequence(2, tokens, 0, 5, 7);
    rows.addSequence(0, tokens, 0, 2, 38);
    int n = rows.rowCount();
    float[] k = Close.random(random, n * kvDim, 1.0), v = Close.random(random, n * kvDim, 1.0);
    Tensor ks = input("k", k, n, kvDim), vs = input("v", v, n, kvDim);
    gpu.kvStore(cache, 1, ks, vs, rows);
    float[] keys = new float[zeros.length], values = new float[zeros.length];
    gpu.downloadCache(cache, 1, keys, values);
    float[] expectedK = zeros.clone(), expectedV = zeros.clone();
    float[] kr = GpuTests.bf16(k), vr = GpuTests.bf16(v);
    for (int i = 0; i < n; i++) {
      int at = (rows.slot(i) * capacity + rows.position(i)) * kvDim;
      System.arraycopy(kr, i * kvDim, expectedK, at, kvDim);
      System.arraycopy(vr, i * kvDim, expectedV, at, kvDim);
    }
    assertBitwise("keys", expectedK, keys, keys.length);
    assertBitwise("values", expectedV, values, values.length);
    cache.close();
    gpu.release(ks);
    gpu.release(vs);
  }

  /**
   * The fused products equal the separate kernels: the residual epilogue bit for bit; the norm,
   * applied to the products instead of the inputs (the inverse RMS factors out of the sum), within
   * the fp32 bound of a k-term dot product; n = 1, 3 and 8 rows, widths that are and are not
   * multiples of 8.
   */
  @Test
  void fusedProductsEqualTheSeparateKernels() {
    for (int[] shape : new int[][] {{1, 64, 40}, {3, 33, 17}, {8, 128, 96}}) {
      int n = shape[0], k = shape[1], m = shape[2];
      float[] x = Close.random(random, n * k, 2.0), gain = Close.random(random, k, 1.5);
      float[][] w = {Close.random(random, m * k, 0.2), Close.random(random, m * k, 0.2), Close.random(random, k * m, 0.2)};
      Tensor xs = input("x", x, n, k), g = gpu.table("gain", gain, 1, k);
      Tensor wa = gpu.weights("wa", w[0], m, k), wb = gpu.weights("wb", w[1], m, k), wd = gpu.weights("wd", w[2], k, m);
      Tensor normed = output("normed", n, k), a = output("a", n, m), b = output("b", n, m), h = output("h", n, m);
      Tensor[] ws = {wa, wb};
      // Separate kernels: norm, products, SwiGLU, down product, residual add.
      gpu.rmsNorm(xs, g, 1e-5f, n, normed);
      gpu.matmul(normed, ws, n, new Tensor[] {a, b});
      float[] expectedA = down(a, n), expectedB = down(b, n);
      gpu.swiglu(a, b, n, h);
      float[] expectedH = down(h, n);
      // Fused.
      for (Tensor t : List.of(a, b, h)) gpu.poison(t);
      gpu.normMatmul(xs, g, 1e-5f, normed, ws, n, new Tensor[] {a, b});
      // Rounding differs by a few units in the last place per term: the dot-product bound with the
      // normed inputs (which the separate path rounds once more) and slack 4.
      float[] xn = new float[n * k];
      for (int i = 0; i < n; i++) ScalarOps.rmsNorm(x, i * k, gain, 1e-5f, k, xn, i * k);
      assertWithin("normMatmul a " + n + "x" + k + "x" + m, expectedA, down(a, n), n * m,
          dotBounds(xn, n, k, GpuTests.bf16(w[0]), m, 4));
      assertWithin("normMatmul b " + n + "x" + k + "x" + m, expectedB, down(b, n), n * m,
          dotBounds(xn, n, k, GpuTests.bf16(w[1]), m, 4));
      gpu.poison(h);
      gpu.normGateUpSwiglu(xs, g, 1e-5f, normed, wa, wb, n, a, b, h);
      // silu(gate) * up moves by at most about |up| * dgate + |silu(gate)| * dup (|silu'| <= 1.1).
      assertClose("normGateUpSwiglu " + n + "x" + k + "x" + m, expectedH, down(h, n), n * m, 1e-5, 1e-5);
      // The residual epilogue on the same input h: bit for bit the product then the add.
      Tensor product = output("product", n, k), residual = input("residual", x, n, k);
      gpu.matmul(h, wd, n, product);
      gpu.add(residual, product, n);
      float[] expectedResidual = down(residual, n);
      Tensor residual2 = input("residual2", x, n, k);
      gpu.matmulAdd(h, wd, n, residual2, product);
      assertBitwise("matmulAdd " + n + "x" + m + "x" + k, expectedResidual, down(residual2, n), n * k);
      for (Tensor t : List.of(xs, g, wa, wb, wd, normed, a, b, h, product, residual, residual2)) gpu.release(t);
    }
  }

  /** The fused rope + KV store equals rope, rope and kvStore launched one by one, bit for bit. */
  @Test
  void fusedRopeAndStoreEqualsTheSeparateKernels() {
    int heads = 6, kvHeads = 2, headDim = 34, n = 11, capacity = 50, slots = 2;
    int kvDim = kvHeads * headDim, positions = 64;
    float[] table = RopeTable.build(positions, headDim, RopeTable.inverseFrequencies(headDim, 10000.0));
    Tensor t = gpu.table("rope", table, positions, headDim);
    float[] q = Close.random(random, n * heads * headDim, 2.0), k = Close.random(random, n * kvDim, 2.0);
    float[] v = Close.random(random, n * kvDim, 2.0);
    BatchRows rows = new BatchRows(n);
    int[] tokens = new int[n];
    rows.addSequence(1, tokens, 0, 6, 40);
    rows.addSequence(0, tokens, 0, 5, 2);
    float[] zeros = new float[slots * capacity * kvDim];
    float[][] keys = new float[2][zeros.length], values = new float[2][zeros.length], queries = new float[2][];
    for (int mode = 0; mode < 2; mode++) {
      KvCache cache = gpu.allocateKvCache(1, slots, capacity, kvDim);
      gpu.uploadCache(cache, 0, zeros, zeros);
      Tensor qs = input("q", q, n, heads * headDim), ks = input("k", k, n, kvDim), vs = input("v", v, n, kvDim);
      if (mode == 0) {
        gpu.rope(qs, heads, headDim, t, rows);
        gpu.rope(ks, kvHeads, headDim, t, rows);
        gpu.kvStore(cache, 0, ks, vs, rows);
      } else {
        gpu.ropeAndStore(qs, heads, ks, vs, kvHeads, headDim, t, cache, 0, rows);
      }
      queries[mode] = down(qs, n);
      gpu.downloadCache(cache, 0, keys[mode], values[mode]);
      cache.close();
      gpu.release(qs);
      gpu.release(ks);
      gpu.release(vs);
    }
    assertBitwise("queries", queries[0], queries[1], queries[0].length);
    assertBitwise("keys", keys[0], keys[1], zeros.length);
    assertBitwise("values", values[0], values[1], zeros.length);
    gpu.release(t);
  }

  /** Relative fp32 summation bound (Higham): |error| <= k * 2^-24 * sum |x_j w_j| for either side. */
  private static float[] dotBounds(float[] x, int n, int k, float[] w, int m, double slack) {
    float[] bound = new float[n * m];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < m; o++) {
        double sum = 0;
        for (int j = 0; j < k; j++) sum += Math.abs((double) x[i * k + j] * w[o * k + j]);
        bound[i * m + o] = (float) (slack * 2.0 * k * 0x1.0p-24 * sum + 1e-30);
      }
    }
    return bound;
  }

  @Test
  void smallMatmulMatchesTheReferenceAndIsBatchInvariant() {
    for (int k : new int[] {1, 7, 33, 256, 2048, 4097}) {
      for (int n : new int[] {1, 2, 3, 7, 17, 64}) {
        int[] ms = {33, 7, 97};
        float[] x = Close.random(random, n * k, 1.0);
        Tensor xs = input("x", x, n, k);
        Tensor[] ws = new Tensor[3], outs = new Tensor[3];
        float[][] wData = new float[3][];
        for (int j = 0; j < 3; j++) {
          wData[j] = Close.random(random, ms[j] * k, 1.0);
          ws[j] = gpu.weights("w" + j, wData[j], ms[j], k);
          outs[j] = output("out" + j, n, ms[j]);
        }
        gpu.matmul(xs, ws, n, outs);
        for (int j = 0; j < 3; j++) {
          float[] w = GpuTests.bf16(wData[j]);
          float[] expected = new float[n * ms[j]];
          ScalarOps.matmul(x, n, k, w, ms[j], expected);
          assertWithin("matmul n=" + n + " k=" + k + " m=" + ms[j], expected, down(outs[j], n), n * ms[j],
              dotBounds(x, n, k, w, ms[j], 1.0));
        }
        // Batch invariance: the last row alone gives the same bits as inside the block.
        float[] all = down(outs[2], n);
        Tensor one = input("x1", Arrays.copyOfRange(x, (n - 1) * k, n * k), 1, k);
        Tensor oneOut = output("out1", 1, ms[2]);
        gpu.matmul(one, ws[2], 1, oneOut);
        assertBitwise("row " + (n - 1) + " alone vs in a block of " + n + " (k=" + k + ")",
            Arrays.copyOfRange(all, (n - 1) * ms[2], n * ms[2]), down(oneOut, 1), ms[2]);
        for (Tensor t : List.of(xs, one, oneOut)) gpu.release(t);
        for (int j = 0; j < 3; j++) {
          gpu.release(ws[j]);
          gpu.release(outs[j]);
        }
      }
    }
  }

  @Test
  void largeMatmulMatchesTheReference() {
    int n = 97, k = 264, m = 33;
    float[] x = Close.random(random, n * k, 1.0), w = Close.random(random, m * k, 1.0);
    float[] xr = GpuTests.bf16(x), wr = GpuTests.bf16(w);  // the large path rounds activations to bf16 too
    float[] expected = new float[n * m];
    ScalarOps.matmul(xr, n, k, wr, m, expected);
    // cuBLAS on tensor cores does not round every add to nearest: allow 8x the fp32 bound.
    float[] bound = dotBounds(xr, n, k, wr, m, 8.0);
    Tensor xs = input("x", x, n, k), ws = gpu.weights("w", w, m, k), out = output("out", n, m);
    gpu.matmul(xs, ws, n, out);
    System.out.println("large matmul path: " + gpu.largeMatmulPath());
    assertWithin("large-n matmul (" + gpu.largeMatmulPath() + ")", expected, down(out, n), n * m, bound);
    try (CudaBackend tiled = CudaBackend.create(new CudaBackend.Options(true, false, true, true))) {
      Tensor xt = tiled.allocate("x", n, k), wt = tiled.weights("w", w, m, k), ot = tiled.allocate("out", n, m);
      tiled.upload(xt, x, n);
      tiled.poison(ot);
      tiled.matmul(xt, wt, n, ot);
      float[] got = new float[n * m];
      tiled.download(ot, n, got);
      float[] expectedFp32 = new float[n * m];
      ScalarOps.matmul(x, n, k, wr, m, expectedFp32);  // the tiled kernel keeps fp32 activations
      assertWithin("tiled fallback matmul", expectedFp32, got, n * m, dotBounds(x, n, k, wr, m, 1.0));
    }
    for (Tensor t : List.of(xs, ws, out)) gpu.release(t);
  }

  /** A cache with random bf16 keys/values at every position, and the same values as floats. */
  private record FilledCache(KvCache cache, float[] keys, float[] values) {}

  private FilledCache filledCache(int slots, int capacity, int kvDim) {
    KvCache cache = gpu.allocateKvCache(1, slots, capacity, kvDim);
    float[] keys = GpuTests.bf16(Close.random(random, slots * capacity * kvDim, 1.0));
    float[] values = GpuTests.bf16(Close.random(random, slots * capacity * kvDim, 1.0));
    gpu.uploadCache(cache, 0, keys, values);
    return new FilledCache(cache, keys, values);
  }

  private static float[] referenceAttention(float[] q, BatchRows rows, FilledCache c, int heads, int kvHeads,
      int headDim, int capacity) {
    int n = rows.rowCount(), width = heads * headDim, kvDim = kvHeads * headDim;
    float[] out = new float[n * width];
    float[] scores = new float[capacity];
    for (int i = 0; i < n; i++) {
      ScalarOps.attention(q, i * width, c.keys(), c.values(), rows.slot(i) * capacity * kvDim, rows.position(i) + 1,
          heads, kvHeads, headDim, out, i * width, scores);
    }
    return out;
  }

  @Test
  void attentionMatchesTheReferenceOnBf16KeysAndValues() {
    // (heads, kvHeads, headDim): GQA 1, 2, 3, 4, 6 and 10 (the decode kernel takes query heads in
    // passes of 4); odd head counts; head dims 6 and 34 take the scalar load path (and the block
    // kernel only); 40 and 72 leave lanes of the decode kernel without dimensions.
    int[][] shapes = {{3, 3, 8}, {5, 5, 6}, {6, 3, 64}, {6, 2, 16}, {12, 3, 34}, {8, 2, 128}, {32, 8, 64},
        {12, 2, 32}, {10, 1, 40}, {8, 4, 72}};
    int capacity = 700, slots = 4;
    for (int[] s : shapes) {
      int heads = s[0], kvHeads = s[1], headDim = s[2], width = heads * headDim;
      FilledCache c = filledCache(slots, capacity, kvHeads * headDim);
      BatchRows rows = new BatchRows(64);
      int[] tokens = new int[64];
      rows.addSequence(2, tokens, 0, 7, 253);   // crosses the chunk boundary at 256
      rows.addSequence(0, tokens, 0, 1, 0);     // a single key
      rows.addSequence(3, tokens, 0, 17, 600);  // three chunks
      rows.addSequence(1, tokens, 0, 2, 31);    // crosses a tile boundary
      int n = rows.rowCount();
      float[] q = Close.random(random, n * width, 2.0);
      Tensor qs = input("q", q, n, width), out = output("out", n, width);
      gpu.attention(qs, c.cache(), 0, heads, headDim, rows, out, false);
      float[] expected = referenceAttention(q, rows, c, heads, kvHeads, headDim, capacity);
      // Same bf16 keys/values on both sides; fp32 softmax and sums in another order: outputs are
      // convex combinations of |v| <= 1, so absolute errors stay near 1e-6.
      float[] block = down(out, n);
      assertClose("block attention " + Arrays.toString(s), expected, block, n * width, 2e-5, 0);

      // The whole ragged batch through the split-KV kernel (what verification blocks use): the same bits.
      Tensor split = output("split", n, width);
      gpu.attention(qs, c.cache(), 0, heads, headDim, rows, split, true);
      assertBitwise("split-KV kernel vs block kernel " + Arrays.toString(s), block, down(split, n), n * width);
      gpu.release(split);

      // Each row alone (one row per sequence): the decode kernel and the block kernel give the block's bits.
      for (int i = 0; i < n; i++) {
        BatchRows one = new BatchRows(1);
        one.addSequence(rows.slot(i), tokens, 0, 1, rows.position(i));
        Tensor q1 = input("q1", Arrays.copyOfRange(q, i * width, (i + 1) * width), 1, width);
        for (boolean decode : new boolean[] {true, false}) {
          Tensor o1 = output("o1", 1, width);
          gpu.attention(q1, c.cache(), 0, heads, headDim, one, o1, decode);
          assertBitwise((decode ? "decode" : "block") + " kernel, row " + i + " alone vs in the block "
              + Arrays.toString(s), Arrays.copyOfRange(block, i * width, (i + 1) * width), down(o1, 1), width);
          gpu.release(o1);
        }
        gpu.release(q1);
      }
      c.cache().close();
      gpu.release(qs);
      gpu.release(out);
    }
  }

  @Test
  void decodeAttentionServesABatchOfSequences() {
    int heads = 32, kvHeads = 8, headDim = 64, capacity = 1100, slots = 17;
    FilledCache c = filledCache(slots, capacity, kvHeads * headDim);
    BatchRows rows = new BatchRows(slots);
    int[] tokens = new int[1];
    for (int s = 0; s < slots; s++) rows.addSequence((s * 5) % slots, tokens, 0, 1, random.nextInt(capacity));
    int width = heads * headDim;
    float[] q = Close.random(random, slots * width, 2.0);
    Tensor qs = input("q", q, slots, width), out = output("out", slots, width);
    gpu.attention(qs, c.cache(), 0, heads, headDim, rows, out, true);
    float[] decode = down(out, slots);
    assertClose("decode attention, batch 17", referenceAttention(q, rows, c, heads, kvHeads, headDim, capacity), decode,
        slots * width, 2e-5, 0);
    gpu.poison(out);
    gpu.attention(qs, c.cache(), 0, heads, headDim, rows, out, false);
    assertBitwise("block kernel vs decode kernel, batch 17", decode, down(out, slots), slots * width);
    c.cache().close();
    gpu.release(qs);
    gpu.release(out);
  }

  @Test
  void argmaxIsTheLowestIndexOfTheMaximum() {
    for (int cols : new int[] {1, 7, 33, 4097, 128256}) {
      int n = 17;
      float[] x = Close.random(random, n * cols, 10.0);
      for (int i = 0; i < n; i += 3) {  // plant ties
        int a = random.nextInt(cols), b = random.nextInt(cols);
        x[i * cols + a] = 11f;
        x[i * cols + b] = 11f;
      }
      Tensor t = input("logits", x, n, cols);
      int[] got = new int[n];
      gpu.argmaxRows(t, n, got);
      for (int i = 0; i < n; i++) assertThat(got[i]).as("row %d of %d columns", i, cols).isEqualTo(Sampler.argmax(x, i * cols, cols));
      gpu.release(t);
    }
  }

  /**
   * Each row with its own parameters (greedy, temperature, top-k, top-p): the GPU draws the CPU
   * Sampler's token, except where u lies within 1e-6 of a boundary of the CPU's running sum or the
   * top-p cut lies within 1e-6 of the target mass (both reported).
   */
  @Test
  void samplingDrawsWhatTheCpuSamplerDraws() {
    SamplingParams[] settings = {new SamplingParams(0.3f, 0, 1f, 11), new SamplingParams(1f, 0, 1f, 12),
        new SamplingParams(1.7f, 0, 1f, 13), new SamplingParams(1f, 5, 1f, 14), new SamplingParams(0.8f, 0, 0.9f, 15),
        new SamplingParams(1.2f, 50, 0.7f, 16), new SamplingParams(1f, 1, 1f, 17), new SamplingParams(2f, 3, 0.5f, 18),
        SamplingParams.greedy()};
    int n = 45;
    List<String> nearBoundary = new ArrayList<>();
    int filteredRows = 0;
    for (int vocab : new int[] {7, 33, 4097, 128256}) {
      float[] logits = Close.random(random, n * vocab, 4.0);
      for (int i = 0; i < n; i += 9) logits[i * vocab + random.nextInt(vocab)] = logits[i * vocab];  // plant ties
      Tensor t = input("logits", logits, n, vocab);
      SamplingParams[] params = new SamplingParams[n];
      long[] sequences = new long[n];
      int[] positions = random.ints(n, 0, 100000).toArray();
      for (int i = 0; i < n; i++) {
        SamplingParams base = settings[i % settings.length];
        params[i] = base.isGreedy() ? base : new SamplingParams(base.temperature(), base.topK(), base.topP(),
            random.nextLong());
        sequences[i] = random.nextInt(1000);
      }
      int[] got = new int[n];
      gpu.sampleRows(t, n, params, sequences, positions, got);
      Sampler sampler = new Sampler(vocab);
      for (int i = 0; i < n; i++) {
        SamplingParams p = params[i];
        if (!p.isGreedy() && (p.topK() > 0 || p.topP() < 1f)) filteredRows++;
        int expected = sampler.sample(logits, i * vocab, p, sequences[i], positions[i]);
        if (got[i] == expected) continue;
        String where = "vocab " + vocab + ", row " + i + " (" + p + "): GPU drew " + got[i] + ", CPU " + expected;
        assertThat(p.isGreedy()).as(where).isFalse();
        if (p.topP() < 1f && topPCutIsAmbiguous(sampler, logits, i * vocab, p, vocab)) {
          nearBoundary.add(where + " (top-p cut)");
          continue;
        }
        float[] dist = new float[vocab];
        sampler.distribution(logits, i * vocab, p, dist);
        double cumulative = 0;
        for (int j = 0; j <= Math.min(expected, got[i]); j++) cumulative += dist[j];
        double u = Philox.uniform(p.seed(), sequences[i], positions[i], Philox.STREAM_SAMPLE);
        assertThat(Math.abs(cumulative - u)).as(where + ", away from a boundary").isLessThan(1e-6);
        nearBoundary.add(where + " (u)");
      }
      gpu.release(t);
    }
    assertThat(filteredRows).isGreaterThanOrEqualTo(80);
    if (!nearBoundary.isEmpty()) System.out.println("sampling: near a boundary: " + nearBoundary);
  }

  /** Whether moving top-p by a relative 1e-6 changes the kept set (the cut lies on the target mass). */
  private static boolean topPCutIsAmbiguous(Sampler sampler, float[] logits, int offset, SamplingParams p, int vocab) {
    float[] lower = new float[vocab], upper = new float[vocab];
    sampler.distribution(logits, offset, new SamplingParams(p.temperature(), p.topK(), p.topP() * (1 - 1e-6f), 1), lower);
    sampler.distribution(logits, offset, new SamplingParams(p.temperature(), p.topK(),
        Math.min(1f, p.topP() * (1 + 1e-6f)), 1), upper);
    for (int i = 0; i < vocab; i++) if ((lower[i] > 0) != (upper[i] > 0)) return true;
    return false;
  }
}
