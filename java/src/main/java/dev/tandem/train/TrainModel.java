package dev.tandem.train;

import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.RopeTable;
import dev.tandem.model.TensorNames;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Llama-style decoder in training form: fp32 parameters with gradients, a forward pass over packed
 * sequences that saves what backward needs, and the backward pass. Plain (a primary or a drafter) or a
 * tandem secondary, whose layer j also owns a projection T_j [d_S][d_P] and attends with two sources
 * (see {@link AttentionOp}): keys and values at r &lt; b(p) come from {@code T_j(hP[l(j)][r])} through
 * the layer's own pre-norm, W_k, W_v and RoPE at r.
 *
 * <p>The forward reads top to bottom like the inference {@link dev.tandem.model.Decoder}; every matrix
 * product goes through {@link Gemm}. All results are deterministic (independent of the thread count).
 */
public final class TrainModel {
  public final LlamaConfig config;
  final Param embed;        // [V][d]
  final Param[] attnNorm;   // [L] x [1][d]
  final Param[] wq;         // [L] x [d][d]
  final Param[] wk;         // [L] x [kv][d]
  final Param[] wv;         // [L] x [kv][d]
  final Param[] wo;         // [L] x [d][d]
  final Param[] mlpNorm;    // [L] x [1][d]
  final Param[] wGate;      // [L] x [f][d]
  final Param[] wUp;        // [L] x [f][d]
  final Param[] wDown;      // [L] x [d][f]
  final Param finalNorm;    // [1][d]
  final Param lmHead;       // [V][d], null when tied to the embedding
  final Param[] proj;       // [L] x [d][dP] tandem projections, null when plain
  final int[] layerMap;     // tandem: primary layer read by each layer
  final int primaryHidden;  // d_P (0 when plain)
  private final List<Param> params = new ArrayList<>();
  private float[] ropeTable;  // [seqLen][headDim]

  private TrainModel(LlamaConfig c, Map<String, float[]> tensors, float[][] projections, int[] layerMap,
      int primaryHidden) {
    this.config = c;
    int d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim(), L = c.numHiddenLayers(), V = c.vocabSize();
    embed = add(TensorNames.EMBEDDING, V, d, tensors);
    attnNorm = new Param[L];
    wq = new Param[L];
    wk = new Param[L];
    wv = new Param[L];
    wo = new Param[L];
    mlpNorm = new Param[L];
    wGate = new Param[L];
    wUp = new Param[L];
    wDown = new Param[L];
    for (int l = 0; l < L; l++) {
      attnNorm[l] = add(TensorNames.attentionNorm(l), 1, d, tensors);
      wq[l] = add(TensorNames.query(l), d, d, tensors);
      wk[l] = add(TensorNames.key(l), kv, d, tensors);
      wv[l] = add(TensorNames.value(l), kv, d, tensors);
      wo[l] = add(TensorNames.output(l), d, d, tensors);
      mlpNorm[l] = add(TensorNames.mlpNorm(l), 1, d, tensors);
      wGate[l] = add(TensorNames.gate(l), f, d, tensors);
      wUp[l] = add(TensorNames.up(l), f, d, tensors);
      wDown[l] = add(TensorNames.down(l), d, f, tensors);
    }
    finalNorm = add(TensorNames.FINAL_NORM, 1, d, tensors);
    lmHead = c.tieWordEmbeddings() ? null : add(TensorNames.LM_HEAD, V, d, tensors);
    this.layerMap = layerMap;
    this.primaryHidden = primaryHidden;
    if (projections != null) {
      proj = new Param[L];
      for (int l = 0; l < L; l++) {
        proj[l] = new Param(TandemConfig.projectionName(l), d, primaryHidden, projections[l]);
        params.add(proj[l]);
      }
    } else {
      proj = null;
    }
  }

  private Param add(String name, int rows, int cols, Map<String, float[]> tensors) {
    float[] value = tensors.get(name);
    if (value == null) throw new IllegalArgumentException("missing tensor " + name);
    Param p = new Param(name, rows, cols, value);
    params.add(p);
    return p;
  }

  /** A plain decoder over (a copy of) these weights. */
  public static TrainModel plain(ModelWeights w) {
    return new TrainModel(w.config(), copy(w.tensors()), null, null, 0);
  }

  /** A tandem secondary over (a copy of) these weights. */
  public static TrainModel tandem(TandemWeights w) {
    float[][] projections = new float[w.projections().length][];
    for (int j = 0; j < projections.length; j++) projections[j] = w.projections()[j].clone();
    return new TrainModel(w.config().secondary(), copy(w.decoder().tensors()), projections, w.config().layerMap(),
        w.config().primary().hiddenSize());
  }

  private static Map<String, float[]> copy(Map<String, float[]> tensors) {
    Map<String, float[]> out = new LinkedHashMap<>();
    tensors.forEach((k, v) -> out.put(k, v.clone()));
    return out;
  }

  public boolean isTandem() {
    return proj != null;
  }

  /** Trainable tensors, decoder first (in {@link ModelWeights#expectedShapes} order), then projections. */
  public List<Param> params() {
    return params;
  }

  public long parameterCount() {
    long n = 0;
    for (Param p : params) n += p.size();
    return n;
  }

  /** Primary layers whose residual streams this tandem model reads (distinct, ascending). */
  public int[] primaryLayersRead() {
    return java.util.Arrays.stream(layerMap).distinct().sorted().toArray();
  }

  /** The decoder's weights (copies), for saving or loading into the inference decoder. */
  public ModelWeights toModelWeights() {
    Map<String, float[]> tensors = new LinkedHashMap<>();
    for (String name : ModelWeights.expectedShapes(config).keySet()) tensors.put(name, find(name).value.clone());
    return new ModelWeights(config, tensors);
  }

  /** The tandem secondary's weights (copies). */
  public TandemWeights toTandemWeights(TandemConfig tandemConfig) {
    float[][] projections = new float[proj.length][];
    for (int j = 0; j < proj.length; j++) projections[j] = proj[j].value.clone();
    return new TandemWeights(tandemConfig, toModelWeights(), projections);
  }

  public Param find(String name) {
    for (Param p : params) if (p.name.equals(name)) return p;
    throw new IllegalArgumentException("no parameter " + name);
  }

  public void zeroGrad() {
    for (Param p : params) p.zeroGrad();
  }

  private float[] rope(int seqLen) {
    if (ropeTable == null || ropeTable.length < seqLen * config.headDim()) {
      ropeTable = RopeTable.build(seqLen, config.headDim(),
          RopeTable.inverseFrequencies(config.headDim(), config.ropeTheta()));
    }
    return ropeTable;
  }

  private float[] head() {
    return lmHead == null ? embed.value : lmHead.value;
  }

  /**
   * The forward pass over {@code a.batch} sequences whose tokens are in {@code a.tokens} (and, for a
   * tandem model, block lengths in {@code a.gammas}); logits land in {@code a.logits}.
   *
   * @param hP      tandem only: hP[l] = the primary's residual stream after layer l, [rows][d_P], for
   *                every l in the layer map (others may be null)
   * @param capture optional: capture[l] (non-null entries) receives the residual stream after layer l
   *                (0 = embeddings), [rows][d]; this is how the frozen primary supplies hP
   */
  public void forward(Gemm gemm, Activations a, float[][] hP, float[][] capture) {
    if (isTandem() != a.tandem) throw new IllegalArgumentException("activations are for another kind of model");
    LlamaConfig c = config;
    var pool = gemm.pool();
    int rows = a.rows, T = a.seqLen, d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    int H = c.numAttentionHeads(), hd = c.headDim(), L = c.numHiddenLayers();
    float eps = (float) c.rmsNormEps();
    float[] table = rope(T);
    AttentionOp attention = attention(gemm, T);

    float[] x0 = a.xIn[0];
    EmbeddingOp.forward(embed.value, c.vocabSize(), d, a.tokens, rows, x0);
    captureInto(capture, 0, x0, rows * d);
    for (int l = 0; l < L; l++) {
      int s = a.keepLayers ? l : 0;
      float[] x = a.xIn[s];
      // Attention block: x + W_o attention(rope(W_q xn), rope(W_k xn), W_v xn), xn = rmsnorm(x).
      RmsNormOp.forward(pool, x, attnNorm[l].value, eps, rows, d, a.xn1[s], a.inv1[s]);
      gemm.linearForward(a.xn1[s], rows, d, wq[l].value, d, a.q[s]);
      gemm.linearForward(a.xn1[s], rows, d, wk[l].value, kv, a.k[s]);
      gemm.linearForward(a.xn1[s], rows, d, wv[l].value, kv, a.v[s]);
      RopeOp.apply(pool, a.q[s], rows, T, H, hd, table, false);
      RopeOp.apply(pool, a.k[s], rows, T, c.numKeyValueHeads(), hd, table, false);
      float[] kPrim = null, vPrim = null;
      if (isTandem()) {
        // The primary-derived source: u = T_j(hP[l(j)]) through this layer's pre-norm, W_k, W_v, RoPE.
        float[] h = hP[layerMap[l]];
        if (h == null) throw new IllegalArgumentException("missing primary states after layer " + layerMap[l]);
        gemm.linearForward(h, rows, primaryHidden, proj[l].value, d, a.u[s]);
        RmsNormOp.forward(pool, a.u[s], attnNorm[l].value, eps, rows, d, a.un[s], a.invU[s]);
        gemm.linearForward(a.un[s], rows, d, wk[l].value, kv, a.kP[s]);
        gemm.linearForward(a.un[s], rows, d, wv[l].value, kv, a.vP[s]);
        RopeOp.apply(pool, a.kP[s], rows, T, c.numKeyValueHeads(), hd, table, false);
        kPrim = a.kP[s];
        vPrim = a.vP[s];
      }
      attention.forward(a.batch, a.q[s], a.k[s], a.v[s], kPrim, vPrim, a.gammas, a.att[s], a.probs[s]);
      System.arraycopy(x, 0, a.xMid[s], 0, rows * d);
      gemm.gemm(rows, d, d, a.att[s], 0, d, 1, wo[l].value, 0, 1, d, a.xMid[s], 0, d, true);
      // MLP block: xMid + W_down (silu(W_gate xn) * W_up xn), xn = rmsnorm(xMid).
      RmsNormOp.forward(pool, a.xMid[s], mlpNorm[l].value, eps, rows, d, a.xn2[s], a.inv2[s]);
      gemm.linearForward(a.xn2[s], rows, d, wGate[l].value, f, a.gate[s]);
      gemm.linearForward(a.xn2[s], rows, d, wUp[l].value, f, a.up[s]);
      SwiGluOp.forward(pool, a.gate[s], a.up[s], rows * f, a.hidden[s]);
      float[] next = l == L - 1 ? a.xOut : a.xIn[a.keepLayers ? l + 1 : 0];
      System.arraycopy(a.xMid[s], 0, next, 0, rows * d);
      gemm.gemm(rows, d, f, a.hidden[s], 0, f, 1, wDown[l].value, 0, 1, f, next, 0, d, true);
      captureInto(capture, l + 1, next, rows * d);
    }
    RmsNormOp.forward(pool, a.xOut, finalNorm.value, eps, rows, d, a.xnF, a.invF);
    gemm.linearForward(a.xnF, rows, d, head(), c.vocabSize(), a.logits);
  }

  private static void captureInto(float[][] capture, int layer, float[] x, int n) {
    if (capture != null && layer < capture.length && capture[layer] != null) {
      System.arraycopy(x, 0, capture[layer], 0, n);
    }
  }

  private AttentionOp attentionOp;

  private AttentionOp attention(Gemm gemm, int seqLen) {
    if (attentionOp == null || attentionOp.seqLen() != seqLen || attentionOp.gemm() != gemm) {
      attentionOp = new AttentionOp(gemm, seqLen, config.numAttentionHeads(), config.numKeyValueHeads(),
          config.headDim());
    }
    return attentionOp;
  }

  /**
   * The backward pass after {@link #forward} (with {@code keepLayers}) and a loss that replaced
   * {@code a.logits} by their gradient. Adds to every parameter's gradient.
   */
  public void backward(Gemm gemm, Activations a, float[][] hP) {
    if (!a.keepLayers) throw new IllegalArgumentException("backward needs activations kept per layer");
    LlamaConfig c = config;
    var pool = gemm.pool();
    int rows = a.rows, T = a.seqLen, d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    int H = c.numAttentionHeads(), hd = c.headDim(), L = c.numHiddenLayers(), V = c.vocabSize();
    float[] table = rope(T);
    AttentionOp attention = attention(gemm, T);
    Param headParam = lmHead == null ? embed : lmHead;

    // Head: logits = xnF head^T.
    gemm.linearBackwardInput(a.logits, rows, V, headParam.value, d, a.dxn, false);
    gemm.linearBackwardWeight(a.logits, rows, V, a.xnF, d, headParam.grad);
    java.util.Arrays.fill(a.dx, 0f);
    RmsNormOp.backward(pool, a.dxn, a.xOut, finalNorm.value, a.invF, rows, d, a.dx, finalNorm.grad, a.normScratch);

    for (int l = L - 1; l >= 0; l--) {
      // MLP block (a.dx = gradient of the layer's output).
      gemm.linearBackwardInput(a.dx, rows, d, wDown[l].value, f, a.dHidden, false);
      gemm.linearBackwardWeight(a.dx, rows, d, a.hidden[l], f, wDown[l].grad);
      SwiGluOp.backward(pool, a.dHidden, a.gate[l], a.up[l], rows * f, a.dGate, a.dUp);
      gemm.linearBackwardInput(a.dGate, rows, f, wGate[l].value, d, a.dxn, false);
      gemm.linearBackwardInput(a.dUp, rows, f, wUp[l].value, d, a.dxn, true);
      gemm.linearBackwardWeight(a.dGate, rows, f, a.xn2[l], d, wGate[l].grad);
      gemm.linearBackwardWeight(a.dUp, rows, f, a.xn2[l], d, wUp[l].grad);
      RmsNormOp.backward(pool, a.dxn, a.xMid[l], mlpNorm[l].value, a.inv2[l], rows, d, a.dx, mlpNorm[l].grad,
          a.normScratch);
      // Attention block (a.dx = gradient of xMid).
      gemm.linearBackwardInput(a.dx, rows, d, wo[l].value, d, a.dAtt, false);
      gemm.linearBackwardWeight(a.dx, rows, d, a.att[l], d, wo[l].grad);
      float[] kPrim = isTandem() ? a.kP[l] : null, vPrim = isTandem() ? a.vP[l] : null;
      attention.backward(a.batch, a.q[l], a.k[l], a.v[l], kPrim, vPrim, a.gammas, a.probs[l], a.dAtt, a.dq, a.dk,
          a.dv, a.dkP, a.dvP);
      RopeOp.apply(pool, a.dq, rows, T, H, hd, table, true);
      RopeOp.apply(pool, a.dk, rows, T, c.numKeyValueHeads(), hd, table, true);
      gemm.linearBackwardInput(a.dq, rows, d, wq[l].value, d, a.dxn, false);
      gemm.linearBackwardInput(a.dk, rows, kv, wk[l].value, d, a.dxn, true);
      gemm.linearBackwardInput(a.dv, rows, kv, wv[l].value, d, a.dxn, true);
      gemm.linearBackwardWeight(a.dq, rows, d, a.xn1[l], d, wq[l].grad);
      gemm.linearBackwardWeight(a.dk, rows, kv, a.xn1[l], d, wk[l].grad);
      gemm.linearBackwardWeight(a.dv, rows, kv, a.xn1[l], d, wv[l].grad);
      RmsNormOp.backward(pool, a.dxn, a.xIn[l], attnNorm[l].value, a.inv1[l], rows, d, a.dx, attnNorm[l].grad,
          a.normScratch);
      if (isTandem()) {
        // The primary-derived source: back through RoPE, W_k, W_v, the pre-norm and T_j (hP is frozen).
        RopeOp.apply(pool, a.dkP, rows, T, c.numKeyValueHeads(), hd, table, true);
        gemm.linearBackwardInput(a.dkP, rows, kv, wk[l].value, d, a.dxn, false);
        gemm.linearBackwardInput(a.dvP, rows, kv, wv[l].value, d, a.dxn, true);
        gemm.linearBackwardWeight(a.dkP, rows, kv, a.un[l], d, wk[l].grad);
        gemm.linearBackwardWeight(a.dvP, rows, kv, a.un[l], d, wv[l].grad);
        java.util.Arrays.fill(a.du, 0f);
        RmsNormOp.backward(pool, a.dxn, a.u[l], attnNorm[l].value, a.invU[l], rows, d, a.du, attnNorm[l].grad,
            a.normScratch);
        gemm.linearBackwardWeight(a.du, rows, d, hP[layerMap[l]], primaryHidden, proj[l].grad);
      }
    }
    // Embedding: scatter-add the gradient of the layer-0 input.
    EmbeddingOp.backward(a.dx, d, a.tokens, rows, embed.grad);
  }
}
