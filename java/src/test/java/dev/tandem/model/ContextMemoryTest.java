package dev.tandem.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

/**
 * Issue 18, item 4: a context too large for memory is refused before anything that large is allocated,
 * with the numbers (it died with OutOfMemoryError, or an int overflow in RopeTable.build, after a minute).
 */
class ContextMemoryTest {
  /** head dim 2 (16 heads of width 32): a small RoPE table beside a large KV cache (kvDim 32). */
  static final LlamaConfig WIDE_KV = new LlamaConfig(64, 32, 48, 2, 16, 16, 10000.0, 1e-5, 2_000_000_000, true,
      "float32");
  /** head dim 8. */
  static final LlamaConfig LONG = new LlamaConfig(64, 32, 48, 2, 4, 2, 10000.0, 1e-5, 2_000_000_000, true, "float32");

  @Test
  void ropeTableBeyondAJavaArrayIsRefusedWithTheNumbers() {
    ModelWeights w = ModelWeights.random(LONG, 1);
    try (CpuBackend backend = CpuBackend.fast(1)) {
      long start = System.nanoTime();
      assertThatThrownBy(() -> new Decoder(w, backend, 2_000_000_000, 4))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("the RoPE table for a context of 2000000000 needs 59.6 GiB")
          .hasMessageContaining("2000000000 positions x 8 x 4 bytes")
          .hasMessageContaining("more than the 2^31 a Java array holds")
          .hasMessageContaining("give a smaller --context");
      assertThat((System.nanoTime() - start) / 1e9).as("seconds to refuse").isLessThan(5);
    }
  }

  @Test
  void ropeTableBeyondTheHeapIsRefused() {
    ModelWeights w = ModelWeights.random(LONG, 1);
    int context = (int) Math.min(Integer.MAX_VALUE / 8 - 16, Runtime.getRuntime().maxMemory() / 16); // 2x the heap
    try (CpuBackend backend = CpuBackend.fast(1)) {
      assertThatThrownBy(() -> new Decoder(w, backend, context, 4)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("the RoPE table for a context of " + context + " needs")
          .hasMessageContaining("of host memory available");
    }
  }

  @Test
  void kvCacheBeyondMemoryIsRefusedBeforeAllocating() {
    ModelWeights w = ModelWeights.random(WIDE_KV, 1);
    int context = 30_000_000; // RoPE 240 MB; KV cache 2 layers x 2 x 30M x 32 x 4 = 15.4 GB
    try (CpuBackend backend = CpuBackend.fast(1); Decoder d = new Decoder(w, backend, context, 4)) {
      assertThatThrownBy(() -> d.newCache(1)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("a KV cache for 1 sequence of 30000000 positions needs 14.3 GiB")
          .hasMessageContaining("2 layers x 2 (keys, values) x 1 x 30000000 positions x 32 x 4 bytes")
          .hasMessageContaining("give a smaller --context");
    }
  }
}
