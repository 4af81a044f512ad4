package dev.tandem.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.backend.StoredMatrix;
import dev.tandem.io.gguf.GgufException;
import dev.tandem.io.gguf.GgufFile;
import dev.tandem.io.gguf.GgufTensorInfo;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.io.gguf.GgufValue;
import dev.tandem.io.gguf.GgufWriter;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LazyTensors;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.WeightPrecision;
import dev.tandem.model.RopeScaling;
import dev.tandem.model.RopeTable;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A Llama-family model in a GGUF file: the config as llama.cpp's {@code ARCH.*} keys, the weights
 * under llama.cpp's names with the query and key rows in its RoPE layout (see {@link GgufNames}).
 * Files this engine writes also keep the Hugging Face files' text under {@code tandem.hf.*} keys, so
 * that converting back gives the same files.
 */
final class GgufCheckpoint {
  static final String HF_CONFIG = "tandem.hf.config_json";
  static final String HF_TOKENIZER_CONFIG = "tandem.hf.tokenizer_config_json";
  static final String HF_GENERATION_CONFIG = "tandem.hf.generation_config_json";
  static final String HF_TENSOR_DTYPES = "tandem.hf.tensor_dtypes";
  /** JSON array of the tensors carried under their Hugging Face names (a tandem secondary's projections). */
  static final String HF_EXTRA_TENSORS = "tandem.hf.extra_tensors";
  /** JSON object: the metadata of the directory's safetensors header(s). */
  static final String HF_SAFETENSORS_METADATA = "tandem.hf.safetensors_metadata";
  /** training.json of a model this engine trained (recipe, data, losses). */
  static final String HF_TRAINING = "tandem.hf.training_json";
  static final String TRAINING_FILE = "training.json";
  /** llama.cpp's GGML_MAX_NAME: a tensor name and its terminating zero. */
  static final int MAX_TENSOR_NAME = 64;

  private static final ObjectMapper JSON = new ObjectMapper();

  private GgufCheckpoint() {}

  /** llama.cpp's {@code general.file_type} for weights stored as {@code type}. */
  static int fileType(GgufTensorType type) {
    return switch (type) {
      case F32 -> 0;
      case F16 -> 1;
      case BF16 -> 32;
      case Q8_0 -> 7;
      case Q4_0 -> 2;
      case Q4_K -> 15;  // MOSTLY_Q4_K_M: Q4_K with some Q6_K
      case Q6_K -> 18;
    };
  }

  static GgufTensorType tensorType(String torchDtype) {
    return switch (torchDtype) {
      case "bfloat16" -> GgufTensorType.BF16;
      case "float16" -> GgufTensorType.F16;
      default -> GgufTensorType.F32;
    };
  }

  /** The architecture keys llama.cpp needs to run a model of this config. */
  static void writeConfig(LlamaConfig c, GgufWriter w, String name, GgufTensorType weightType) {
    writeConfig(c, w, name, fileType(weightType));
  }

  /** As above with llama.cpp's {@code general.file_type} given (a quantization mix). */
  static void writeConfig(LlamaConfig c, GgufWriter w, String name, int fileType) {
    String arch = GgufNames.architecture(c);
    w.put("general.architecture", GgufValue.string(arch));
    w.put("general.name", GgufValue.string(name));
    w.put("general.file_type", GgufValue.u32(fileType));
    w.put(arch + ".context_length", GgufValue.u32(c.maxPositionEmbeddings()));
    w.put(arch + ".embedding_length", GgufValue.u32(c.hiddenSize()));
    w.put(arch + ".block_count", GgufValue.u32(c.numHiddenLayers()));
    w.put(arch + ".feed_forward_length", GgufValue.u32(c.intermediateSize()));
    w.put(arch + ".attention.head_count", GgufValue.u32(c.numAttentionHeads()));
    w.put(arch + ".attention.head_count_kv", GgufValue.u32(c.numKeyValueHeads()));
    w.put(arch + ".rope.freq_base", GgufValue.f32((float) c.ropeTheta()));
    w.put(arch + ".attention.layer_norm_rms_epsilon", GgufValue.f32((float) c.rmsNormEps()));
    w.put(arch + ".rope.dimension_count", GgufValue.u32(c.headDim()));
    w.put(arch + ".vocab_size", GgufValue.u32(c.vocabSize()));
    if (c.ropeScaling().type() == RopeScaling.Type.LINEAR) {
      w.put(arch + ".rope.scaling.type", GgufValue.string("linear"));
      w.put(arch + ".rope.scaling.factor", GgufValue.f32((float) c.ropeScaling().factor()));
    }
  }

  /**
   * Llama 3 rope scaling in llama.cpp's form: a tensor of one divisor per frequency
   * ({@code rope_freqs.weight}), the unscaled over the scaled inverse frequency. Null without llama3 scaling.
   */
  static float[] ropeFreqFactors(LlamaConfig c) {
    if (c.ropeScaling().type() != RopeScaling.Type.LLAMA3) return null;
    float[] base = RopeTable.inverseFrequencies(c.headDim(), c.ropeTheta());
    float[] scaled = RopeTable.inverseFrequencies(c);
    float[] factors = new float[base.length];
    for (int i = 0; i < base.length; i++) factors[i] = base[i] / scaled[i];
    return factors;
  }

  /** The model config: the stored config.json when this engine wrote the file, else the llama.cpp keys. */
  static LlamaConfig readConfig(GgufFile f) throws IOException {
    Optional<String> stored = f.string(HF_CONFIG);
    if (stored.isPresent()) {
      try {
        return LlamaConfig.fromJson(JSON.readTree(stored.get()));
      } catch (IOException | IllegalArgumentException e) {
        throw new GgufException(f.path(), HF_CONFIG + ": " + e.getMessage(), e);
      }
    }
    String arch = f.string("general.architecture")
        .orElseThrow(() -> new GgufException(f.path(), "general.architecture is missing"));
    String modelType = switch (arch) {
      case "llama" -> LlamaConfig.LLAMA;
      case "qwen2" -> LlamaConfig.QWEN2;
      default -> throw new GgufException(f.path(), "general.architecture '" + arch
          + "' is not supported (supported: llama, qwen2)");
    };
    GgufTensorInfo embedding = f.tensor("token_embd.weight");
    int vocab = (int) embedding.dims()[1];
    int hidden = (int) f.requireInteger(arch + ".embedding_length");
    int heads = (int) f.requireInteger(arch + ".attention.head_count");
    int kvHeads = (int) (long) f.integer(arch + ".attention.head_count_kv").orElse((long) heads);
    long ropeDims = f.integer(arch + ".rope.dimension_count").orElse((long) (hidden / heads));
    if (ropeDims != hidden / heads) {
      throw new GgufException(f.path(), arch + ".rope.dimension_count " + ropeDims + " is not supported (only the"
          + " whole head, " + hidden / heads + ")");
    }
    for (String key : new String[] {arch + ".attention.sliding_window", arch + ".expert_count"}) {
      if (f.metadata().containsKey(key) && f.integer(key).orElse(0L) > 0) {
        throw new GgufException(f.path(), key + " is not supported");
      }
    }
    RopeScaling scaling = RopeScaling.NONE;
    String scalingType = f.string(arch + ".rope.scaling.type").orElse("none");
    switch (scalingType) {
      case "none" -> {}
      case "linear" -> scaling = RopeScaling.linear(f.number(arch + ".rope.scaling.factor").orElse(1.0));
      default -> throw new GgufException(f.path(), arch + ".rope.scaling.type '" + scalingType
          + "' is not supported (supported: none, linear)");
    }
    String dtype = switch (embedding.type()) {
      case BF16 -> "bfloat16";
      case F16 -> "float16";
      default -> "float32";
    };
    LlamaConfig c = new LlamaConfig(vocab, hidden, (int) f.requireInteger(arch + ".feed_forward_length"),
        (int) f.requireInteger(arch + ".block_count"), heads, kvHeads,
        f.number(arch + ".rope.freq_base").orElse(10000.0),
        f.number(arch + ".attention.layer_norm_rms_epsilon").orElse(1e-5),
        (int) (long) f.integer(arch + ".context_length").orElse(2048L),
        !f.has("output.weight"), dtype, scaling, modelType);
    if (f.has(GgufNames.ROPE_FREQS)) c = c.withRopeScaling(fitLlama3(f, c));
    return c;
  }

  /**
   * Llama 3 rope scaling recovered from {@code rope_freqs.weight} (llama.cpp keeps only the divisors):
   * the factor is the largest divisor; low_freq_factor 1 and high_freq_factor 4 (every Llama 3.1+
   * release), and the original context is the power of two (8192 for the releases) that reproduces every
   * divisor.
   */
  private static RopeScaling fitLlama3(GgufFile f, LlamaConfig c) throws GgufException {
    float[] factors = f.readFloats(GgufNames.ROPE_FREQS);
    float max = 1;
    for (float x : factors) max = Math.max(max, x);
    for (int original = 8192, step = 0; step < 40; step++) {
      original = step % 2 == 0 ? 8192 << (step / 2) : 8192 >> (step / 2 + 1); // 8192 first, then outwards
      if (original <= 0) continue;
      RopeScaling candidate = RopeScaling.llama3(max, 1, 4, original);
      float[] expected = ropeFreqFactors(c.withRopeScaling(candidate));
      if (expected.length != factors.length) break;
      boolean same = true;
      for (int i = 0; i < factors.length; i++) same &= Math.abs(expected[i] - factors[i]) <= 1e-4 * factors[i];
      if (same) return candidate;
    }
    throw new GgufException(f.path(), GgufNames.ROPE_FREQS + " holds rope frequency factors that are not Llama 3's"
        + " (factor " + max + ", low 1, high 4, a power-of-two original context); other scalings are not supported");
  }

  /** The tensors listed under {@link #HF_EXTRA_TENSORS} (none when the key is absent). */
  static java.util.List<String> extraTensors(GgufFile f) throws IOException {
    String text = f.string(HF_EXTRA_TENSORS).orElse(null);
    java.util.List<String> names = new java.util.ArrayList<>();
    if (text == null) return names;
    com.fasterxml.jackson.databind.JsonNode n;
    try {
      n = JSON.readTree(text);
    } catch (IOException e) {
      throw new GgufException(f.path(), HF_EXTRA_TENSORS + " is not a JSON array of tensor names");
    }
    if (n == null || !n.isArray()) throw new GgufException(f.path(), HF_EXTRA_TENSORS + " is not a JSON array of tensor names");
    for (var e : n) {
      if (!f.has(e.asText())) throw new GgufException(f.path(), HF_EXTRA_TENSORS + " lists " + e.asText() + ", which the file lacks");
      names.add(e.asText());
    }
    return names;
  }

  /**
   * Refuses a file with tensors that conversion to a directory would not carry (neither a model tensor,
   * nor rope_freqs, nor listed as carried), naming them: converting must never drop data.
   */
  static void requireNoUnknownTensors(GgufFile f, LlamaConfig c) throws IOException {
    java.util.Set<String> known = new java.util.HashSet<>(GgufNames.ggufNames(c).values());
    known.add(GgufNames.ROPE_FREQS);
    known.addAll(extraTensors(f));
    java.util.List<String> unknown = new java.util.ArrayList<>();
    for (GgufTensorInfo t : f.tensors()) if (!known.contains(t.name())) unknown.add(t.name());
    if (!unknown.isEmpty()) {
      throw new GgufException(f.path(), unknown.size() + " tensor(s) this conversion does not know, which it would"
          + " drop: " + String.join(", ", unknown.subList(0, Math.min(5, unknown.size())))
          + (unknown.size() > 5 ? ", ..." : "") + "; nothing was written");
    }
  }

  /**
   * The weights under Hugging Face names, q/k rows in the Hugging Face order. {@link
   * WeightPrecision#STORED}: every matrix not stored as F32 stays a slice of the mapping (open the
   * file with {@code unmappedByGc}), its q/k rows reordered through {@link StoredMatrix#rowOrder}, and
   * the fp32 tensors are made on demand; {@link WeightPrecision#FP32}: every tensor read as fp32 now.
   */
  static ModelWeights readWeights(GgufFile f, LlamaConfig c, WeightPrecision precision) throws GgufException {
    if (precision == WeightPrecision.FP32) return readWeights(f, c);
    Map<String, long[]> shapes = ModelWeights.expectedShapes(c);
    Map<String, StoredMatrix> stored = new LinkedHashMap<>();
    Map<String, String> names = GgufNames.ggufNames(c);
    for (Map.Entry<String, String> e : names.entrySet()) {
      String hf = e.getKey(), gguf = e.getValue();
      GgufTensorInfo t = checkedTensor(f, gguf, hf, shapes.get(hf));
      if (t.dims().length != 2 || t.type() == GgufTensorType.F32) continue;
      int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
      int heads = GgufNames.permutedHeads(c, hf);
      int[] order = heads > 0 ? GgufNames.inverse(GgufNames.ggufRowOrder(rows, heads)) : null;
      stored.put(hf, new StoredMatrix(hf, t.type(), rows, cols, f.data(gguf), order));
    }
    LazyTensors tensors = new LazyTensors(shapes, hf -> {
      StoredMatrix m = stored.get(hf);
      if (m != null) return m.toFloats();
      try {
        return readTensor(f, c, hf, names.get(hf), shapes.get(hf));
      } catch (GgufException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    return new ModelWeights(c, tensors, stored);
  }

  private static GgufTensorInfo checkedTensor(GgufFile f, String gguf, String hf, long[] shape) throws GgufException {
    GgufTensorInfo t = f.tensor(gguf);
    if (!Arrays.equals(t.shape(), shape)) {
      throw new GgufException(f.path(), "tensor " + gguf + " has shape " + Arrays.toString(t.shape()) + ", expected "
          + Arrays.toString(shape) + " for " + hf);
    }
    return t;
  }

  private static float[] readTensor(GgufFile f, LlamaConfig c, String hf, String gguf, long[] shape)
      throws GgufException {
    float[] values = f.readFloats(gguf);
    int heads = GgufNames.permutedHeads(c, hf);
    if (heads > 0) {
      values = GgufNames.permuteRows(values, c.hiddenSize(), GgufNames.inverse(GgufNames.ggufRowOrder((int) shape[0], heads)));
    }
    return values;
  }

  /** The weights as fp32 under Hugging Face names, q/k rows back in the Hugging Face order. */
  static ModelWeights readWeights(GgufFile f, LlamaConfig c) throws GgufException {
    Map<String, long[]> shapes = ModelWeights.expectedShapes(c);
    Map<String, float[]> tensors = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : GgufNames.ggufNames(c).entrySet()) {
      String hf = e.getKey(), gguf = e.getValue();
      GgufTensorInfo t = f.tensor(gguf);
      if (!Arrays.equals(t.shape(), shapes.get(hf))) {
        throw new GgufException(f.path(), "tensor " + gguf + " has shape " + Arrays.toString(t.shape()) + ", expected "
            + Arrays.toString(shapes.get(hf)) + " for " + hf);
      }
      float[] values = f.readFloats(gguf);
      int heads = GgufNames.permutedHeads(c, hf);
      if (heads > 0) {
        int rows = (int) shapes.get(hf)[0];
        values = GgufNames.permuteRows(values, c.hiddenSize(), GgufNames.inverse(GgufNames.ggufRowOrder(rows, heads)));
      }
      tensors.put(hf, values);
    }
    return new ModelWeights(c, tensors);
  }
}
