package dev.tandem.backend;

import dev.tandem.sampling.SamplingParams;

/**
 * The operations a decoder forward pass is written against. Implementations: the CPU backend (a
 * fast Vector API path, or the plain scalar reference) and the CUDA backend.
 *
 * <p>Conventions: every operation works on the first {@code n} rows of its activation tensors
 * (for operations that take a {@link BatchRows}, {@code n = rows.rowCount()}); operations are
 * issued in order and may run asynchronously until {@link #download} or {@link #synchronize}.
 * <b>Batch invariance</b>: the result for one row never depends on the other rows, bit for bit, so
 * a block of positions and the same positions one at a time give identical results.
 */
public interface Backend extends AutoCloseable {
  /** A short name, e.g. {@code cpu}, {@code cpu-reference}, {@code cuda}. */
  String name();

  /** Uploads a weight matrix {@code [rows][cols]} (a norm gain is {@code [1][cols]}). */
  Tensor weights(String name, float[] data, int rows, int cols);

  /**
   * Uploads a weight matrix in its stored format. The default converts it to fp32 ({@link
   * StoredMatrix#toFloats}) for {@link #weights(String, float[], int, int)}; the CPU backend keeps
   * quantized and 16-bit formats as they are and computes on the packed bytes.
   */
  default Tensor weights(StoredMatrix m) {
    return weights(m.name(), m.toFloats(), m.rows(), m.cols());
  }

  /** A read-only fp32 lookup table {@code [rows][cols]} (rotary angles), stored exactly as given. */
  Tensor table(String name, float[] data, int rows, int cols);

  /** An fp32 activation buffer {@code [rows][cols]}, contents undefined. */
  Tensor allocate(String name, int rows, int cols);

  /**
   * Bytes a new buffer ({@link #allocateKvCache}, {@link #table}) can still take where this backend keeps
   * them: the JVM heap for the CPU, free device memory for a GPU. Checked before sizing by the context.
   */
  default long availableBytes() {
    return MemoryCheck.hostAvailable();
  }

  /** Where {@link #availableBytes} is measured, for messages ("host", "GPU"). */
  default String memoryName() {
    return "host";
  }

  /** Keys and values for {@code layers} layers and {@code slots} sequences of {@code capacity} positions. */
  KvCache allocateKvCache(int layers, int slots, int capacity, int kvDim);

  /**
   * {@code out[i] = table[token]}, token = rows.token(i), or for a draft row the id in its draft
   * table ({@link BatchRows#draftRef}). table: [vocab][d], out: [n][d].
   */
  void embed(Tensor table, BatchRows rows, Tensor out);

  /** {@code out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * gain}. x, out: [n][d], gain: [1][d]. */
  void rmsNorm(Tensor x, Tensor gain, float eps, int n, Tensor out);

  /** {@code out[i][o] = sum_k x[i][k] * w[o][k]} (w in the Hugging Face Linear layout [out][in]). */
  void matmul(Tensor x, Tensor w, int n, Tensor out);

  /**
   * Several products of the same input in one pass over it: {@code outs[m] = x * ws[m]^T}.
   * Equal, bit for bit, to calling {@link #matmul} once per weight.
   */
  void matmul(Tensor x, Tensor[] ws, int n, Tensor[] outs);

  /**
   * The products of a pre-norm: {@code outs[m] = rmsNorm(x, gain) * ws[m]^T}, computed here as
   * {@link #rmsNorm} into {@code normed} ([n][k]) then {@link #matmul}. A device backend may fold the
   * norm into the products (the inverse RMS factors out of each sum; the same function, rounded
   * differently, still batch invariant) and then leaves {@code normed} unwritten.
   */
  default void normMatmul(Tensor x, Tensor gain, float eps, Tensor normed, Tensor[] ws, int n, Tensor[] outs) {
    rmsNorm(x, gain, eps, n, normed);
    matmul(normed, ws, n, outs);
  }

  /**
   * A projection added into the residual stream: {@code residual += x * w^T}. Equal, bit for bit,
   * to {@link #matmul} into {@code product} ([n][m]) then {@link #add}; a device backend may add in
   * the product's epilogue (and then leaves {@code product} unwritten).
   */
  default void matmulAdd(Tensor x, Tensor w, int n, Tensor residual, Tensor product) {
    matmul(x, w, n, product);
    add(residual, product, n);
  }

  /**
   * The first half of the MLP: {@code hidden = silu(gate) * up} with {@code gate = rmsNorm(x) *
   * wGate^T}, {@code up = rmsNorm(x) * wUp^T}: {@link #normMatmul} into {@code gate} and {@code up}
   * then {@link #swiglu}. A device backend may fuse all three (rounding as its normMatmul does) and
   * then leaves {@code normed}, {@code gate} and {@code up} unwritten.
   */
  default void normGateUpSwiglu(Tensor x, Tensor gain, float eps, Tensor normed, Tensor wGate, Tensor wUp, int n,
      Tensor gate, Tensor up, Tensor hidden) {
    normMatmul(x, gain, eps, normed, new Tensor[] {wGate, wUp}, n, new Tensor[] {gate, up});
    swiglu(gate, up, n, hidden);
  }

  /**
   * Rotary embedding in place, Hugging Face "rotate half" convention, for each of {@code heads}
   * heads of width {@code headDim} in every row, at position {@code rows.position(i)}.
   * x: [n][heads*headDim]; ropeTable: [positions][headDim] holding cos in the first half of each row
   * and sin in the second half (see {@code RopeTable}).
   */
  void rope(Tensor x, int heads, int headDim, Tensor ropeTable, BatchRows rows);

  /**
   * {@link #rope} on the queries (skipped when {@code q} is null) and the keys, then {@link #kvStore}
   * of the rotated keys and the values: the attention block's prologue. Backends may fuse it into
   * one pass; afterwards the contents of {@code k} are unspecified (only the cache holds the
   * rotated keys).
   */
  default void ropeAndStore(Tensor q, int heads, Tensor k, Tensor v, int kvHeads, int headDim, Tensor ropeTable,
      KvCache cache, int layer, BatchRows rows) {
    if (q != null) rope(q, heads, headDim, ropeTable, rows);
    rope(k, kvHeads, headDim, ropeTable, rows);
    kvStore(cache, layer, k, v, rows);
  }

  /** Writes row i's key and value into {@code cache} at (layer, rows.slot(i), rows.position(i)). */
  void kvStore(KvCache cache, int layer, Tensor k, Tensor v, BatchRows rows);

  /**
   * Causal grouped-query attention: row i's query attends over positions {@code 0..rows.position(i)}
   * of its slot's cache (which already holds this pass's keys and values, so the block is causal
   * inside itself). q, out: [n][heads*headDim]; scale 1/sqrt(headDim); query head h reads key/value
   * head {@code h / (heads / kvHeads)}.
   */
  void attention(Tensor q, KvCache cache, int layer, int heads, int headDim, BatchRows rows, Tensor out);

  /** {@code out = silu(gate) * up}, elementwise. gate, up, out: [n][f]. */
  void swiglu(Tensor gate, Tensor up, int n, Tensor out);

  /** {@code x += delta}. x, delta: [n][d]. */
  void add(Tensor x, Tensor delta, int n);

  /** {@code x[i] += bias[0]} for each of the first n rows. x: [n][d], bias: [1][d] (Qwen2's q/k/v biases). */
  void addBias(Tensor x, Tensor bias, int n);

  /** Copies {@code count} rows from src (starting at srcRow) to dst (starting at dstRow). */
  void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int count);

  /**
   * The index of the largest value of each of the first {@code n} rows of {@code t} (lowest index
   * on ties) into {@code dst[0..n)}, waiting for pending work. Greedy decoding without moving whole
   * rows of logits to the host.
   */
  void argmaxRows(Tensor t, int n, int[] dst);

  /**
   * A token for each of the first n rows of logits, as {@link dev.tandem.sampling.Sampler#sample}
   * picks it with {@code params[i]} for ({@code sequences[i]}, {@code positions[i]}): greedy rows
   * take the argmax; sampled rows apply temperature, top-k and top-p and draw with Philox. Waits for
   * pending work. Only the token ids leave the device.
   */
  void sampleRows(Tensor logits, int n, SamplingParams[] params, long[] sequences, int[] positions, int[] dst);

  /**
   * Greedy drafting without a host round trip: for each sequence i of {@code rows}, the argmax of
   * logits row i (lowest index on ties) goes to {@code table[rows.sequenceSlot(i)][column]} (token
   * ids stored as floats; table: [slots][maxDrafts]). Does not wait.
   */
  void argmaxToDraftTable(Tensor logits, BatchRows rows, Tensor table, int column);

  /**
   * Greedy verification of a pass whose sequence i holds a host token and then k_i draft rows reading
   * columns 0..k_i-1 of its slot's row of {@code table}, with logits for every row: for each
   * sequence, {@code out[i * (2 + maxDrafts)]} = a, the accepted drafts (the longest prefix where the
   * argmax of row start+j equals draft j), {@code [.. + 1]} = the argmax of row start+a (the primary's
   * token), {@code [.. + 2 + j]} = draft j for j < k_i (later entries are unspecified). Waits for
   * pending work (a SPEED round's one synchronisation).
   */
  void greedyAccept(Tensor logits, BatchRows rows, Tensor table, int[] out);

  /**
   * The sampling parameters and sequence ids (the random counter's sequence word) of the sequences in
   * cache slots 0..n, for {@link #sampleToDraftTable} and {@link #rejectionAccept} (set once per
   * batch of requests; may wait).
   */
  void setSlotSampling(SamplingParams[] params, long[] sequences, int n);

  /**
   * Sampled drafting without a host round trip: for each sequence i of {@code rows} (slot s), the
   * filtered distribution of logits row i under the slot's parameters
   * ({@link dev.tandem.sampling.Sampler#distribution}) goes to row {@code s * maxDrafts + column} of
   * {@code q} ([slots * maxDrafts][vocab]) and the token drawn from it, with the uniform of stream
   * {@code STREAM_DRAFT} at the position after the sequence's last row, to {@code table[s][column]}.
   * Does not wait.
   */
  void sampleToDraftTable(Tensor logits, BatchRows rows, Tensor table, Tensor q, int column);

  /**
   * Sampled verification of a pass laid out as for {@link #greedyAccept}: for each sequence (slot s),
   * {@link dev.tandem.sampling.RejectionSampler#verify} under the slot's parameters, with the drafts
   * and their distributions from {@code table} and {@code q}, draft 0 at the position after the
   * sequence's first row; {@code out} as for {@link #greedyAccept}. Waits for pending work (a sampled
   * SPEED round's one synchronisation).
   */
  void rejectionAccept(Tensor logits, BatchRows rows, Tensor table, Tensor q, int[] out);

  /** Copies the first {@code n} rows of t to {@code dst} (row-major), waiting for pending work. */
  void download(Tensor t, int n, float[] dst);

  /** Frees a tensor's memory; the tensor must not be used afterwards. */
  void release(Tensor t);

  /** Waits until every issued operation has finished. */
  void synchronize();

  @Override
  void close();
}
