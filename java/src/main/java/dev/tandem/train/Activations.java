package dev.tandem.train;

import dev.tandem.model.LlamaConfig;

/**
 * Every buffer a forward and backward pass of a {@link TrainModel} needs for {@code batch} sequences of
 * {@code seqLen} positions (rows = batch * seqLen), allocated once and reused for every step.
 *
 * <p>With {@code keepLayers} (training) each layer has its own saved activations; without (a forward pass
 * that needs no gradients, e.g. the frozen primary) all layers share one set.
 */
public final class Activations {
  final int batch;
  final int seqLen;
  final int rows;
  final boolean keepLayers;
  final boolean tandem;

  // Saved per layer, [L or 1][...].
  final float[][] xIn;      // [rows][d]     the layer's input (residual stream)
  final float[][] xn1;      // [rows][d]     attention pre-norm output
  final float[][] inv1;     // [rows]        its 1/rms
  final float[][] q;        // [rows][H*hd]  queries after RoPE
  final float[][] k;        // [rows][kv]    own keys after RoPE
  final float[][] v;        // [rows][kv]    own values
  final float[][] probs;    // [batch][H][T][T] attention probabilities
  final float[][] att;      // [rows][d]     attention output before W_o
  final float[][] xMid;     // [rows][d]     residual after attention
  final float[][] xn2;      // [rows][d]     MLP pre-norm output
  final float[][] inv2;     // [rows]
  final float[][] gate;     // [rows][f]
  final float[][] up;       // [rows][f]
  final float[][] hidden;   // [rows][f]     silu(gate) * up
  // Tandem, per layer: the primary-derived source.
  final float[][] u;        // [rows][d]     T_j(hP[l(j)])
  final float[][] un;       // [rows][d]     its pre-norm output
  final float[][] invU;     // [rows]
  final float[][] kP;       // [rows][kv]    keys from u, after RoPE
  final float[][] vP;       // [rows][kv]

  // Head.
  final float[] xOut;       // [rows][d]     final residual stream
  final float[] xnF;        // [rows][d]     final norm output
  final float[] invF;       // [rows]
  /** [rows][vocab]: logits after forward; the loss replaces them by their gradient. */
  public final float[] logits;
  final int[] tokens;       // [rows]
  final int[] gammas;       // [batch] block length per sequence (tandem)

  // Backward scratch (training only).
  final float[] dx;         // [rows][d]     gradient of the residual stream
  final float[] dxn;        // [rows][d]
  final float[] dAtt;       // [rows][d]
  final float[] dq;         // [rows][H*hd]
  final float[] dk;         // [rows][kv]
  final float[] dv;
  final float[] dkP;
  final float[] dvP;
  final float[] dGate;      // [rows][f]
  final float[] dUp;
  final float[] dHidden;
  final float[] du;         // [rows][d]
  final float[] normScratch;

  public Activations(LlamaConfig c, boolean tandem, int batch, int seqLen, boolean keepLayers) {
    this.batch = batch;
    this.seqLen = seqLen;
    this.rows = batch * seqLen;
    this.keepLayers = keepLayers;
    this.tandem = tandem;
    int d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim(), h = c.numAttentionHeads();
    int sets = keepLayers ? c.numHiddenLayers() : 1;
    long probs1 = (long) batch * h * seqLen * seqLen;
    long biggest = Math.max(Math.max((long) rows * Math.max(d, f), probs1), (long) rows * c.vocabSize());
    if (biggest > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("batch " + batch + " x length " + seqLen + " needs buffers too large for"
          + " Java arrays; use a smaller --batch");
    }
    xIn = alloc(sets, rows * d);
    xn1 = alloc(sets, rows * d);
    inv1 = alloc(sets, rows);
    q = alloc(sets, rows * d);
    k = alloc(sets, rows * kv);
    v = alloc(sets, rows * kv);
    this.probs = alloc(sets, (int) probs1);
    att = alloc(sets, rows * d);
    xMid = alloc(sets, rows * d);
    xn2 = alloc(sets, rows * d);
    inv2 = alloc(sets, rows);
    gate = alloc(sets, rows * f);
    up = alloc(sets, rows * f);
    hidden = alloc(sets, rows * f);
    int tsets = tandem ? sets : 0;
    u = alloc(tsets, rows * d);
    un = alloc(tsets, rows * d);
    invU = alloc(tsets, rows);
    kP = alloc(tsets, rows * kv);
    vP = alloc(tsets, rows * kv);
    xOut = new float[rows * d];
    xnF = new float[rows * d];
    invF = new float[rows];
    logits = new float[rows * c.vocabSize()];
    tokens = new int[rows];
    gammas = new int[batch];
    int grad = keepLayers ? 1 : 0;
    dx = new float[grad * rows * d];
    dxn = new float[grad * rows * d];
    dAtt = new float[grad * rows * d];
    dq = new float[grad * rows * d];
    dk = new float[grad * rows * kv];
    dv = new float[grad * rows * kv];
    dkP = new float[grad * (tandem ? rows * kv : 0)];
    dvP = new float[grad * (tandem ? rows * kv : 0)];
    dGate = new float[grad * rows * f];
    dUp = new float[grad * rows * f];
    dHidden = new float[grad * rows * f];
    du = new float[grad * (tandem ? rows * d : 0)];
    normScratch = new float[grad * RmsNormOp.scratchSize(rows, d)];
  }

  private static float[][] alloc(int sets, int size) {
    float[][] a = new float[sets][];
    for (int i = 0; i < sets; i++) a[i] = new float[size];
    return a;
  }

  /** [rows] input tokens of the next forward pass (filled by the caller). */
  public int[] tokens() {
    return tokens;
  }

  /** [batch] training block length of each sequence (tandem; filled by the caller). */
  public int[] gammas() {
    return gammas;
  }

  public int rows() {
    return rows;
  }

  public int batch() {
    return batch;
  }

  public int seqLen() {
    return seqLen;
  }

  /** Approximate bytes held. */
  public static long bytes(LlamaConfig c, boolean tandem, int batch, int seqLen, boolean keepLayers) {
    long rows = (long) batch * seqLen, d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    long perLayer = rows * (6 * d + 2 * kv + 3 * f + 2) + (long) batch * c.numAttentionHeads() * seqLen * seqLen;
    if (tandem) perLayer += rows * (2 * d + 2 * kv + 1);
    long layers = keepLayers ? c.numHiddenLayers() : 1;
    long head = rows * (2 * d + c.vocabSize());
    long grads = keepLayers ? rows * (6 * d + 2 * kv + 3 * f) : 0;
    return 4 * (layers * perLayer + head + grads);
  }
}
