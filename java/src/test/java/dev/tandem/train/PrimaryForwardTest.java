package dev.tandem.train;

import static dev.tandem.testing.Close.assertClose;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The training forward of a plain model (as the frozen primary runs in every secondary recipe) against
 * the inference {@link Decoder} on the CPU backend (fast and reference): same logits and same captured
 * residual streams. Tolerance 2e-4 absolute + 1e-4 relative: both are fp32, with different summation
 * orders (blocked fused multiply-adds here, the inference kernels' own order there) through 3 layers.
 */
class PrimaryForwardTest {
  static final LlamaConfig CONFIG = new LlamaConfig(97, 48, 80, 3, 6, 2, 10000.0, 1e-5, 64, false, "float32");

  @ParameterizedTest
  @ValueSource(strings = {"fast", "reference"})
  void trainingForwardEqualsInferenceDecoder(String kind) {
    ModelWeights weights = ModelWeights.random(CONFIG, 42, 0.3);
    int batch = 3, seqLen = 13, rows = batch * seqLen, V = CONFIG.vocabSize(), d = CONFIG.hiddenSize();
    int[] tokens = new SplittableRandom(5).ints(rows, 0, V).toArray();
    int[] capture = {0, 2, 3};

    float[] expectedLogits = new float[rows * V];
    float[][] expectedStates = new float[capture.length][rows * d];
    try (Backend backend = kind.equals("fast") ? CpuBackend.fast(2) : CpuBackend.reference();
        Decoder decoder = new Decoder(weights, backend, 64, seqLen, capture)) {
      float[] logits = new float[seqLen * V], state = new float[seqLen * d];
      for (int b = 0; b < batch; b++) {
        KvCache cache = decoder.newCache(1);
        BatchRows r = new BatchRows(seqLen);
        r.addSequence(0, tokens, b * seqLen, seqLen, 0);
        decoder.forward(r, cache, LogitsMode.ALL);
        decoder.downloadLogits(logits);
        System.arraycopy(logits, 0, expectedLogits, b * seqLen * V, seqLen * V);
        for (int c = 0; c < capture.length; c++) {
          backend.download(decoder.captured(c), seqLen, state);
          System.arraycopy(state, 0, expectedStates[c], b * seqLen * d, seqLen * d);
        }
      }
    }

    try (var pool = new dev.tandem.backend.cpu.WorkerPool(2)) {
      TrainModel model = TrainModel.plain(weights);
      Activations a = new Activations(CONFIG, false, batch, seqLen, false);
      System.arraycopy(tokens, 0, a.tokens(), 0, rows);
      float[][] states = new float[CONFIG.numHiddenLayers() + 1][];
      for (int l : capture) states[l] = new float[rows * d];
      model.forward(new Gemm(pool), a, null, states);
      assertClose("logits vs Decoder (" + kind + ")", expectedLogits, a.logits, rows * V, 2e-4, 1e-4);
      for (int c = 0; c < capture.length; c++) {
        assertClose("residual stream after layer " + capture[c], expectedStates[c], states[capture[c]], rows * d, 2e-4,
            1e-4);
      }
    }
  }
}
