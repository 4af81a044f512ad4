package dev.tandem.model;

import dev.tandem.backend.Backend;
import dev.tandem.backend.Tensor;
import java.util.List;

/** One transformer layer's weights on a backend. */
final class DecoderLayer {
  final Tensor attentionNorm;  // [1][d]
  final Tensor wq;             // [d][d]
  final Tensor wk;             // [kvDim][d]
  final Tensor wv;             // [kvDim][d]
  final Tensor wo;             // [d][d]
  final Tensor mlpNorm;        // [1][d]
  final Tensor wGate;          // [f][d]
  final Tensor wUp;            // [f][d]
  final Tensor wDown;          // [d][f]
  final Tensor bq;             // [1][d]     Qwen2's biases; null when the model has none
  final Tensor bk;             // [1][kvDim]
  final Tensor bv;             // [1][kvDim]
  final Tensor[] qkv;          // {wq, wk, wv}: one pass over the normed input
  final Tensor[] keyValue;     // {wk, wv}

  DecoderLayer(Backend backend, ModelWeights w, int l) {
    LlamaConfig c = w.config();
    int d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    attentionNorm = backend.weights(TensorNames.attentionNorm(l), w.get(TensorNames.attentionNorm(l)), 1, d);
    wq = backend.weights(w.matrix(TensorNames.query(l), d, d));
    wk = backend.weights(w.matrix(TensorNames.key(l), kv, d));
    wv = backend.weights(w.matrix(TensorNames.value(l), kv, d));
    wo = backend.weights(w.matrix(TensorNames.output(l), d, d));
    mlpNorm = backend.weights(TensorNames.mlpNorm(l), w.get(TensorNames.mlpNorm(l)), 1, d);
    wGate = backend.weights(w.matrix(TensorNames.gate(l), f, d));
    wUp = backend.weights(w.matrix(TensorNames.up(l), f, d));
    wDown = backend.weights(w.matrix(TensorNames.down(l), d, f));
    if (c.attentionBias()) {
      bq = backend.weights(TensorNames.queryBias(l), w.get(TensorNames.queryBias(l)), 1, d);
      bk = backend.weights(TensorNames.keyBias(l), w.get(TensorNames.keyBias(l)), 1, kv);
      bv = backend.weights(TensorNames.valueBias(l), w.get(TensorNames.valueBias(l)), 1, kv);
    } else {
      bq = bk = bv = null;
    }
    qkv = new Tensor[] {wq, wk, wv};
    keyValue = new Tensor[] {wk, wv};
  }

  List<Tensor> tensors() {
    List<Tensor> all = new java.util.ArrayList<>(List.of(attentionNorm, wq, wk, wv, wo, mlpNorm, wGate, wUp, wDown));
    if (bq != null) all.addAll(List.of(bq, bk, bv));
    return all;
  }
}
