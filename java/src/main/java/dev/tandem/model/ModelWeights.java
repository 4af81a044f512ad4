package dev.tandem.model;

import dev.tandem.backend.StoredMatrix;
import dev.tandem.io.DType;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.io.SafetensorsShards;
import dev.tandem.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * A Llama-style model's weights on the host, as fp32 arrays under their Hugging Face names, with
 * the config they belong to. Loaded from or saved to a model directory ({@code config.json} +
 * {@code model.safetensors}), or generated at random for tests and benchmarks. A loaded model's
 * tensors are read from the memory-mapped files on demand ({@link MappedTensors}: each
 * {@link #get} returns a fresh array), so building a decoder holds one fp32 tensor at a time.
 *
 * <p>{@code stored}: the weight matrices kept in their checkpoint format ({@link WeightPrecision#STORED},
 * the default when loading: BF16 and F16 safetensors, every non-F32 GGUF matrix), slices of the
 * mapped files. {@link #matrix} hands those to the backend, and the others as fp32.
 */
public record ModelWeights(LlamaConfig config, Map<String, float[]> tensors, Map<String, StoredMatrix> stored) {
  public ModelWeights(LlamaConfig config, Map<String, float[]> tensors) {
    this(config, tensors, Map.of());
  }

  public static final String CONFIG_FILE = "config.json";
  public static final String WEIGHTS_FILE = "model.safetensors";

  /** The tensors a model of this config has, with their shapes, in a stable order. */
  public static Map<String, long[]> expectedShapes(LlamaConfig c) {
    Map<String, long[]> shapes = new LinkedHashMap<>();
    long d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    shapes.put(TensorNames.EMBEDDING, new long[] {c.vocabSize(), d});
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      shapes.put(TensorNames.attentionNorm(l), new long[] {d});
      shapes.put(TensorNames.query(l), new long[] {d, d});
      shapes.put(TensorNames.key(l), new long[] {kv, d});
      shapes.put(TensorNames.value(l), new long[] {kv, d});
      if (c.attentionBias()) {
        shapes.put(TensorNames.queryBias(l), new long[] {d});
        shapes.put(TensorNames.keyBias(l), new long[] {kv});
        shapes.put(TensorNames.valueBias(l), new long[] {kv});
      }
      shapes.put(TensorNames.output(l), new long[] {d, d});
      shapes.put(TensorNames.mlpNorm(l), new long[] {d});
      shapes.put(TensorNames.gate(l), new long[] {f, d});
      shapes.put(TensorNames.up(l), new long[] {f, d});
      shapes.put(TensorNames.down(l), new long[] {d, f});
    }
    shapes.put(TensorNames.FINAL_NORM, new long[] {d});
    if (!c.tieWordEmbeddings()) shapes.put(TensorNames.LM_HEAD, new long[] {c.vocabSize(), d});
    return shapes;
  }

  public float[] get(String name) {
    float[] t = tensors.get(name);
    if (t == null) throw new IllegalArgumentException("model has no tensor " + name);
    return t;
  }

  /**
   * Weight matrix {@code name} ({@code [rows][cols]}) for {@link dev.tandem.backend.Backend#weights(StoredMatrix)}:
   * in its stored format when it was kept so, else as fp32.
   */
  public StoredMatrix matrix(String name, int rows, int cols) {
    StoredMatrix m = stored.get(name);
    if (m != null) {
      if (m.rows() != rows || m.cols() != cols) {
        throw new IllegalArgumentException(name + " is [" + m.rows() + "][" + m.cols() + "], expected [" + rows + "][" + cols + "]");
      }
      return m;
    }
    return StoredMatrix.ofFloats(name, get(name), rows, cols);
  }

  /** The same weights with every matrix converted to fp32 when used ({@link WeightPrecision#FP32}). */
  public ModelWeights inFp32() {
    return stored.isEmpty() ? this : new ModelWeights(config, tensors);
  }

  /** The storage format of tensor {@code name}: its stored format, or F32. */
  public GgufTensorType format(String name) {
    StoredMatrix m = stored.get(name);
    return m == null ? GgufTensorType.F32 : m.format();
  }

  /** The output projection: lm_head, or the embedding table when they are tied. */
  public float[] lmHead() {
    return config.tieWordEmbeddings() ? get(TensorNames.EMBEDDING) : get(TensorNames.LM_HEAD);
  }

  /**
   * Random weights: matrices (and Qwen2's biases) from N(0, std^2) with std = 0.02 (the Hugging
   * Face initializer range), norm gains 1. Deterministic in (config, seed) whatever the thread count: each chunk of
   * each tensor has its own generator seeded from (seed, tensor index, chunk index).
   */
  public static ModelWeights random(LlamaConfig config, long seed) {
    return random(config, seed, 0.02);
  }

  public static ModelWeights random(LlamaConfig config, long seed, double std) {
    Map<String, float[]> tensors = new LinkedHashMap<>();
    int index = 0;
    for (Map.Entry<String, long[]> e : expectedShapes(config).entrySet()) {
      long numel = 1;
      for (long dim : e.getValue()) numel *= dim;
      if (numel > Integer.MAX_VALUE - 16) throw new IllegalArgumentException(e.getKey() + " is too large for one array");
      float[] data = new float[(int) numel];
      if (e.getValue().length == 1 && !e.getKey().endsWith(".bias")) {
        java.util.Arrays.fill(data, 1f);
      } else {
        fillGaussian(data, seed, index, std);
      }
      tensors.put(e.getKey(), data);
      index++;
    }
    return new ModelWeights(config, tensors);
  }

  private static void fillGaussian(float[] data, long seed, int tensorIndex, double std) {
    final int chunk = 1 << 16;
    int chunks = (data.length + chunk - 1) / chunk;
    IntStream.range(0, chunks).parallel().forEach(c -> {
      SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + tensorIndex * 1_000_003L + c);
      int end = Math.min(data.length, (c + 1) * chunk);
      for (int i = c * chunk; i < end; i++) data[i] = (float) (random.nextGaussian() * std);
    });
  }

  /**
   * Loads a Hugging Face model directory: {@code config.json} and {@code model.safetensors} or the
   * shards listed by {@code model.safetensors.index.json}, checking every tensor's shape; F32, BF16
   * and F16 tensors become fp32. Tensors the model does not use (e.g. {@code rotary_emb.inv_freq}, or
   * {@code lm_head.weight} next to tied embeddings) are ignored.
   */
  public static ModelWeights load(Path dir) throws IOException {
    return load(dir, WeightPrecision.DEFAULT);
  }

  /** As {@link #load(Path)}; with {@link WeightPrecision#STORED} BF16 and F16 matrices also stay as stored. */
  public static ModelWeights load(Path dir, WeightPrecision precision) throws IOException {
    if (Files.isRegularFile(dir)) {
      byte[] magic = new byte[4];
      try (var in = Files.newInputStream(dir)) {
        magic = in.readNBytes(4);
      }
      throw new IOException(new String(magic, java.nio.charset.StandardCharsets.ISO_8859_1).equals("GGUF")
          ? dir + " is a GGUF file; this command reads a model directory: convert it first (tandem convert --in " + dir
              + " --out DIR)"
          : dir + " is a file, not a model directory");
    }
    if (!Files.isDirectory(dir)) throw new IOException("model directory not found: " + dir);
    Path configFile = dir.resolve(CONFIG_FILE);
    if (!Files.isRegularFile(configFile)) throw new IOException("model directory " + dir + " has no " + CONFIG_FILE);
    LlamaConfig config = LlamaConfig.read(configFile);
    Map<String, long[]> shapes = expectedShapes(config);
    SafetensorsShards files = SafetensorsShards.open(dir, true);  // unmapped when the weights are unreachable
    for (Map.Entry<String, long[]> e : shapes.entrySet()) files.checkFloats(e.getKey(), e.getValue());
    Map<String, StoredMatrix> stored = new LinkedHashMap<>();
    if (precision == WeightPrecision.STORED) {
      for (Map.Entry<String, long[]> e : shapes.entrySet()) {
        long[] shape = e.getValue();
        DType dtype = files.info(e.getKey()).dtype();
        if (shape.length != 2 || (dtype != DType.BF16 && dtype != DType.F16)) continue;
        stored.put(e.getKey(), new StoredMatrix(e.getKey(), dtype == DType.BF16 ? GgufTensorType.BF16 : GgufTensorType.F16,
            (int) shape[0], (int) shape[1], files.data(e.getKey()), null));
      }
    }
    return new ModelWeights(config, new MappedTensors(files, shapes), stored);
  }

  /** The config.json {@code torch_dtype} of a storage dtype (F32, BF16 or F16). */
  public static String torchDtype(DType dtype) {
    return switch (dtype) {
      case F32 -> "float32";
      case BF16 -> "bfloat16";
      case F16 -> "float16";
      default -> throw new IllegalArgumentException("weights can be saved as F32, BF16 or F16, not " + dtype);
    };
  }

  /** Writes {@code dir/config.json} and {@code dir/model.safetensors} with tensors stored as {@code dtype}. */
  public void save(Path dir, DType dtype) throws IOException {
    Files.createDirectories(dir);
    String torchDtype = torchDtype(dtype);
    SafetensorsWriter writer = new SafetensorsWriter();
    writer.putMetadata("format", "pt");
    for (Map.Entry<String, long[]> e : expectedShapes(config).entrySet()) {
      writer.add(e.getKey(), dtype, e.getValue(), get(e.getKey()));
    }
    writer.write(dir.resolve(WEIGHTS_FILE));
    config.withDtype(torchDtype).write(dir.resolve(CONFIG_FILE));
  }
}
