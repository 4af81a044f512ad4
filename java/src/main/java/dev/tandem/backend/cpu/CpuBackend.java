package dev.tandem.backend.cpu;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.StoredMatrix;
import dev.tandem.backend.Tensor;
import dev.tandem.sampling.Acceptance;
import dev.tandem.sampling.Philox;
import dev.tandem.sampling.RejectionSampler;
import dev.tandem.sampling.Sampler;
import dev.tandem.sampling.SamplingParams;
import java.util.Arrays;

/**
 * The CPU backend. {@link #fast(int)}: Vector API kernels on a pool of threads, the embedded
 * default. {@link #reference()}: the plain scalar loops of {@link ScalarOps} on one thread, the truth
 * every other path is tested against.
 *
 * <p>Operations run synchronously. Work is split across threads by output columns (matrix
 * products) or by (row, head) pairs (attention), never inside one dot product, so results do not
 * depend on the thread count.
 */
public final class CpuBackend implements Backend {
  /** Multiply-adds under which an operation runs on the calling thread (about 30 us of work). */
  private static final long SMALL_WORK = 1L << 18;

  private final boolean reference;
  private final WorkerPool pool;
  private final float[][] scoreScratch;  // [worker][capacity]: attention scores
  private final float[][] rowScratch;    // [worker][k]: one stored weight row converted to fp32
  private float[] groupedRows = new float[0];  // matmul: the block's rows grouped for the tiles
  private Sampler sampler;               // sampleRows: scratch for one vocabulary size
  private RejectionSampler rejection;    // rejectionAccept: scratch for one vocabulary size
  private float[] distribution;           // sampleToDraftTable: one row's distribution, [vocab]
  private SamplingParams[] slotParams;   // setSlotSampling: per cache slot
  private long[] slotSequences;

  private CpuBackend(boolean reference, int threads) {
    this.reference = reference;
    this.pool = new WorkerPool(threads);
    this.scoreScratch = new float[threads][0];
    this.rowScratch = new float[threads][0];
  }

  /** The fast path on {@code threads} threads (0: all available processors). */
  public static CpuBackend fast(int threads) {
    return new CpuBackend(false, threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
  }

  /** The scalar reference, single-threaded. */
  public static CpuBackend reference() {
    return new CpuBackend(true, 1);
  }

  public boolean isReference() {
    return reference;
  }

  public int threads() {
    return pool.threads();
  }

  @Override
  public String name() {
    return reference ? "cpu-reference" : "cpu";
  }

  /**
   * The reference keeps weights row-major and takes ownership of {@code data}; the fast path packs
   * matrices (more than one row) into column panels, a copy, and keeps vectors as they are.
   */
  @Override
  public Tensor weights(String name, float[] data, int rows, int cols) {
    if ((long) rows * cols != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " floats for shape [" + rows + ", " + cols + "]");
    }
    if (reference || rows == 1) return new CpuTensor(name, data, rows, cols, false);
    return new CpuTensor(name, VectorOps.packPanels(data, rows, cols), rows, cols, true);
  }

  /**
   * F32 matrices (and vectors) take the fp32 path above; BF16, F16, Q8_0, Q4_0, Q4_K and Q6_K matrices
   * stay in their stored bytes (usually the mapped file): the products read them ({@link StoredOps};
   * the reference dequantizes a row at a time), the embedding lookup dequantizes one row.
   */
  @Override
  public Tensor weights(StoredMatrix m) {
    if (m.format() == dev.tandem.io.gguf.GgufTensorType.F32 || m.rows() == 1) {
      return weights(m.name(), m.toFloats(), m.rows(), m.cols());
    }
    return new CpuStoredTensor(m);
  }

  @Override
  public Tensor table(String name, float[] data, int rows, int cols) {
    if ((long) rows * cols != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " floats for shape [" + rows + ", " + cols + "]");
    }
    return new CpuTensor(name, data, rows, cols, false);
  }

  @Override
  public Tensor allocate(String name, int rows, int cols) {
    long size = (long) rows * cols;
    if (size > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("activation " + name + " [" + rows + "][" + cols + "] is too large for one array");
    }
    return new CpuTensor(name, new float[(int) size], rows, cols, false);
  }

  @Override
  public KvCache allocateKvCache(int layers, int slots, int capacity, int kvDim) {
    return new CpuKvCache(layers, slots, capacity, kvDim);
  }

  @Override
  public void embed(Tensor table, BatchRows rows, Tensor out) {
    float[] o = CpuTensor.of(out).rowMajor();
    int d = table.cols();
    if (table instanceof CpuStoredTensor stored) {  // one row dequantized per token
      float[] drafts = rows.hasDraftRows() ? CpuTensor.of(rows.draftTable()).rowMajor() : null;
      for (int i = 0; i < rows.rowCount(); i++) {
        int ref = rows.draftRef(i);
        int token = ref < 0 ? rows.token(i) : (int) drafts[rows.slot(i) * rows.draftTable().cols() + ref];
        if (token < 0 || token >= table.rows()) {
          throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + table.rows() + ")");
        }
        stored.matrix().dequantizeRow(token, o, i * d);
      }
      return;
    }
    CpuTensor t = CpuTensor.of(table);
    float[] drafts = rows.hasDraftRows() ? CpuTensor.of(rows.draftTable()).rowMajor() : null;
    for (int i = 0; i < rows.rowCount(); i++) {
      int ref = rows.draftRef(i);
      int token = ref < 0 ? rows.token(i) : (int) drafts[rows.slot(i) * rows.draftTable().cols() + ref];
      if (token < 0 || token >= t.rows()) {
        throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + t.rows() + ")");
      }
      if (t.packed()) {
        for (int j = 0; j < d; j++) o[i * d + j] = t.get(token, j);
      } else {
        System.arraycopy(t.data(), token * d, o, i * d, d);
      }
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor gain, float eps, int n, Tensor out) {
    float[] xs = CpuTensor.of(x).rowMajor(), g = CpuTensor.of(gain).rowMajor(), o = CpuTensor.of(out).rowMajor();
    int d = x.cols();
    forRows(n, d, i -> {
      if (reference) ScalarOps.rmsNorm(xs, i * d, g, eps, d, o, i * d);
      else VectorOps.rmsNorm(xs, i * d, g, eps, d, o, i * d);
    });
  }

  @Override
  public void matmul(Tensor x, Tensor w, int n, Tensor out) {
    matmul(x, new Tensor[] {w}, n, new Tensor[] {out});
  }

  @Override
  public void matmul(Tensor x, Tensor[] ws, int n, Tensor[] outs) {
    float[] xs = CpuTensor.of(x).rowMajor();
    int k = x.cols();
    int storedCount = 0;
    for (Tensor w : ws) if (w instanceof CpuStoredTensor) storedCount++;
    if (storedCount == ws.length) {
      matmulStored(xs, k, ws, n, outs);
      return;
    }
    if (storedCount > 0) {  // stored formats apart, then any fp32 ones: each output is computed alone either way
      Tensor[] stored = new Tensor[storedCount], storedOuts = new Tensor[storedCount];
      Tensor[] floats = new Tensor[ws.length - storedCount], floatOuts = new Tensor[ws.length - storedCount];
      for (int m = 0, a = 0, b = 0; m < ws.length; m++) {
        if (ws[m] instanceof CpuStoredTensor) {
          stored[a] = ws[m];
          storedOuts[a++] = outs[m];
        } else {
          floats[b] = ws[m];
          floatOuts[b++] = outs[m];
        }
      }
      matmulStored(xs, k, stored, n, storedOuts);
      if (floats.length > 0) matmul(x, floats, n, floatOuts);
      return;
    }
    for (int m = 0; m < ws.length; m++) {
      if (ws[m].cols() != k) {
        throw new IllegalArgumentException("matmul " + ws[m].name() + ": weight has " + ws[m].cols()
            + " input features, activation " + x.name() + " has " + k);
      }
      if (outs[m].cols() != ws[m].rows()) {
        throw new IllegalArgumentException("matmul " + ws[m].name() + ": output " + outs[m].name() + " has "
            + outs[m].cols() + " columns, expected " + ws[m].rows());
      }
    }
    if (reference) {
      for (int m = 0; m < ws.length; m++) {
        ScalarOps.matmul(xs, n, k, CpuTensor.of(ws[m]).rowMajor(), ws[m].rows(), CpuTensor.of(outs[m]).rowMajor());
      }
      return;
    }
    // Split the concatenated column panels of all weights into about 4 chunks per thread.
    int lanes = VectorOps.LANES;
    int[] panelStart = new int[ws.length + 1];
    for (int m = 0; m < ws.length; m++) panelStart[m + 1] = panelStart[m] + (ws[m].rows() + lanes - 1) / lanes;
    int totalPanels = panelStart[ws.length];
    // Small products (a tiny drafter's layers) run on the calling thread: waking the pool costs more.
    long work = (long) n * totalPanels * lanes * k;
    int chunk = work < SMALL_WORK ? totalPanels
        : Math.max(2, roundUp((totalPanels + pool.threads() * 4 - 1) / (pool.threads() * 4), 2));
    int tasks = (totalPanels + chunk - 1) / chunk;
    float[] grouped = n > 1 ? (groupedRows = VectorOps.groupRows(xs, n, k, groupedRows)) : null;
    pool.run(tasks, (task, worker) -> {
      int c0 = task * chunk, c1 = Math.min(totalPanels, c0 + chunk);
      for (int m = 0; m < ws.length; m++) {
        int lo = Math.max(c0, panelStart[m]), hi = Math.min(c1, panelStart[m + 1]);
        if (lo < hi) {
          CpuTensor w = CpuTensor.of(ws[m]);
          VectorOps.matmulPanels(xs, grouped, n, k, w.data(), w.rows(), CpuTensor.of(outs[m]).rowMajor(),
              lo - panelStart[m], hi - panelStart[m]);
        }
      }
    });
  }

  /** Weight rows per task of a stored-format product. */
  private static final int STORED_ROWS_PER_TASK = 16;

  /**
   * Products with weights in their stored formats: tasks of {@link #STORED_ROWS_PER_TASK} weight rows
   * (output features) across all weights, each row against the block's activation rows in tiles of
   * up to 4 ({@link StoredOps}).
   */
  private void matmulStored(float[] xs, int k, Tensor[] ws, int n, Tensor[] outs) {
    for (int m = 0; m < ws.length; m++) checkShapes(k, ws[m], outs[m]);
    if (reference) {
      float[] row = new float[k];
      for (int m = 0; m < ws.length; m++) {
        StoredMatrix w = ((CpuStoredTensor) ws[m]).matrix();
        float[] out = CpuTensor.of(outs[m]).rowMajor();
        for (int i = 0; i < n; i++) {
          for (int o = 0; o < w.rows(); o++) out[i * w.rows() + o] = StoredOps.reference(w, o, xs, i * k, row);
        }
      }
      return;
    }
    int[] taskStart = new int[ws.length + 1];  // first task of each weight
    for (int m = 0; m < ws.length; m++) {
      taskStart[m + 1] = taskStart[m] + (ws[m].rows() + STORED_ROWS_PER_TASK - 1) / STORED_ROWS_PER_TASK;
    }
    ensureRowScratch(k);
    WorkerPool.Body body = (task, worker) -> {
      int m = 0;
      while (task >= taskStart[m + 1]) m++;
      StoredMatrix w = ((CpuStoredTensor) ws[m]).matrix();
      float[] out = CpuTensor.of(outs[m]).rowMajor();
      int o0 = (task - taskStart[m]) * STORED_ROWS_PER_TASK, o1 = Math.min(w.rows(), o0 + STORED_ROWS_PER_TASK);
      for (int o = o0; o < o1; o++) StoredOps.weightRowTimesRows(w, o, xs, n, out, w.rows(), rowScratch[worker]);
    };
    int tasks = taskStart[ws.length];
    long work = 0;
    for (Tensor w : ws) work += (long) n * w.rows() * k;
    if (work < SMALL_WORK) {
      for (int task = 0; task < tasks; task++) body.run(task, 0);
    } else {
      pool.run(tasks, body);
    }
  }

  private static void checkShapes(int k, Tensor w, Tensor out) {
    if (w.cols() != k) {
      throw new IllegalArgumentException("matmul " + w.name() + ": weight has " + w.cols() + " input features, activation has " + k);
    }
    if (out.cols() != w.rows()) {
      throw new IllegalArgumentException("matmul " + w.name() + ": output " + out.name() + " has " + out.cols()
          + " columns, expected " + w.rows());
    }
  }

  private static int roundUp(int v, int multiple) {
    return (v + multiple - 1) / multiple * multiple;
  }

  @Override
  public void rope(Tensor x, int heads, int headDim, Tensor ropeTable, BatchRows rows) {
    float[] xs = CpuTensor.of(x).rowMajor();
    CpuTensor table = CpuTensor.of(ropeTable);
    int width = x.cols();
    for (int i = 0; i < rows.rowCount(); i++) {
      int position = rows.position(i);
      if (position >= table.rows()) {
        throw new IllegalArgumentException("position " + position + " beyond the rotary table of " + table.rows());
      }
      if (reference) ScalarOps.rope(xs, i * width, heads, headDim, table.rowMajor(), position * headDim);
      else VectorOps.rope(xs, i * width, heads, headDim, table.rowMajor(), position * headDim);
    }
  }

  @Override
  public void kvStore(KvCache cache, int layer, Tensor k, Tensor v, BatchRows rows) {
    CpuKvCache c = CpuKvCache.of(cache);
    float[] ks = CpuTensor.of(k).rowMajor(), vs = CpuTensor.of(v).rowMajor();
    int kvDim = c.kvDim();
    for (int i = 0; i < rows.rowCount(); i++) {
      int position = rows.position(i);
      if (position >= c.capacity()) {
        throw new IllegalArgumentException("position " + position + " beyond the KV cache capacity " + c.capacity());
      }
      int at = c.offset(rows.slot(i), position);
      System.arraycopy(ks, i * kvDim, c.keys[layer], at, kvDim);
      System.arraycopy(vs, i * kvDim, c.values[layer], at, kvDim);
    }
  }

  @Override
  public void attention(Tensor q, KvCache cache, int layer, int heads, int headDim, BatchRows rows, Tensor out) {
    CpuKvCache c = CpuKvCache.of(cache);
    float[] qs = CpuTensor.of(q).rowMajor(), os = CpuTensor.of(out).rowMajor();
    float[] keys = c.keys[layer], values = c.values[layer];
    int kvDim = c.kvDim();
    int kvHeads = kvDim / headDim;
    int group = heads / kvHeads;
    int width = heads * headDim;
    int n = rows.rowCount();
    ensureScoreScratch(c.capacity());
    if (reference) {
      for (int i = 0; i < n; i++) {
        ScalarOps.attention(qs, i * width, keys, values, c.offset(rows.slot(i), 0), rows.position(i) + 1,
            heads, kvHeads, headDim, os, i * width, scoreScratch[0]);
      }
      return;
    }
    float scale = (float) (1.0 / Math.sqrt(headDim));
    WorkerPool.Body attend = (task, worker) -> {
      int i = task / heads, h = task % heads;
      int kvBase = c.offset(rows.slot(i), 0) + (h / group) * headDim;
      VectorOps.attendHead(qs, i * width + h * headDim, keys, values, kvBase, kvDim, rows.position(i) + 1,
          headDim, scale, os, i * width + h * headDim, scoreScratch[worker]);
    };
    long work = 0;
    for (int i = 0; i < n; i++) work += (long) (rows.position(i) + 1) * heads * headDim;
    if (work < SMALL_WORK) {  // short contexts: the calling thread, no pool wake-up
      for (int task = 0; task < n * heads; task++) attend.run(task, 0);
    } else {
      pool.run(n * heads, attend);
    }
  }

  private void ensureRowScratch(int k) {
    for (int w = 0; w < rowScratch.length; w++) {
      if (rowScratch[w].length < k) rowScratch[w] = new float[k];
    }
  }

  private void ensureScoreScratch(int capacity) {
    for (int w = 0; w < scoreScratch.length; w++) {
      if (scoreScratch[w].length < capacity) scoreScratch[w] = new float[capacity];
    }
  }

  @Override
  public void swiglu(Tensor gate, Tensor up, int n, Tensor out) {
    float[] g = CpuTensor.of(gate).rowMajor(), u = CpuTensor.of(up).rowMajor(), o = CpuTensor.of(out).rowMajor();
    int f = gate.cols();
    forRows(n, f, i -> {
      if (reference) ScalarOps.swiglu(g, u, o, i * f, f);
      else VectorOps.swiglu(g, u, o, i * f, f);
    });
  }

  @Override
  public void add(Tensor x, Tensor delta, int n) {
    float[] xs = CpuTensor.of(x).rowMajor(), ds = CpuTensor.of(delta).rowMajor();
    int d = x.cols();
    forRows(n, d, i -> {
      if (reference) ScalarOps.add(xs, ds, i * d, d);
      else VectorOps.add(xs, ds, i * d, d);
    });
  }

  @Override
  public void addBias(Tensor x, Tensor bias, int n) {
    if (bias.rows() != 1 || bias.cols() != x.cols()) {
      throw new IllegalArgumentException("addBias: bias " + bias.name() + " is [" + bias.rows() + "][" + bias.cols()
          + "], expected [1][" + x.cols() + "] for " + x.name());
    }
    float[] xs = CpuTensor.of(x).data(), b = CpuTensor.of(bias).data();
    int d = x.cols();
    forRows(n, d, i -> {
      if (reference) ScalarOps.addBias(xs, i * d, b, d);
      else VectorOps.addBias(xs, i * d, b, d);
    });
  }

  /** Runs a per-row body, across threads when there is enough work to pay for it. */
  private void forRows(int n, int width, java.util.function.IntConsumer body) {
    if (reference || (long) n * width < 64 * 1024) {
      for (int i = 0; i < n; i++) body.accept(i);
    } else {
      pool.run(n, (row, worker) -> body.accept(row));
    }
  }

  @Override
  public void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int count) {
    if (src.cols() != dst.cols()) {
      throw new IllegalArgumentException("copyRows: " + src.name() + " has " + src.cols() + " columns, "
          + dst.name() + " has " + dst.cols());
    }
    int d = src.cols();
    System.arraycopy(CpuTensor.of(src).rowMajor(), srcRow * d, CpuTensor.of(dst).rowMajor(), dstRow * d, count * d);
  }

  @Override
  public void download(Tensor t, int n, float[] dst) {
    System.arraycopy(CpuTensor.of(t).rowMajor(), 0, dst, 0, n * t.cols());
  }

  @Override
  public void argmaxRows(Tensor t, int n, int[] dst) {
    float[] data = CpuTensor.of(t).rowMajor();
    for (int i = 0; i < n; i++) dst[i] = Sampler.argmax(data, i * t.cols(), t.cols());
  }

  @Override
  public void sampleRows(Tensor logits, int n, SamplingParams[] params, long[] sequences, int[] positions, int[] dst) {
    float[] data = CpuTensor.of(logits).rowMajor();
    int vocab = logits.cols();
    if (sampler == null || sampler.vocabSize() != vocab) sampler = new Sampler(vocab);
    for (int i = 0; i < n; i++) dst[i] = sampler.sample(data, i * vocab, params[i], sequences[i], positions[i]);
  }

  @Override
  public void argmaxToDraftTable(Tensor logits, BatchRows rows, Tensor table, int column) {
    float[] data = CpuTensor.of(logits).rowMajor(), drafts = CpuTensor.of(table).rowMajor();
    int vocab = logits.cols();
    for (int i = 0; i < rows.sequenceCount(); i++) {
      drafts[rows.sequenceSlot(i) * table.cols() + column] = Sampler.argmax(data, i * vocab, vocab);
    }
  }

  @Override
  public void setSlotSampling(SamplingParams[] params, long[] sequences, int n) {
    slotParams = Arrays.copyOf(params, n);
    slotSequences = Arrays.copyOf(sequences, n);
  }

  @Override
  public void sampleToDraftTable(Tensor logits, BatchRows rows, Tensor table, Tensor q, int column) {
    float[] data = CpuTensor.of(logits).rowMajor(), drafts = CpuTensor.of(table).rowMajor();
    float[] distributions = CpuTensor.of(q).rowMajor();
    int vocab = logits.cols(), stride = table.cols();
    if (sampler == null || sampler.vocabSize() != vocab) sampler = new Sampler(vocab);
    if (distribution == null || distribution.length != vocab) distribution = new float[vocab];
    float[] p = distribution;
    for (int i = 0; i < rows.sequenceCount(); i++) {
      int slot = rows.sequenceSlot(i), row = slot * stride + column;
      int position = rows.position(rows.lastRow(i)) + 1;
      sampler.distribution(data, i * vocab, slotParams[slot], p);
      System.arraycopy(p, 0, distributions, row * vocab, vocab);
      drafts[row] = Sampler.draw(p, Philox.uniform(slotParams[slot].seed(), slotSequences[slot], position,
          Philox.STREAM_DRAFT));
    }
  }

  @Override
  public void rejectionAccept(Tensor logits, BatchRows rows, Tensor table, Tensor q, int[] out) {
    float[] data = CpuTensor.of(logits).rowMajor(), drafts = CpuTensor.of(table).rowMajor();
    float[] distributions = CpuTensor.of(q).rowMajor();
    int vocab = logits.cols(), stride = table.cols();
    if (rejection == null || rejection.vocabSize() != vocab) rejection = new RejectionSampler(vocab);
    for (int i = 0; i < rows.sequenceCount(); i++) {
      int slot = rows.sequenceSlot(i), k = rows.sequenceLength(i) - 1, base = slot * stride;
      int[] d = new int[k];
      float[][] qs = new float[k][];
      for (int j = 0; j < k; j++) {
        d[j] = (int) drafts[base + j];
        qs[j] = Arrays.copyOfRange(distributions, (base + j) * vocab, (base + j + 1) * vocab);
      }
      Acceptance verdict = rejection.verify(data, rows.sequenceStart(i), d, qs, k, slotParams[slot],
          slotSequences[slot], rows.position(rows.sequenceStart(i)) + 1);
      out[i * (2 + stride)] = verdict.accepted();
      out[i * (2 + stride) + 1] = verdict.next();
      System.arraycopy(d, 0, out, i * (2 + stride) + 2, k);
    }
  }

  @Override
  public void greedyAccept(Tensor logits, BatchRows rows, Tensor table, int[] out) {
    float[] data = CpuTensor.of(logits).rowMajor(), drafts = CpuTensor.of(table).rowMajor();
    int vocab = logits.cols(), stride = table.cols();
    for (int i = 0; i < rows.sequenceCount(); i++) {
      int start = rows.sequenceStart(i), k = rows.sequenceLength(i) - 1, base = rows.sequenceSlot(i) * stride;
      int a = 0;
      while (a < k && Sampler.argmax(data, (start + a) * vocab, vocab) == (int) drafts[base + a]) a++;
      out[i * (2 + stride)] = a;
      out[i * (2 + stride) + 1] = Sampler.argmax(data, (start + a) * vocab, vocab);
      for (int j = 0; j < k; j++) out[i * (2 + stride) + 2 + j] = (int) drafts[base + j];
    }
  }

  @Override
  public void release(Tensor t) {
    if (t instanceof CpuStoredTensor) return;  // the mapping goes with the checkpoint
    CpuTensor.of(t);  // the garbage collector frees it
  }

  @Override
  public void synchronize() {}

  @Override
  public void close() {
    pool.close();
  }
}
