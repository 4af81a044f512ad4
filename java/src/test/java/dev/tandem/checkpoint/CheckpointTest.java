package dev.tandem.checkpoint;

import static dev.tandem.testing.Close.assertBitwise;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsWriter;
import dev.tandem.io.gguf.GgufFile;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.RopeScaling;
import dev.tandem.model.TensorNames;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.tokenizer.Vocabularies;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face directories (sharded too) and GGUF files: loading, conversion both ways, same logits. */
class CheckpointTest {
  @TempDir Path dir;

  /** Llama with GQA (6 heads over 2), head dim 8, untied, a vocabulary one larger than the byte tokenizer. */
  static final LlamaConfig LLAMA = new LlamaConfig(258, 48, 80, 2, 6, 2, 10000.0, 1e-5, 64, false, "float32");
  static final LlamaConfig QWEN = new LlamaConfig(258, 48, 80, 2, 6, 2, 1e6, 1e-6, 64, true, "float32",
      RopeScaling.NONE, LlamaConfig.QWEN2);
  static final LlamaConfig LLAMA31 = LLAMA.withRopeScaling(RopeScaling.llama3(8, 1, 4, 16));

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Writes weights as Hugging Face shards (the tensors split in {@code shards} parts) with the index. */
  static void writeSharded(ModelWeights w, Path out, int shards, DType dtype) throws IOException {
    Files.createDirectories(out);
    List<Map.Entry<String, long[]>> all = new ArrayList<>(ModelWeights.expectedShapes(w.config()).entrySet());
    ObjectNode index = JSON.createObjectNode();
    index.putObject("metadata").put("total_size", 0);
    ObjectNode map = index.putObject("weight_map");
    for (int s = 0; s < shards; s++) {
      String name = String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
      SafetensorsWriter writer = new SafetensorsWriter().putMetadata("format", "pt");
      for (int i = s * all.size() / shards; i < (s + 1) * all.size() / shards; i++) {
        writer.add(all.get(i).getKey(), dtype, all.get(i).getValue(), w.get(all.get(i).getKey()));
        map.put(all.get(i).getKey(), name);
      }
      writer.write(out.resolve(name));
    }
    Files.writeString(out.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index));
    w.config().withDtype(ModelWeights.torchDtype(dtype)).write(out.resolve("config.json"));
    TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")), out.resolve("tokenizer.json"));
  }

  /** Logits of every position of a fixed token sequence. */
  static float[] logits(ModelWeights w, CpuBackend backend) {
    int[] tokens = new SplittableRandom(3).ints(19, 0, 257).toArray();
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
  void shardedDirectoryAndItsGgufGiveTheSameLogits() throws IOException {
    for (LlamaConfig config : List.of(LLAMA, QWEN, LLAMA31)) {
      ModelWeights w = ModelWeights.random(config, 11, 0.3);
      Path hf = dir.resolve(config.modelType() + config.ropeScaling().type() + "-hf");
      writeSharded(w, hf, 3, DType.F32);
      LoadedModel fromHf = ModelLoader.load(hf);
      for (String name : w.tensors().keySet()) {
        assertBitwise(name, w.get(name), fromHf.weights().get(name), w.get(name).length);
      }
      assertThat(fromHf.weights().config()).isEqualTo(config);
      Path gguf = dir.resolve(config.modelType() + config.ropeScaling().type() + ".gguf");
      ModelConverter.convert(hf, gguf);
      try (GgufFile f = GgufFile.open(gguf)) {
        assertThat(f.has("rope_freqs.weight")).isEqualTo(config.ropeScaling().type() == RopeScaling.Type.LLAMA3);
        assertThat(f.has("output.weight")).isEqualTo(!config.tieWordEmbeddings());
        assertThat(f.string("general.architecture")).hasValue(config.attentionBias() ? "qwen2" : "llama");
      }
      LoadedModel fromGguf = ModelLoader.load(gguf);
      assertThat(fromGguf.weights().config()).isEqualTo(config);
      assertThat(Vocabularies.firstDifference(fromHf.tokenizer(), fromGguf.tokenizer())).isEmpty();
      try (CpuBackend backend = CpuBackend.fast(2)) {
        float[] a = logits(fromHf.weights(), backend), b = logits(fromGguf.weights(), backend);
        assertBitwise(config.modelType() + " logits, HF shards vs GGUF", a, b, a.length);
      }
    }
  }

  @Test
  void ggufPermutesQueryAndKeyRowsLikeLlamaCpp() throws IOException {
    // Row h*hd + 2i + j of the GGUF weight is row h*hd + j*hd/2 + i of the Hugging Face one.
    int[] order = GgufNames.ggufRowOrder(8, 2); // 2 heads of 4 rows
    assertThat(order).containsExactly(0, 2, 1, 3, 4, 6, 5, 7);
    ModelWeights w = ModelWeights.random(LLAMA, 5, 0.3);
    Path gguf = dir.resolve("m.gguf");
    ModelConverter.writeGguf(w, null, false, GgufTensorType.F32, gguf);
    try (GgufFile f = GgufFile.open(gguf)) {
      float[] q = f.readFloats("blk.0.attn_q.weight");
      float[] k = f.readFloats("blk.1.attn_k.weight");
      float[] hfQ = w.get(TensorNames.query(0)), hfK = w.get(TensorNames.key(1));
      int d = LLAMA.hiddenSize(), hd = LLAMA.headDim();
      for (int h = 0; h < LLAMA.numAttentionHeads(); h++) {
        for (int i = 0; i < hd / 2; i++) {
          for (int j = 0; j < 2; j++) {
            for (int c = 0; c < d; c += 7) {
              assertThat(q[(h * hd + 2 * i + j) * d + c]).isEqualTo(hfQ[(h * hd + j * hd / 2 + i) * d + c]);
              if (h < LLAMA.numKeyValueHeads()) {
                assertThat(k[(h * hd + 2 * i + j) * d + c]).isEqualTo(hfK[(h * hd + j * hd / 2 + i) * d + c]);
              }
            }
          }
        }
      }
      assertThat(f.readFloats("blk.0.attn_v.weight")).containsExactly(w.get(TensorNames.value(0)));
    }
    // A GGUF without the stored config.json (as llama.cpp's converter writes it) reads back the same.
    LoadedModel back = ModelLoader.load(gguf);
    assertThat(back.weights().config()).isEqualTo(LLAMA);
    for (String name : w.tensors().keySet()) {
      assertBitwise(name, w.get(name), back.weights().get(name), w.get(name).length);
    }
  }

  @Test
  void llama3RopeScalingIsRecoveredFromRopeFreqsWithoutTheStoredConfig() throws IOException {
    LlamaConfig c = LLAMA.withRopeScaling(RopeScaling.llama3(8, 1, 4, 8192)).withModelType(LlamaConfig.LLAMA);
    LlamaConfig big = new LlamaConfig(258, 64, 80, 1, 2, 1, 500000.0, 1e-5, 131072, true, "float32",
        c.ropeScaling(), LlamaConfig.LLAMA);
    Path gguf = dir.resolve("l31.gguf");
    ModelConverter.writeGguf(ModelWeights.random(big, 1, 0.1), null, false, GgufTensorType.F32, gguf);
    assertThat(ModelLoader.load(gguf).weights().config().ropeScaling().type()).isEqualTo(RopeScaling.Type.LLAMA3);
    assertThat(ModelLoader.load(gguf).weights().config().ropeScaling().factor()).isEqualTo(8.0);
  }

  @Test
  void directoryToGgufAndBackIsBitwiseIdentical() throws IOException {
    int i = 0;
    for (LlamaConfig config : List.of(LLAMA, QWEN, LLAMA31)) {
      for (DType dtype : List.of(DType.BF16, DType.F16, DType.F32)) {
        Path hf = dir.resolve("src" + i), gguf = dir.resolve("m" + i + ".gguf"), back = dir.resolve("back" + i++);
        ModelWeights.random(config, 21, 0.5).save(hf, dtype);
        TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")), hf.resolve("tokenizer.json"));
        Files.writeString(hf.resolve("tokenizer_config.json"), "{\"add_bos_token\": false, \"eos_token\": "
            + "\"<|endoftext|>\", \"chat_template\": \"{% for m in messages %}<|im_start|>{{ m.role }}\\n"
            + "{{ m.content }}<|im_end|>\\n{% endfor %}\"}\n");
        Files.writeString(hf.resolve("generation_config.json"), "{\"eos_token_id\": 256}\n");
        ModelConverter.convert(hf, gguf);
        ModelConverter.convert(gguf, back);
        for (String file : List.of("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json")) {
          assertThat(Files.readAllBytes(back.resolve(file))).as("%s of %s %s", file, config.modelType(), dtype)
              .isEqualTo(Files.readAllBytes(hf.resolve(file)));
        }
        LoadedModel loaded = ModelLoader.load(gguf);
        assertThat(loaded.defaults().chatTemplate()).contains("<|im_start|>");
        assertThat(loaded.defaults().stopTokens()).containsExactly(256);
      }
    }
  }

  /** Issue 18, item 1: a tandem secondary's projections, its tandem config and training.json survive GGUF. */
  @Test
  void tandemSecondaryToGgufAndBackKeepsEveryTensorAndItsConfig() throws IOException {
    ModelWeights primary = ModelWeights.random(LLAMA, 5, 0.5);
    dev.tandem.secondary.TandemWeights tandem = dev.tandem.speculative.SpeedFixtures.tandem(primary, 6, 0.5);
    Path hf = dir.resolve("tandem"), gguf = dir.resolve("tandem.gguf"), back = dir.resolve("tandem-back");
    tandem.save(hf, DType.BF16);
    TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")), hf.resolve("tokenizer.json"));
    Files.writeString(hf.resolve("training.json"), "{\"recipe\": \"tandem-ce\"}\n");
    ModelConverter.convert(hf, gguf);
    ModelConverter.convert(gguf, back);
    for (String file : List.of("model.safetensors", "config.json", "tokenizer.json", "training.json")) {
      assertThat(Files.readAllBytes(back.resolve(file))).as(file).isEqualTo(Files.readAllBytes(hf.resolve(file)));
    }
    dev.tandem.secondary.TandemWeights loaded = dev.tandem.secondary.TandemWeights.load(back);
    assertThat(loaded.config().layerMap()).isEqualTo(tandem.config().layerMap());
    float[][] original = dev.tandem.secondary.TandemWeights.load(hf).projections();
    for (int j = 0; j < loaded.projections().length; j++) {
      assertThat(loaded.projections()[j]).as("tandem_proj %d", j).isEqualTo(original[j]);
    }
    // the GGUF file itself cannot run as a tandem secondary: a clear refusal, not a plain model without projections
    assertThatThrownBy(() -> ModelLoader.load(gguf)).hasMessageContaining("tandem secondary")
        .hasMessageContaining("convert it back");
  }

  /** A GGUF file with a tensor the conversion would not carry is refused, and nothing is written. */
  @Test
  void ggufWithAnUnknownTensorIsRefusedNotDropped() throws IOException {
    Path hf = dir.resolve("plain"), gguf = dir.resolve("plain.gguf"), odd = dir.resolve("odd.gguf");
    ModelWeights.random(LLAMA, 5, 0.5).save(hf, DType.F32);
    ModelConverter.convert(hf, gguf);
    try (GgufFile f = GgufFile.open(gguf)) {
      dev.tandem.io.gguf.GgufWriter w = new dev.tandem.io.gguf.GgufWriter();
      f.metadata().forEach(w::put);
      for (var t : f.tensors()) w.addRaw(t.name(), t.type(), t.shape(), f.data(t.name()));
      w.add("blk.0.mystery.weight", GgufTensorType.F32, new long[] {4}, new float[] {1, 2, 3, 4});
      w.write(odd);
    }
    Path out = dir.resolve("odd-back");
    assertThatThrownBy(() -> ModelConverter.convert(odd, out)).hasMessageContaining("blk.0.mystery.weight")
        .hasMessageContaining("drop");
    assertThat(out).doesNotExist();
  }

  @Test
  void generationDefaultsFromTheDirectory() throws IOException {
    Path hf = dir.resolve("m");
    ModelWeights.random(LLAMA, 1, 0.1).save(hf, DType.F32);
    TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|begin_of_text|>", "<|eot_id|>")),
        hf.resolve("tokenizer.json"));
    Files.writeString(hf.resolve("tokenizer_config.json"), "{\"add_bos_token\": true, \"bos_token\": "
        + "{\"content\": \"<|begin_of_text|>\"}, \"eos_token\": \"<|eot_id|>\"}");
    Files.writeString(hf.resolve("generation_config.json"), "{\"eos_token_id\": [257, 256]}");
    LoadedModel m = ModelLoader.load(hf);
    assertThat(m.tokenizer().bosId()).hasValue(256);
    assertThat(m.tokenizer().eosId()).hasValue(257);
    assertThat(m.defaults().addBos()).isTrue();
    assertThat(m.defaults().stopTokens()).containsExactly(257, 256);
    assertThat(m.promptTokens("hi")).containsExactly(256, 'h', 'i');
  }

  @Test
  void unsupportedOrBrokenCheckpointsAreClearErrors() throws IOException {
    Path hf = dir.resolve("m");
    ModelWeights.random(LLAMA, 1, 0.1).save(hf, DType.F32);
    ObjectNode config = (ObjectNode) JSON.readTree(hf.resolve("config.json").toFile());
    config.put("model_type", "gpt_neox");
    Files.writeString(hf.resolve("config.json"), config.toString());
    assertThatThrownBy(() -> ModelLoader.load(hf)).hasMessageContaining("config.json")
        .hasMessageContaining("model_type 'gpt_neox' is not supported");
    Path notModel = Files.writeString(dir.resolve("x.bin"), "hello");
    assertThatThrownBy(() -> ModelLoader.load(notModel)).hasMessageContaining("neither a model directory nor a GGUF");
    Path sharded = dir.resolve("s");
    writeSharded(ModelWeights.random(LLAMA, 1, 0.1), sharded, 2, DType.BF16);
    Files.delete(sharded.resolve("model-00002-of-00002.safetensors"));
    assertThatThrownBy(() -> ModelLoader.load(sharded)).hasMessageContaining("model-00002-of-00002.safetensors")
        .hasMessageContaining("missing");
  }
}
