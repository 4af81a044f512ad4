package dev.tandem.model;

import java.util.List;
import java.util.Locale;

/** Named model shapes for benchmarks with random weights (no checkpoint needed). */
public final class ModelShapes {
  private ModelShapes() {}

  /**
   * Llama-3.2-1B: vocab 128256, hidden 2048, intermediate 8192, 16 layers, 32 heads over 8 KV
   * heads (head dim 64), rope_theta 500000, tied embeddings; 1.24 B parameters.
   */
  public static final LlamaConfig LLAMA_3_2_1B =
      new LlamaConfig(128256, 2048, 8192, 16, 32, 8, 500000.0, 1e-5, 131072, true, "bfloat16");

  public static List<String> names() {
    return List.of("llama-3.2-1b");
  }

  public static LlamaConfig byName(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "llama-3.2-1b" -> LLAMA_3_2_1B;
      default -> throw new IllegalArgumentException("unknown shape '" + name + "'; known: " + names());
    };
  }
}
