package dev.tandem.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsShards;
import dev.tandem.io.SafetensorsWriter;
import dev.tandem.io.TensorInfo;
import dev.tandem.io.gguf.GgufException;
import dev.tandem.io.gguf.GgufFile;
import dev.tandem.io.gguf.GgufTensorInfo;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.io.gguf.GgufValue;
import dev.tandem.io.gguf.GgufWriter;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.tokenizer.GgufTokenizer;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Converts between a Hugging Face model directory and a GGUF file, both ways, copying tensor bytes
 * unchanged (F32, F16 and BF16 matrices stay what they are; only the rows of the query and key weights
 * are reordered for llama.cpp, and back). Vectors (norm gains, biases) are stored as F32 in GGUF, as
 * llama.cpp's converter does (its CPU kernels need them so; a BF16 norm aborts it), an exact widening
 * that is narrowed back exactly: their original dtypes are kept under {@code tandem.hf.tensor_dtypes}. The GGUF file also keeps the directory's config.json,
 * tokenizer.json, tokenizer_config.json and generation_config.json texts, so a directory converted to
 * GGUF and back has the same files, and the same model.safetensors when it was one file written in
 * the model's tensor order (as this engine writes it); tensors are bitwise identical in any case.
 * Tensors that are not llama.cpp's (a tandem secondary's {@code tandem_proj} projections) are carried
 * under their own names and listed under {@code tandem.hf.extra_tensors}, with the safetensors
 * metadata and training.json, so nothing is dropped; a GGUF file holding tensors this conversion does
 * not know is refused rather than converted without them. Directories are written under a temporary
 * name and renamed into place when complete.
 */
public final class ModelConverter {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelConverter() {}

  /** {@code in} a directory and {@code out} a {@code .gguf} file, or {@code in} a GGUF file and {@code out} a directory. */
  public static void convert(Path in, Path out) throws IOException {
    boolean outGguf = out.getFileName().toString().endsWith(".gguf");
    if (Files.isDirectory(in) && outGguf) {
      if (Files.exists(out)) {
        throw new IllegalArgumentException(out + " already exists; choose another --out or remove it first");
      }
      toGguf(in, out);
    } else if (ModelLoader.isGguf(in) && !outGguf) {
      toDirectory(in, out);
    } else if (!Files.exists(in)) {
      throw new IOException("input not found: " + in);
    } else {
      throw new IllegalArgumentException("convert goes from a model directory to a .gguf file or from a GGUF file to"
          + " a directory; got --in " + in + (Files.isDirectory(in) ? " (a directory)" : "") + " and --out " + out);
    }
  }

  /** Writes the model of a Hugging Face directory as one GGUF file. */
  public static void toGguf(Path dir, Path out) throws IOException {
    toGguf(dir, out, null);
  }

  /**
   * As {@link #toGguf(Path, Path)}, with the weight matrices quantized as {@code quantization} says
   * (null: stored unchanged). A quantized matrix is read as fp32 and quantized row by row; the query
   * and key rows go into llama.cpp's order first.
   */
  public static void toGguf(Path dir, Path out, Quantization quantization) throws IOException {
    Path configFile = dir.resolve(ModelWeights.CONFIG_FILE);
    if (!Files.isRegularFile(configFile)) throw new IOException("model directory " + dir + " has no config.json");
    LlamaConfig config = LlamaConfig.read(configFile);
    GgufWriter w = new GgufWriter();
    try (SafetensorsShards shards = SafetensorsShards.open(dir)) {
      Map<String, long[]> shapes = ModelWeights.expectedShapes(config);
      GgufTensorType weightType = ggufType(shards.info(dev.tandem.model.TensorNames.EMBEDDING), shards);
      String name = dir.toAbsolutePath().getFileName().toString();
      if (quantization == null) GgufCheckpoint.writeConfig(config, w, name, weightType);
      else GgufCheckpoint.writeConfig(config, w, name, quantization.fileType());
      Path tokenizerFile = dir.resolve(ModelLoader.TOKENIZER_FILE);
      if (Files.isRegularFile(tokenizerFile)) {
        Tokenizer tokenizer = ModelLoader.loadTokenizer(dir);
        GenerationDefaults defaults = ModelLoader.loadDefaults(dir, tokenizer);
        GgufTokenizer.write(tokenizer, w, Files.readString(tokenizerFile), defaults.addBos());
        if (defaults.chatTemplate() != null) w.put("tokenizer.chat_template", GgufValue.string(defaults.chatTemplate()));
      }
      w.put(GgufCheckpoint.HF_CONFIG, GgufValue.string(Files.readString(configFile)));
      storeIfPresent(w, GgufCheckpoint.HF_TOKENIZER_CONFIG, dir.resolve(ModelLoader.TOKENIZER_CONFIG_FILE));
      storeIfPresent(w, GgufCheckpoint.HF_GENERATION_CONFIG, dir.resolve(ModelLoader.GENERATION_CONFIG_FILE));
      storeIfPresent(w, GgufCheckpoint.HF_TRAINING, dir.resolve(GgufCheckpoint.TRAINING_FILE));
      ObjectNode narrowed = JSON.createObjectNode(); // vectors widened to F32: their original dtypes
      for (Map.Entry<String, String> e : GgufNames.ggufNames(config).entrySet()) {
        String hf = e.getKey();
        TensorInfo info = shards.info(hf);
        if (info.rank() == 1 && info.dtype() != DType.F32) {
          w.add(e.getValue(), GgufTensorType.F32, info.shape(), shards.readFloats(hf, info.shape()));
          narrowed.put(hf, info.dtype().safetensorsName());
          continue;
        }
        if (!Arrays.equals(info.shape(), shapes.get(hf))) {
          throw new IOException("tensor " + hf + " in " + shards.fileOf(hf).path() + " has shape "
              + Arrays.toString(info.shape()) + ", expected " + Arrays.toString(shapes.get(hf)));
        }
        int heads = GgufNames.permutedHeads(config, hf);
        if (quantization != null && info.rank() == 2) {
          float[] values = shards.readFloats(hf, info.shape());
          if (heads > 0) values = GgufNames.permuteRows(values, (int) info.shape()[1],
              GgufNames.ggufRowOrder((int) info.shape()[0], heads));
          w.add(e.getValue(), quantization.typeOf(e.getValue(), config, info.shape()[1]), info.shape(), values);
          continue;
        }
        MemorySegment bytes = shards.data(hf);
        if (heads > 0) {
          int rows = (int) info.shape()[0];
          byte[] permuted = GgufNames.permuteRows(bytes.toArray(ValueLayout.JAVA_BYTE),
              (int) (bytes.byteSize() / rows), GgufNames.ggufRowOrder(rows, heads));
          bytes = MemorySegment.ofArray(permuted);
        }
        w.addRaw(e.getValue(), ggufType(info, shards), info.shape(), bytes);
      }
      // Every other tensor of the directory (a tandem secondary's projections, anything else) is carried
      // under its own name and listed, so that nothing is dropped and the way back restores it.
      var extra = JSON.createArrayNode();
      for (String hf : shards.names()) {
        if (GgufNames.ggufNames(config).containsKey(hf)) continue;
        TensorInfo info = shards.info(hf);
        if (hf.getBytes(java.nio.charset.StandardCharsets.UTF_8).length >= GgufCheckpoint.MAX_TENSOR_NAME) {
          throw new IOException("tensor " + hf + " in " + shards.fileOf(hf).path() + " has a name too long for GGUF ("
              + GgufCheckpoint.MAX_TENSOR_NAME + " bytes at most); it cannot be carried, so nothing was written");
        }
        if (info.rank() == 1 && info.dtype() != DType.F32) {
          w.add(hf, GgufTensorType.F32, info.shape(), shards.readFloats(hf, info.shape()));
          narrowed.put(hf, info.dtype().safetensorsName());
        } else {
          w.addRaw(hf, ggufType(info, shards), info.shape(), shards.data(hf));
        }
        extra.add(hf);
      }
      ObjectNode metadata = JSON.createObjectNode(); // the safetensors header's metadata (e.g. "tandem": "secondary")
      for (var file : shards.files()) file.metadata().forEach(metadata::put);
      if (!metadata.isEmpty()) w.put(GgufCheckpoint.HF_SAFETENSORS_METADATA, GgufValue.string(metadata.toString()));
      if (!extra.isEmpty()) w.put(GgufCheckpoint.HF_EXTRA_TENSORS, GgufValue.string(extra.toString()));
      if (!narrowed.isEmpty()) w.put(GgufCheckpoint.HF_TENSOR_DTYPES, GgufValue.string(narrowed.toString()));
      float[] ropeFactors = GgufCheckpoint.ropeFreqFactors(config);
      if (ropeFactors != null) {
        w.add(GgufNames.ROPE_FREQS, GgufTensorType.F32, new long[] {ropeFactors.length}, ropeFactors);
      }
      w.write(out); // while the shards are mapped: the writer streams their bytes
    }
  }

  private static GgufTensorType ggufType(TensorInfo info, SafetensorsShards shards) throws IOException {
    return switch (info.dtype()) {
      case F32 -> GgufTensorType.F32;
      case F16 -> GgufTensorType.F16;
      case BF16 -> GgufTensorType.BF16;
      default -> throw new IOException("tensor " + info.name() + " in " + shards.fileOf(info.name()).path()
          + " has dtype " + info.dtype() + "; GGUF conversion supports F32, F16 and BF16");
    };
  }

  private static void storeIfPresent(GgufWriter w, String key, Path file) throws IOException {
    if (Files.isRegularFile(file)) w.put(key, GgufValue.string(Files.readString(file)));
  }

  /** Writes the model of a GGUF file as a Hugging Face directory (one model.safetensors). */
  public static void toDirectory(Path gguf, Path dir) throws IOException {
    if (Files.exists(dir.resolve(ModelWeights.CONFIG_FILE)) || SafetensorsShards.present(dir)) {
      throw new IllegalArgumentException(dir + " already holds a model; choose another --out or remove it first");
    }
    if (Files.exists(dir) && !isEmptyDirectory(dir)) {
      throw new IllegalArgumentException(dir + (Files.isDirectory(dir) ? " is a directory that is not empty" : " is a file")
          + "; choose another --out or remove it first");
    }
    try (GgufFile f = GgufFile.open(gguf)) {
      GgufCheckpoint.requireNoUnknownTensors(f, GgufCheckpoint.readConfig(f));
      // written under a temporary name and renamed into place when complete: a kill leaves no partial model
      AtomicFiles.writeDirectory(dir, tmp -> writeDirectory(gguf, f, tmp));
    }
  }

  private static boolean isEmptyDirectory(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) return false;
    try (var s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  private static void writeDirectory(Path gguf, GgufFile f, Path dir) throws IOException {
    LlamaConfig config = GgufCheckpoint.readConfig(f);
    GgufCheckpoint.requireNoUnknownTensors(f, config);
    Map<String, long[]> shapes = ModelWeights.expectedShapes(config);
    SafetensorsWriter writer = new SafetensorsWriter();
    writer.putMetadata("format", "pt");
    JSON.readTree(f.string(GgufCheckpoint.HF_SAFETENSORS_METADATA).orElse("{}"))
        .properties().forEach(m -> writer.putMetadata(m.getKey(), m.getValue().asText()));
    com.fasterxml.jackson.databind.JsonNode narrowed = JSON.readTree(
        f.string(GgufCheckpoint.HF_TENSOR_DTYPES).orElse("{}"));
    for (Map.Entry<String, String> e : GgufNames.ggufNames(config).entrySet()) {
      String hf = e.getKey();
      GgufTensorInfo t = f.tensor(e.getValue());
      if (!Arrays.equals(t.shape(), shapes.get(hf))) {
        throw new GgufException(gguf, "tensor " + t.name() + " has shape " + Arrays.toString(t.shape())
            + ", expected " + Arrays.toString(shapes.get(hf)));
      }
      if (narrowed.has(hf)) { // widened to F32 on the way in: back to its dtype, exactly
        DType original;
        try {
          original = DType.fromSafetensorsName(narrowed.get(hf).asText());
        } catch (IllegalArgumentException ex) {
          throw new GgufException(gguf, GgufCheckpoint.HF_TENSOR_DTYPES + ": " + ex.getMessage(), ex);
        }
        writer.add(hf, original, t.shape(), f.readFloats(t.name()));
        continue;
      }
      int heads = GgufNames.permutedHeads(config, hf);
      int[] order = heads > 0 ? GgufNames.inverse(GgufNames.ggufRowOrder((int) t.shape()[0], heads)) : null;
      if (t.type().quantized()) { // dequantized: safetensors has no block-quantized types
        float[] values = f.readFloats(t.name());
        if (order != null) values = GgufNames.permuteRows(values, (int) t.shape()[1], order);
        writer.add(hf, DType.F32, t.shape(), values);
        continue;
      }
      DType dtype = switch (t.type()) {
        case F32 -> DType.F32;
        case F16 -> DType.F16;
        case BF16 -> DType.BF16;
        default -> throw new AssertionError(t.type());
      };
      MemorySegment bytes = f.data(t.name());
      if (order != null) {
        bytes = MemorySegment.ofArray(GgufNames.permuteRows(bytes.toArray(ValueLayout.JAVA_BYTE),
            (int) (bytes.byteSize() / t.shape()[0]), order));
      }
      writer.addRaw(hf, dtype, t.shape(), bytes);
    }
    for (String name : GgufCheckpoint.extraTensors(f)) { // carried unchanged under their own names
      GgufTensorInfo t = f.tensor(name);
      if (narrowed.has(name)) {
        writer.add(name, DType.fromSafetensorsName(narrowed.get(name).asText()), t.shape(), f.readFloats(name));
      } else if (t.type().quantized()) {
        writer.add(name, DType.F32, t.shape(), f.readFloats(name));
      } else {
        writer.addRaw(name, switch (t.type()) {
          case F32 -> DType.F32;
          case F16 -> DType.F16;
          case BF16 -> DType.BF16;
          default -> throw new AssertionError(t.type());
        }, t.shape(), f.data(name));
      }
    }
    writer.write(dir.resolve(ModelWeights.WEIGHTS_FILE));

    String configText = f.string(GgufCheckpoint.HF_CONFIG).orElse(null);
    if (configText == null) {
      configText = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config.toJson()) + "\n";
    }
    AtomicFiles.writeString(dir.resolve(ModelWeights.CONFIG_FILE), configText);
    if (GgufTokenizer.present(f)) {
      Tokenizer tokenizer = GgufTokenizer.load(f);
      String tokenizerJson = f.string(GgufTokenizer.HF_JSON).orElse(null);
      if (tokenizerJson != null) AtomicFiles.writeString(dir.resolve(ModelLoader.TOKENIZER_FILE), tokenizerJson);
      else TokenizerJson.save(tokenizer, dir.resolve(ModelLoader.TOKENIZER_FILE));
      GenerationDefaults defaults = ModelLoader.loadDefaults(gguf, tokenizer);
      String tokenizerConfig = f.string(GgufCheckpoint.HF_TOKENIZER_CONFIG).orElse(null);
      if (tokenizerConfig == null) {
        ObjectNode n = JSON.createObjectNode();
        n.put("add_bos_token", defaults.addBos());
        n.put("add_eos_token", false);
        tokenizer.bosId().ifPresent(id -> n.put("bos_token", tokenizer.token(id)));
        tokenizer.eosId().ifPresent(id -> n.put("eos_token", tokenizer.token(id)));
        if (defaults.chatTemplate() != null) n.put("chat_template", defaults.chatTemplate());
        tokenizerConfig = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n";
      }
      AtomicFiles.writeString(dir.resolve(ModelLoader.TOKENIZER_CONFIG_FILE), tokenizerConfig);
      String generationConfig = f.string(GgufCheckpoint.HF_GENERATION_CONFIG).orElse(null);
      if (generationConfig == null) {
        ObjectNode n = JSON.createObjectNode();
        tokenizer.bosId().ifPresent(id -> n.put("bos_token_id", id));
        int[] stops = defaults.stopTokens();
        if (stops.length == 1) n.put("eos_token_id", stops[0]);
        else if (stops.length > 1) Arrays.stream(stops).forEach(n.putArray("eos_token_id")::add);
        generationConfig = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n";
      }
      AtomicFiles.writeString(dir.resolve(ModelLoader.GENERATION_CONFIG_FILE), generationConfig);
    } else {
      storeFileIfPresent(f, GgufCheckpoint.HF_GENERATION_CONFIG, dir.resolve(ModelLoader.GENERATION_CONFIG_FILE));
    }
    storeFileIfPresent(f, GgufCheckpoint.HF_TRAINING, dir.resolve(GgufCheckpoint.TRAINING_FILE));
  }

  private static void storeFileIfPresent(GgufFile f, String key, Path file) throws IOException {
    String text = f.string(key).orElse(null);
    if (text != null) AtomicFiles.writeString(file, text);
  }

  /**
   * Writes weights held in memory (and optionally a tokenizer) as a GGUF file in the given storage
   * type: for tests and for models this engine makes.
   */
  public static void writeGguf(ModelWeights weights, Tokenizer tokenizer, boolean addBos, GgufTensorType type,
      Path out) throws IOException {
    writeGguf(weights, tokenizer, addBos, type, null, out);
  }

  /** As above, the matrices quantized as {@code quantization} says. */
  public static void writeGguf(ModelWeights weights, Tokenizer tokenizer, boolean addBos, Quantization quantization,
      Path out) throws IOException {
    writeGguf(weights, tokenizer, addBos, GgufTensorType.F32, quantization, out);
  }

  private static void writeGguf(ModelWeights weights, Tokenizer tokenizer, boolean addBos, GgufTensorType type,
      Quantization quantization, Path out) throws IOException {
    LlamaConfig config = weights.config();
    GgufWriter w = new GgufWriter();
    String name = out.getFileName().toString().replace(".gguf", "");
    if (quantization == null) GgufCheckpoint.writeConfig(config, w, name, type);
    else GgufCheckpoint.writeConfig(config, w, name, quantization.fileType());
    if (tokenizer != null) GgufTokenizer.write(tokenizer, w, null, addBos);
    Map<String, long[]> shapes = ModelWeights.expectedShapes(config);
    for (Map.Entry<String, String> e : GgufNames.ggufNames(config).entrySet()) {
      String hf = e.getKey();
      float[] values = weights.get(hf);
      int heads = GgufNames.permutedHeads(config, hf);
      if (heads > 0) {
        values = GgufNames.permuteRows(values, config.hiddenSize(),
            GgufNames.ggufRowOrder((int) shapes.get(hf)[0], heads));
      }
      long[] shape = shapes.get(hf);
      GgufTensorType t = shape.length == 1 ? GgufTensorType.F32
          : quantization != null ? quantization.typeOf(e.getValue(), config, shape[1]) : type;
      w.add(e.getValue(), t, shape, values);
    }
    float[] ropeFactors = GgufCheckpoint.ropeFreqFactors(config);
    if (ropeFactors != null) w.add(GgufNames.ROPE_FREQS, GgufTensorType.F32, new long[] {ropeFactors.length}, ropeFactors);
    w.write(out);
  }
}
