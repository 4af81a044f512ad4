package dev.tandem.cli;

import dev.tandem.backend.cuda.CudaBackend;
import dev.tandem.backend.cuda.CudaProbe;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code tandem device}: the GPU and driver as the CUDA backend sees them, or why there is none. */
@Command(name = "device", mixinStandardHelpOptions = true,
    description = "Show the GPU and CUDA driver the engine would use (or why it would run on the CPU).")
public final class DeviceCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    CudaProbe probe = CudaProbe.probe();
    System.out.println(probe.describe());
    if (!probe.available()) return 0;
    try (CudaBackend gpu = CudaBackend.create()) {
      long[] memory = gpu.memoryInfo();
      System.out.printf("free memory: %.1f of %.1f GiB%n", memory[0] / (double) (1L << 30), memory[1] / (double) (1L << 30));
      System.out.println("products with more than 64 rows: " + gpu.largeMatmulPath());
    }
    return 0;
  }
}
