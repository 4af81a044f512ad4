package dev.tandem.model;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Llama-style decoder on a {@link Backend}, run in block mode: one call processes any number of
 * consecutive positions of one or more sequences (a {@link BatchRows}), appends their keys and
 * values to the KV cache, and produces logits for the rows asked for and, optionally, the residual
 * stream after chosen layers (what the tandem secondary reads).
 *
 * <p>Every buffer is allocated here, once, for at most {@code maxRows} rows per pass.
 */
public final class Decoder implements AutoCloseable {
  private final LlamaConfig config;
  private final Backend backend;
  private final int maxRows;
  private final int contextLength;
  private final int[] captureLayers;  // residual stream after these layers (0 = the embeddings)

  // Weights.
  private final Tensor embedding;   // [vocab][d]
  private final DecoderLayer[] layers;
  private final Tensor finalNorm;   // [1][d]
  private final Tensor lmHead;      // [vocab][d] (the embedding table when tied)
  private final Tensor ropeTable;   // [contextLength][headDim]

  // Activations, [maxRows][...].
  private final Tensor x;           // [rows][d]      the residual stream
  private final Tensor xNormed;     // [rows][d]
  private final Tensor q;           // [rows][d]
  private final Tensor k;           // [rows][kvDim]
  private final Tensor v;           // [rows][kvDim]
  private final Tensor attended;    // [rows][d]
  private final Tensor projected;   // [rows][d]      attention or MLP output before the residual add
  private final Tensor gate;        // [rows][f]
  private final Tensor up;          // [rows][f]
  private final Tensor hidden;      // [rows][f]
  private final Tensor lastRows;    // [rows][d]      final-normed rows that get logits
  private final Tensor logits;      // [rows][vocab]
  private final Tensor[] captured;  // [captureLayers.length] x [rows][d]
  private final Tensor[] qkvOut;
  private final Tensor[] keyValueOut;
  private final Tensor[] lmHeadOnly;
  private final Tensor[] logitsOnly;

  private LogitsMode lastMode = LogitsMode.NONE;
  private int logitRows;

  /**
   * @param contextLength positions per sequence this decoder serves (the rotary table and the KV
   *                      caches it creates); at most max_position_embeddings
   * @param maxRows       rows per forward pass (sum over the sequences of a batch)
   * @param captureLayers layers after which to keep the residual stream (0 = embeddings, L = last)
   */
  public Decoder(ModelWeights weights, Backend backend, int contextLength, int maxRows, int... captureLayers) {
    this.config = weights.config();
    this.backend = backend;
    this.maxRows = maxRows;
    LlamaConfig c = config;
    if (contextLength <= 0 || contextLength > c.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("context length " + contextLength + " outside [1, max_position_embeddings="
          + c.maxPositionEmbeddings() + "]");
    }
    if (maxRows <= 0) throw new IllegalArgumentException("maxRows must be > 0, got " + maxRows);
    this.contextLength = contextLength;
    for (int layer : captureLayers) {
      if (layer < 0 || layer > c.numHiddenLayers()) {
        throw new IllegalArgumentException("capture layer " + layer + " outside [0, " + c.numHiddenLayers() + "]");
      }
    }
    this.captureLayers = captureLayers.clone();
    int d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim(), vocab = c.vocabSize();

    embedding = backend.weights(weights.matrix(TensorNames.EMBEDDING, vocab, d));
    layers = new DecoderLayer[c.numHiddenLayers()];
    for (int l = 0; l < layers.length; l++) layers[l] = new DecoderLayer(backend, weights, l);
    finalNorm = backend.weights(TensorNames.FINAL_NORM, weights.get(TensorNames.FINAL_NORM), 1, d);
    lmHead = c.tieWordEmbeddings() ? embedding
        : backend.weights(weights.matrix(TensorNames.LM_HEAD, vocab, d));
    // sized by the context: computed and checked before anything that large is allocated
    long ropeElements = (long) contextLength * c.headDim();
    long ropeFit = Math.min((Integer.MAX_VALUE - 16L) / c.headDim(),
        Math.min(dev.tandem.backend.MemoryCheck.hostAvailable(), backend.availableBytes()) / (4L * c.headDim()));
    String shorter = "give a smaller --context (at most about " + ropeFit + " for the RoPE table here)";
    dev.tandem.backend.MemoryCheck.require("the RoPE table for a context of " + contextLength,
        contextLength + " positions x " + c.headDim() + " x 4 bytes", 4 * ropeElements, ropeElements,
        dev.tandem.backend.MemoryCheck.hostAvailable(), "host", shorter);
    if (!backend.memoryName().equals("host")) {
      dev.tandem.backend.MemoryCheck.require("the RoPE table for a context of " + contextLength,
          contextLength + " positions x " + c.headDim() + " x 4 bytes", 4 * ropeElements, 0, backend.availableBytes(),
          backend.memoryName(), shorter);
    }
    ropeTable = backend.table("rope", RopeTable.build(contextLength, c.headDim(), RopeTable.inverseFrequencies(c)),
        contextLength, c.headDim());

    x = backend.allocate("x", maxRows, d);
    xNormed = backend.allocate("x_normed", maxRows, d);
    q = backend.allocate("q", maxRows, d);
    k = backend.allocate("k", maxRows, kv);
    v = backend.allocate("v", maxRows, kv);
    attended = backend.allocate("attended", maxRows, d);
    projected = backend.allocate("projected", maxRows, d);
    gate = backend.allocate("gate", maxRows, f);
    up = backend.allocate("up", maxRows, f);
    hidden = backend.allocate("hidden", maxRows, f);
    lastRows = backend.allocate("last_rows", maxRows, d);
    logits = backend.allocate("logits", maxRows, vocab);
    captured = new Tensor[captureLayers.length];
    for (int i = 0; i < captured.length; i++) captured[i] = backend.allocate("hidden_" + captureLayers[i], maxRows, d);
    qkvOut = new Tensor[] {q, k, v};
    keyValueOut = new Tensor[] {k, v};
    lmHeadOnly = new Tensor[] {lmHead};
    logitsOnly = new Tensor[] {logits};
  }

  public LlamaConfig config() { return config; }
  public Backend backend() { return backend; }
  public int maxRows() { return maxRows; }
  public int contextLength() { return contextLength; }

  /** A KV cache for {@code slots} sequences of this decoder's context length. */
  public KvCache newCache(int slots) {
    long perLayer = (long) slots * contextLength * config.kvDim();
    long bytes = 2L * 4 * config.numHiddenLayers() * perLayer;
    dev.tandem.backend.MemoryCheck.require("a KV cache for " + slots + " sequence" + (slots == 1 ? "" : "s")
        + " of " + contextLength + " positions", config.numHiddenLayers() + " layers x 2 (keys, values) x " + slots
        + " x " + contextLength + " positions x " + config.kvDim() + " x 4 bytes", bytes,
        backend.memoryName().equals("host") ? perLayer : 0,
        backend.availableBytes(), backend.memoryName(), "give a smaller --context (at most about "
            + Math.min(backend.memoryName().equals("host") ? (Integer.MAX_VALUE - 16L) / ((long) slots * config.kvDim())
                : Long.MAX_VALUE, backend.availableBytes() / (8L * config.numHiddenLayers() * slots * config.kvDim()))
            + " for this cache here)");
    return backend.allocateKvCache(config.numHiddenLayers(), slots, contextLength, config.kvDim());
  }

  /**
   * Runs the rows of one pass. Each sequence's rows must start at its slot's current cache length;
   * afterwards the length has grown by the rows. Nothing is written when the batch is invalid.
   */
  public void forward(BatchRows rows, KvCache cache, LogitsMode mode) {
    validate(rows, cache);
    int n = rows.rowCount();
    int heads = config.numAttentionHeads(), headDim = config.headDim();
    float eps = (float) config.rmsNormEps();

    backend.embed(embedding, rows, x);
    capture(0, n);
    for (int l = 0; l < layers.length; l++) {
      DecoderLayer layer = layers[l];
      // Attention block: x += Wo * attention(rope(Wq xn), rope(Wk xn), Wv xn), xn = rmsnorm(x).
      backend.normMatmul(x, layer.attentionNorm, eps, xNormed, layer.qkv, n, qkvOut);
      if (layer.bq != null) {  // Qwen2: q, k, v += their biases
        backend.addBias(q, layer.bq, n);
        backend.addBias(k, layer.bk, n);
        backend.addBias(v, layer.bv, n);
      }
      backend.ropeAndStore(q, heads, k, v, config.numKeyValueHeads(), headDim, ropeTable, cache, l, rows);
      backend.attention(q, cache, l, heads, headDim, rows, attended);
      backend.matmulAdd(attended, layer.wo, n, x, projected);
      // MLP block: x += Wdown * (silu(Wgate xn) * Wup xn), xn = rmsnorm(x).
      backend.normGateUpSwiglu(x, layer.mlpNorm, eps, xNormed, layer.wGate, layer.wUp, n, gate, up, hidden);
      backend.matmulAdd(hidden, layer.wDown, n, x, projected);
      capture(l + 1, n);
    }
    computeLogits(rows, mode);
    for (int s = 0; s < rows.sequenceCount(); s++) {
      int slot = rows.sequenceSlot(s);
      cache.setLength(slot, cache.length(slot) + rows.sequenceLength(s));
    }
  }

  /**
   * Writes the keys and values that layer {@code layer}'s attention computes from {@code input}
   * (its pre-norm, W_k, W_v, rotary at each row's position) into the cache at each row's (slot,
   * position), without running anything else. The tandem refresh feeds projected primary states
   * through here. input: [rows][d]. Cache lengths are left to the caller.
   */
  public void storeKeysValues(KvCache cache, int layer, Tensor input, BatchRows rows) {
    int n = rows.rowCount();
    if (n > maxRows) throw new IllegalArgumentException(n + " rows exceed this decoder's " + maxRows + " rows per pass");
    DecoderLayer l = layers[layer];
    backend.normMatmul(input, l.attentionNorm, (float) config.rmsNormEps(), xNormed, l.keyValue, n, keyValueOut);
    if (l.bk != null) {
      backend.addBias(k, l.bk, n);
      backend.addBias(v, l.bv, n);
    }
    backend.ropeAndStore(null, 0, k, v, config.numKeyValueHeads(), config.headDim(), ropeTable, cache, layer, rows);
  }

  private void computeLogits(BatchRows rows, LogitsMode mode) {
    lastMode = mode;
    float eps = (float) config.rmsNormEps();
    switch (mode) {
      case NONE -> logitRows = 0;
      case ALL -> {
        logitRows = rows.rowCount();
        backend.normMatmul(x, finalNorm, eps, lastRows, lmHeadOnly, logitRows, logitsOnly);
      }
      case LAST -> {
        logitRows = rows.sequenceCount();
        for (int s = 0; s < logitRows; s++) backend.copyRows(x, rows.lastRow(s), projected, s, 1);
        backend.normMatmul(projected, finalNorm, eps, lastRows, lmHeadOnly, logitRows, logitsOnly);
      }
    }
  }

  private void capture(int afterLayer, int n) {
    for (int i = 0; i < captureLayers.length; i++) {
      if (captureLayers[i] == afterLayer) backend.copyRows(x, 0, captured[i], 0, n);
    }
  }

  private void validate(BatchRows rows, KvCache cache) {
    if (rows.rowCount() == 0) throw new IllegalArgumentException("a forward pass needs at least one row");
    if (rows.rowCount() > maxRows) {
      throw new IllegalArgumentException(rows.rowCount() + " rows exceed this decoder's " + maxRows + " rows per pass");
    }
    if (cache.layers() != config.numHiddenLayers() || cache.kvDim() != config.kvDim()) {
      throw new IllegalArgumentException("KV cache shape (layers " + cache.layers() + ", kvDim " + cache.kvDim()
          + ") does not match the model (" + config.numHiddenLayers() + ", " + config.kvDim() + ")");
    }
    for (int s = 0; s < rows.sequenceCount(); s++) {
      int slot = rows.sequenceSlot(s);
      int start = rows.position(rows.sequenceStart(s));
      if (slot < 0 || slot >= cache.slots()) {
        throw new IllegalArgumentException("slot " + slot + " outside the cache's " + cache.slots() + " slots");
      }
      if (start != cache.length(slot)) {
        throw new IllegalArgumentException("sequence in slot " + slot + " starts at position " + start
            + " but its cache holds " + cache.length(slot) + " positions");
      }
      int end = start + rows.sequenceLength(s);
      if (end > Math.min(contextLength, cache.capacity())) {
        throw new IllegalArgumentException("sequence in slot " + slot + " would reach " + end
            + " positions, beyond the context length of " + Math.min(contextLength, cache.capacity()));
      }
    }
    for (int i = 0; i < rows.rowCount(); i++) {
      if (rows.draftRef(i) >= 0) continue;  // a draft row: its token is an argmax the device wrote
      int token = rows.token(i);
      if (token < 0 || token >= config.vocabSize()) {
        throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, "
            + config.vocabSize() + ")");
      }
    }
  }

  /** Rows of logits the last pass produced (see {@link LogitsMode}). */
  public int logitRows() { return logitRows; }

  /** The logits of the last pass, [logitRows][vocab] (on the backend). */
  public Tensor logits() { return logits; }

  /** Copies the last pass's logits to {@code dst} ([logitRows][vocab]). */
  public void downloadLogits(float[] dst) {
    if (lastMode == LogitsMode.NONE) throw new IllegalStateException("the last pass computed no logits");
    backend.download(logits, logitRows, dst);
  }

  /** The residual stream after {@code captureLayers[index]} for every row of the last pass, [rows][d]. */
  public Tensor captured(int index) { return captured[index]; }

  public int[] captureLayers() { return captureLayers.clone(); }

  /**
   * Greedy drafting: the argmax of each sequence's logits row of the last pass ({@link LogitsMode#LAST})
   * into column {@code column} of its slot's row of the draft table, on the backend, without waiting.
   */
  public void argmaxLogitsToDraftTable(BatchRows rows, Tensor table, int column) {
    if (lastMode != LogitsMode.LAST) throw new IllegalStateException("drafting reads the last row of each sequence (LogitsMode.LAST)");
    backend.argmaxToDraftTable(logits, rows, table, column);
  }

  /**
   * Greedy verification of the last pass ({@link LogitsMode#ALL}), whose sequence i holds the pending
   * token and then drafts 0..k-1 of the draft table: see {@link Backend#greedyAccept}. Waits for the
   * backend.
   */
  public void greedyAccept(BatchRows rows, Tensor table, int[] out) {
    if (lastMode != LogitsMode.ALL) throw new IllegalStateException("verification reads every row (LogitsMode.ALL)");
    backend.greedyAccept(logits, rows, table, out);
  }

  /**
   * Tokens of the last pass's logits rows 0..n, row i picked with {@code params[i]} for
   * ({@code sequences[i]}, {@code positions[i]}) as {@link dev.tandem.sampling.Sampler#sample} does,
   * on the backend (only the ids come back).
   */
  public void sampleLogits(int n, SamplingParams[] params, long[] sequences, int[] positions, int[] dst) {
    if (lastMode == LogitsMode.NONE) throw new IllegalStateException("the last pass computed no logits");
    if (n > logitRows) throw new IllegalArgumentException(n + " rows asked, the last pass has " + logitRows);
    backend.sampleRows(logits, n, params, sequences, positions, dst);
  }

  /** Sampled drafting from the last pass ({@link LogitsMode#LAST}): see {@link Backend#sampleToDraftTable}. */
  public void sampleLogitsToDraftTable(BatchRows rows, Tensor table, Tensor q, int column) {
    if (lastMode != LogitsMode.LAST) throw new IllegalStateException("drafting reads the last row of each sequence (LogitsMode.LAST)");
    backend.sampleToDraftTable(logits, rows, table, q, column);
  }

  /** Sampled verification of the last pass ({@link LogitsMode#ALL}): see {@link Backend#rejectionAccept}. Waits. */
  public void rejectionAccept(BatchRows rows, Tensor table, Tensor q, int[] out) {
    if (lastMode != LogitsMode.ALL) throw new IllegalStateException("verification reads every row (LogitsMode.ALL)");
    backend.rejectionAccept(logits, rows, table, q, out);
  }

  /** Greedy tokens of the last pass: argmax of each logits row, into {@code dst[0..logitRows)}. */
  public void argmaxLogits(int[] dst) {
    if (lastMode == LogitsMode.NONE) throw new IllegalStateException("the last pass computed no logits");
    backend.argmaxRows(logits, logitRows, dst);
  }

  /** Frees every tensor this decoder put on the backend. */
  @Override
  public void close() {
    List<Tensor> owned = new ArrayList<>(List.of(embedding, finalNorm, ropeTable, x, xNormed, q, k, v, attended,
        projected, gate, up, hidden, lastRows, logits));
    if (lmHead != embedding) owned.add(lmHead);
    owned.addAll(List.of(captured));
    for (DecoderLayer layer : layers) owned.addAll(layer.tensors());
    for (Tensor t : owned) backend.release(t);
  }

  @Override
  public String toString() {
    return "Decoder{" + config + ", backend=" + backend.name() + ", capture=" + Arrays.toString(captureLayers) + "}";
  }
}
