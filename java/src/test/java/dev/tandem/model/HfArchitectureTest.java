package dev.tandem.model;

import static dev.tandem.testing.Close.assertBitwise;
import static dev.tandem.testing.Close.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.backend.cpu.ScalarOps;
import dev.tandem.backend.cpu.VectorOps;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The Hugging Face architecture variants: config validation, RoPE scaling, Qwen2's biases. */
class HfArchitectureTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static ObjectNode baseConfig() {
    ObjectNode n = JSON.createObjectNode();
    n.put("model_type", "llama").put("vocab_size", 100).put("hidden_size", 64).put("intermediate_size", 96)
        .put("num_hidden_layers", 2).put("num_attention_heads", 4).put("num_key_value_heads", 2)
        .put("max_position_embeddings", 4096).put("hidden_act", "silu");
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // RoPE scaling: against the Hugging Face formulas written out here in double precision.

  private static double[] hfInverseFrequencies(int dim, double base) {
    double[] inv = new double[dim / 2];
    for (int i = 0; i < inv.length; i++) inv[i] = 1.0 / Math.pow(base, (2.0 * i) / dim);
    return inv;
  }

  @Test
  void linearScalingDividesEveryFrequency() {
    double[] expected = hfInverseFrequencies(64, 10000);
    float[] actual = RopeTable.inverseFrequencies(64, 10000, RopeScaling.linear(4));
    for (int i = 0; i < expected.length; i++) assertThat((double) actual[i]).isCloseTo(expected[i] / 4, within(expected[i] / 4));
  }

  /** transformers' _compute_llama3_parameters, step by step. */
  @Test
  void llama3ScalingMatchesTheHuggingFaceFormula() {
    int dim = 128;
    double base = 500000, factor = 8, low = 1, high = 4, old = 8192;
    double[] inv = hfInverseFrequencies(dim, base);
    float[] actual = RopeTable.inverseFrequencies(dim, base, RopeScaling.llama3(factor, low, high, (int) old));
    int scaled = 0, kept = 0, blended = 0;
    for (int i = 0; i < inv.length; i++) {
      double wavelen = 2 * Math.PI / inv[i];
      double llama = wavelen > old / low ? inv[i] / factor : inv[i];
      double smooth = (old / wavelen - low) / (high - low);
      double smoothed = (1 - smooth) * llama / factor + smooth * llama;
      boolean medium = !(wavelen < old / high) && !(wavelen > old / low);
      double expected = medium ? smoothed : llama;
      if (medium) blended++;
      else if (wavelen > old / low) scaled++;
      else kept++;
      assertThat((double) actual[i]).as("frequency %d", i).isCloseTo(expected, within(expected));
    }
    assertThat(scaled).isPositive();
    assertThat(kept).isPositive();
    assertThat(blended).isPositive();
    // Spot values: the highest frequency is untouched, the lowest divided by 8.
    assertThat(actual[0]).isEqualTo(1f);
    assertThat((double) actual[63]).isCloseTo(inv[63] / 8, within(inv[63] / 8));
  }

  private static org.assertj.core.data.Offset<Double> within(double v) {
    return org.assertj.core.data.Offset.offset(Math.abs(v) * 2e-7 + 1e-30); // fp32 rounding of the result
  }

  @Test
  void ropeScalingIsReadFromConfigJsonAndChangesTheTable() {
    ObjectNode n = baseConfig();
    n.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
        .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 1024);
    LlamaConfig c = LlamaConfig.fromJson(n);
    assertThat(c.ropeScaling()).isEqualTo(RopeScaling.llama3(8, 1, 4, 1024));
    assertThat(LlamaConfig.fromJson(c.toJson())).isEqualTo(c);
    assertThat(RopeTable.inverseFrequencies(c)).isNotEqualTo(RopeTable.inverseFrequencies(c.headDim(), c.ropeTheta()));
    n.putObject("rope_scaling").put("type", "linear").put("factor", 2.0);
    assertThat(LlamaConfig.fromJson(n).ropeScaling()).isEqualTo(RopeScaling.linear(2));
    n.putObject("rope_scaling").put("rope_type", "default");
    assertThat(LlamaConfig.fromJson(n).ropeScaling()).isEqualTo(RopeScaling.NONE);
  }

  // ---------------------------------------------------------------------------------------------
  // Unsupported fields are named.

  @Test
  void unsupportedArchitecturesAndFieldsAreNamed() {
    assertRejected(baseConfig().put("model_type", "gemma"), "model_type 'gemma' is not supported");
    assertRejected(baseConfig().put("hidden_act", "gelu"), "hidden_act 'gelu' is not supported");
    assertRejected(baseConfig().put("attention_bias", true), "attention_bias true is not supported");
    assertRejected(baseConfig().put("mlp_bias", true), "mlp_bias true is not supported");
    assertRejected(baseConfig().put("head_dim", 32), "head_dim 32 is not supported");
    assertRejected(baseConfig().put("model_type", "mistral").put("sliding_window", 1024), "sliding_window 1024");
    assertRejected(baseConfig().put("model_type", "qwen2").put("use_sliding_window", true).put("sliding_window", 512),
        "sliding_window 512");
    ObjectNode yarn = baseConfig();
    yarn.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
    assertRejected(yarn, "rope_scaling type 'yarn' is not supported");
    // Accepted: Mistral with a window as long as the context, Qwen2 with the window off.
    assertThat(LlamaConfig.fromJson(baseConfig().put("model_type", "mistral").put("sliding_window", 4096))
        .modelType()).isEqualTo("mistral");
    assertThat(LlamaConfig.fromJson(baseConfig().put("model_type", "qwen2").put("use_sliding_window", false)
        .put("sliding_window", 512)).attentionBias()).isTrue();
    assertThat(LlamaConfig.fromJson(baseConfig().put("model_type", "mistral").putNull("sliding_window"))
        .attentionBias()).isFalse();
  }

  private static void assertRejected(JsonNode config, String message) {
    assertThatThrownBy(() -> LlamaConfig.fromJson(config)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }

  // ---------------------------------------------------------------------------------------------
  // Qwen2 biases

  @Test
  void addBiasVectorPathMatchesScalarOnAwkwardSizes() {
    SplittableRandom r = new SplittableRandom(9);
    for (int d : new int[] {1, 7, 33, 4097}) {
      float[] bias = new float[d];
      float[] x = new float[3 * d + 5];
      for (int i = 0; i < d; i++) bias[i] = (float) r.nextGaussian();
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      float[] scalar = x.clone(), vector = x.clone();
      ScalarOps.addBias(scalar, d + 5, bias, d);
      VectorOps.addBias(vector, d + 5, bias, d);
      // One addition per element in both paths: bitwise equal.
      assertBitwise("addBias d=" + d, scalar, vector, x.length);
    }
    try (CpuBackend fast = CpuBackend.fast(2); CpuBackend ref = CpuBackend.reference()) {
      int n = 5, d = 33;
      float[] data = new float[n * d];
      for (int i = 0; i < data.length; i++) data[i] = i * 0.01f;
      float[] bias = new float[d];
      for (int i = 0; i < d; i++) bias[i] = -i;
      float[][] out = new float[2][n * d];
      int k = 0;
      for (Backend b : new Backend[] {fast, ref}) {
        Tensor x = b.table("x", data.clone(), n, d);
        b.addBias(x, b.weights("b", bias.clone(), 1, d), 3);
        b.download(x, n, out[k++]);
      }
      assertBitwise("fast vs reference addBias", out[1], out[0], n * d);
      assertThat(out[0][2 * d + 4]).isEqualTo(data[2 * d + 4] - 4);
      assertThat(out[0][3 * d + 4]).isEqualTo(data[3 * d + 4]); // rows beyond n untouched
    }
  }

  static final LlamaConfig QWEN = new LlamaConfig(97, 48, 80, 2, 6, 2, 1e6, 1e-6, 64, false, "float32",
      RopeScaling.NONE, LlamaConfig.QWEN2);

  private static float[] logits(ModelWeights w, Backend backend, int[] tokens) {
    int vocab = w.config().vocabSize();
    try (Decoder d = new Decoder(w, backend, 32, 32)) {
      KvCache cache = d.newCache(1);
      BatchRows rows = new BatchRows(32);
      rows.addSequence(0, tokens, 0, tokens.length, 0);
      d.forward(rows, cache, LogitsMode.ALL);
      float[] out = new float[tokens.length * vocab];
      d.downloadLogits(out);
      return out;
    }
  }

  @Test
  void qwen2BiasesChangeTheLogitsAndMatchAScalarReference() {
    ModelWeights w = ModelWeights.random(QWEN, 4, 0.3);
    assertThat(w.tensors()).containsKeys(TensorNames.queryBias(0), TensorNames.keyBias(1), TensorNames.valueBias(1));
    assertThat(w.get(TensorNames.queryBias(0))).hasSize(48);
    assertThat(w.get(TensorNames.keyBias(0))).hasSize(16);
    int[] tokens = new SplittableRandom(2).ints(13, 0, 97).toArray();
    Map<String, float[]> zeroed = new HashMap<>(w.tensors());
    for (int l = 0; l < 2; l++) {
      for (String b : new String[] {TensorNames.queryBias(l), TensorNames.keyBias(l), TensorNames.valueBias(l)}) {
        zeroed.put(b, new float[w.get(b).length]);
      }
    }
    ModelWeights withoutBias = new ModelWeights(QWEN, zeroed);
    ModelWeights asLlama = new ModelWeights(QWEN.withModelType(LlamaConfig.LLAMA), zeroed);
    try (CpuBackend fast = CpuBackend.fast(2); CpuBackend ref = CpuBackend.reference()) {
      float[] a = logits(w, fast, tokens);
      float[] reference = logits(w, ref, tokens);
      // fp32 sums in another order (Vector API lanes vs one accumulator): about 1e-5 relative.
      assertClose("Qwen2 fast vs scalar reference", reference, a, a.length, 1e-4, 1e-4);
      float[] zero = logits(withoutBias, fast, tokens);
      assertBitwise("zero biases = no biases", logits(asLlama, fast, tokens), zero, zero.length);
      double maxDiff = 0;
      for (int i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - zero[i]));
      assertThat(maxDiff).as("biases change the logits").isGreaterThan(1e-2);
    }
    // The bias is added to q, k and v exactly: a model with bias b equals one whose weights have an extra
    // input fixed at 1 with column b. Checked on the first row's query through the scalar reference.
    float[] x = new float[48];
    Arrays.fill(x, 0.5f);
    float[] q = new float[48];
    ScalarOps.matmul(x, 1, 48, w.get(TensorNames.query(0)), 48, q);
    float[] expected = q.clone();
    for (int i = 0; i < 48; i++) expected[i] += w.get(TensorNames.queryBias(0))[i];
    ScalarOps.addBias(q, 0, w.get(TensorNames.queryBias(0)), 48);
    assertBitwise("q + bias", expected, q, 48);
  }
}
