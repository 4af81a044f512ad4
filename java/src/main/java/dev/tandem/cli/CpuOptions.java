package dev.tandem.cli;

import dev.tandem.backend.cpu.CpuBackend;
import picocli.CommandLine.Option;

/** Options choosing the compute backend. */
public final class CpuOptions {
  @Option(names = "--threads", description = "CPU threads (default: all cores).", defaultValue = "0")
  int threads;

  @Option(names = "--reference", description = "Run the scalar reference kernels (slow; for checking).")
  boolean reference;

  CpuBackend backend() {
    if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
    return reference ? CpuBackend.reference() : CpuBackend.fast(threads);
  }
}
