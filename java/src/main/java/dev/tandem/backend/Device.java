package dev.tandem.backend;

import java.util.Locale;

/** Where to compute: the CPU, the GPU, or the GPU when one is usable and otherwise the CPU. */
public enum Device {
  CPU, CUDA, AUTO;

  /** Parses {@code cpu}, {@code cuda} or {@code auto} (any case). */
  public static Device parse(String text) {
    try {
      return valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--device must be cpu, cuda or auto, got '" + text + "'");
    }
  }
}
