package dev.tandem.cli;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.backend.Device;
import picocli.CommandLine.Option;

/** Options choosing the compute backend (every command that computes). */
public final class DeviceOptions {
  @Option(names = "--device", defaultValue = "auto",
      description = "cpu, cuda or auto (default: auto: the GPU when one is usable, else the CPU with a note).")
  String device;

  @Option(names = "--threads", description = "CPU threads (default: all cores).", defaultValue = "0",
      converter = ThreadCount.class)
  int threads;

  @Option(names = "--reference", description = "Run the CPU scalar reference kernels (slow; for checking).")
  boolean reference;

  Device device() {
    return Device.parse(device);
  }

  public Backend backend() {
    return BackendProvider.open(device(), threads, reference, System.err);
  }
}
