package dev.tandem.model;

import static dev.tandem.testing.Close.assertBitwise;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsException;
import dev.tandem.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelWeightsTest {
  static final LlamaConfig CONFIG = new LlamaConfig(50, 16, 24, 2, 4, 2, 10000.0, 1e-5, 32, false, "float32");

  @TempDir Path dir;

  @Test
  void savesAndLoadsEveryTensorBitwiseInF32() throws IOException {
    ModelWeights w = ModelWeights.random(CONFIG, 3);
    w.save(dir, DType.F32);
    ModelWeights loaded = ModelWeights.load(dir);
    assertThat(loaded.config()).isEqualTo(CONFIG);
    for (Map.Entry<String, float[]> e : w.tensors().entrySet()) {
      assertBitwise(e.getKey(), e.getValue(), loaded.get(e.getKey()), e.getValue().length);
    }
  }

  /**
   * A loaded model reads its tensors from the mapped file on demand: every get is a fresh array (a
   * caller that changes it changes nothing else), the map is unmodifiable, and every tensor is still
   * checked at load time (the tests below).
   */
  @Test
  void loadedTensorsAreReadOnDemandAsFreshArrays() throws IOException {
    ModelWeights w = ModelWeights.random(CONFIG, 4);
    w.save(dir, DType.BF16);
    ModelWeights loaded = ModelWeights.load(dir);
    float[] first = loaded.get(TensorNames.gate(0));
    float[] second = loaded.get(TensorNames.gate(0));
    assertThat(second).isNotSameAs(first).containsExactly(first);
    first[0] = 1234f;
    assertThat(loaded.get(TensorNames.gate(0))[0]).isEqualTo(second[0]);
    assertThat(loaded.tensors()).hasSize(ModelWeights.expectedShapes(CONFIG).size())
        .containsOnlyKeys(ModelWeights.expectedShapes(CONFIG).keySet());
    assertThatThrownBy(() -> loaded.tensors().put("x", new float[1])).isInstanceOf(UnsupportedOperationException.class);
    assertThat(loaded.tensors().get("not.a.tensor")).isNull();
  }

  @Test
  void bf16SaveRecordsTheDtype() throws IOException {
    ModelWeights.random(CONFIG, 3).save(dir, DType.BF16);
    assertThat(ModelWeights.load(dir).config().torchDtype()).isEqualTo("bfloat16");
  }

  @Test
  void randomWeightsAreDeterministic() {
    float[] a = ModelWeights.random(CONFIG, 9).get(TensorNames.query(1));
    float[] b = ModelWeights.random(CONFIG, 9).get(TensorNames.query(1));
    assertBitwise("same seed", a, b, a.length);
    assertThat(ModelWeights.random(CONFIG, 10).get(TensorNames.query(1))).isNotEqualTo(a);
  }

  @Test
  void missingTensorIsNamed() throws IOException {
    ModelWeights w = ModelWeights.random(CONFIG, 3);
    w.save(dir, DType.F32);
    SafetensorsWriter writer = new SafetensorsWriter();
    for (var e : ModelWeights.expectedShapes(CONFIG).entrySet()) {
      if (!e.getKey().equals(TensorNames.down(1))) writer.add(e.getKey(), DType.F32, e.getValue(), w.get(e.getKey()));
    }
    writer.write(dir.resolve(ModelWeights.WEIGHTS_FILE));
    assertThatThrownBy(() -> ModelWeights.load(dir)).isInstanceOf(SafetensorsException.class)
        .hasMessageContaining("model.layers.1.mlp.down_proj.weight").hasMessageContaining("missing");
  }

  @Test
  void wrongShapeForTheConfigIsNamed() throws IOException {
    ModelWeights.random(CONFIG, 3).save(dir, DType.F32);
    // A config claiming a wider MLP than the weights have.
    Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json"))
        .replace("\"intermediate_size\" : 24", "\"intermediate_size\" : 32"));
    assertThatThrownBy(() -> ModelWeights.load(dir)).isInstanceOf(SafetensorsException.class)
        .hasMessageContaining("gate_proj").hasMessageContaining("expected [32, 16]");
  }

  @Test
  void missingFilesAndBadConfigsAreClear() throws IOException {
    assertThatThrownBy(() -> ModelWeights.load(dir.resolve("absent"))).hasMessageContaining("not found");
    Files.writeString(dir.resolve("config.json"), "{\"vocab_size\": 10}");
    Files.writeString(dir.resolve("model.safetensors"), "");
    assertThatThrownBy(() -> ModelWeights.load(dir)).hasMessageContaining("config.json: missing field");
    Files.writeString(dir.resolve("config.json"), "{not json");
    assertThatThrownBy(() -> ModelWeights.load(dir)).hasMessageContaining("malformed JSON");
  }
}
