package dev.tandem.checkpoint;

import dev.tandem.model.LlamaConfig;
import dev.tandem.model.TensorNames;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Tensor names of llama.cpp's GGUF files ({@code token_embd.weight}, {@code blk.0.attn_q.weight},
 * ...) for the Hugging Face names of {@link TensorNames}, and the row order of the query and key
 * weights: llama.cpp's Llama (and Mistral) rotate adjacent pairs (2i, 2i+1) of each head, Hugging
 * Face the two halves (i, i + headDim/2), so {@code convert_hf_to_gguf.py} permutes the rows of
 * {@code q_proj} and {@code k_proj} (its {@code permute}); Qwen2 uses the halves in both and is not
 * permuted.
 */
public final class GgufNames {
  public static final String ROPE_FREQS = "rope_freqs.weight";

  private GgufNames() {}

  /** Hugging Face name -> GGUF name for every tensor a model of this config has, in the model's order. */
  public static Map<String, String> ggufNames(LlamaConfig c) {
    Map<String, String> names = new LinkedHashMap<>();
    names.put(TensorNames.EMBEDDING, "token_embd.weight");
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      String b = "blk." + l + ".";
      names.put(TensorNames.attentionNorm(l), b + "attn_norm.weight");
      names.put(TensorNames.query(l), b + "attn_q.weight");
      names.put(TensorNames.key(l), b + "attn_k.weight");
      names.put(TensorNames.value(l), b + "attn_v.weight");
      if (c.attentionBias()) {
        names.put(TensorNames.queryBias(l), b + "attn_q.bias");
        names.put(TensorNames.keyBias(l), b + "attn_k.bias");
        names.put(TensorNames.valueBias(l), b + "attn_v.bias");
      }
      names.put(TensorNames.output(l), b + "attn_output.weight");
      names.put(TensorNames.mlpNorm(l), b + "ffn_norm.weight");
      names.put(TensorNames.gate(l), b + "ffn_gate.weight");
      names.put(TensorNames.up(l), b + "ffn_up.weight");
      names.put(TensorNames.down(l), b + "ffn_down.weight");
    }
    names.put(TensorNames.FINAL_NORM, "output_norm.weight");
    if (!c.tieWordEmbeddings()) names.put(TensorNames.LM_HEAD, "output.weight");
    return names;
  }

  /** The GGUF {@code general.architecture} of a config: qwen2, or llama (for Llama and Mistral). */
  public static String architecture(LlamaConfig c) {
    return c.modelType().equals(LlamaConfig.QWEN2) ? "qwen2" : "llama";
  }

  /**
   * How many heads the rows of this tensor are permuted in, or 0 when it is not permuted: query
   * weights in attention heads, key weights in key/value heads, for llama-architecture files only.
   */
  public static int permutedHeads(LlamaConfig c, String hfName) {
    if (!architecture(c).equals("llama")) return 0;
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      if (hfName.equals(TensorNames.query(l))) return c.numAttentionHeads();
      if (hfName.equals(TensorNames.key(l))) return c.numKeyValueHeads();
    }
    return 0;
  }

  /**
   * Row order of a GGUF q/k weight: {@code result[ggufRow]} is the Hugging Face row it holds. Within
   * each head of {@code rows / heads} rows, GGUF row {@code 2i + j} is Hugging Face row
   * {@code j * half + i} (j in {0, 1}), which is llama.cpp's
   * {@code w.reshape(heads, 2, half, ...).swapaxes(1, 2)}.
   */
  public static int[] ggufRowOrder(int rows, int heads) {
    if (heads <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0) {
      throw new IllegalArgumentException(rows + " rows do not split into " + heads + " heads of even width");
    }
    int headDim = rows / heads, half = headDim / 2;
    int[] order = new int[rows];
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < half; i++) {
        for (int j = 0; j < 2; j++) order[h * headDim + 2 * i + j] = h * headDim + j * half + i;
      }
    }
    return order;
  }

  /** {@code out[r] = in[order[r]]}, rows of {@code rowLength} elements (any element size as bytes or floats). */
  static float[] permuteRows(float[] in, int rowLength, int[] order) {
    float[] out = new float[in.length];
    for (int r = 0; r < order.length; r++) System.arraycopy(in, order[r] * rowLength, out, r * rowLength, rowLength);
    return out;
  }

  static byte[] permuteRows(byte[] in, int rowBytes, int[] order) {
    byte[] out = new byte[in.length];
    for (int r = 0; r < order.length; r++) System.arraycopy(in, order[r] * rowBytes, out, r * rowBytes, rowBytes);
    return out;
  }

  /** The inverse of a permutation. */
  static int[] inverse(int[] order) {
    int[] inv = new int[order.length];
    for (int i = 0; i < order.length; i++) inv[order[i]] = i;
    return inv;
  }
}
