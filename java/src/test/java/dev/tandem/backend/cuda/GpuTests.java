package dev.tandem.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tandem.io.FloatFormats;
import dev.tandem.model.ModelWeights;
import java.util.LinkedHashMap;
import java.util.Map;

/** Shared pieces of the GPU tests, which skip cleanly on a machine without a usable GPU. */
final class GpuTests {
  private GpuTests() {}

  static boolean available() {
    return CudaProbe.isAvailable();
  }

  static void assumeGpu() {
    assumeTrue(available(), () -> "GPU test skipped: " + CudaProbe.probe().describe());
  }

  /** A backend that synchronizes after every launch, so a fault names its kernel. */
  static CudaBackend backend() {
    return CudaBackend.create(CudaBackend.Options.checked());
  }

  static float[] bf16(float[] a) {
    float[] r = new float[a.length];
    for (int i = 0; i < a.length; i++) r[i] = FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(a[i]));
    return r;
  }

  /**
   * The weights as the GPU holds them: every matrix rounded to bf16, vectors (norm gains) exact.
   * The CPU reference run on these sees the same weights, so only activation rounding differs.
   */
  static ModelWeights bf16(ModelWeights w) {
    Map<String, float[]> rounded = new LinkedHashMap<>();
    Map<String, long[]> shapes = ModelWeights.expectedShapes(w.config());
    for (Map.Entry<String, float[]> e : w.tensors().entrySet()) {
      boolean vector = shapes.get(e.getKey()).length == 1;
      rounded.put(e.getKey(), vector ? e.getValue() : bf16(e.getValue()));
    }
    return new ModelWeights(w.config(), rounded);
  }
}
