package dev.tandem.benchmark;

import dev.tandem.cli.DeviceOptions;
import dev.tandem.backend.Backend;
import dev.tandem.backend.cuda.CudaBackend;
import dev.tandem.backend.cuda.KernelBench;
import dev.tandem.model.ModelShapes;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem bench kernels}: the CUDA kernels in GB/s against the copy bandwidth measured in the same run. */
@Command(name = "kernels", mixinStandardHelpOptions = true,
    description = "CUDA kernel benchmarks (small-n matmul, block and decode attention) vs the device copy bandwidth.")
public final class KernelBenchCommand implements Callable<Integer> {
  @Option(names = "--shape", defaultValue = "llama-3.2-1b", description = "Model shape (default: llama-3.2-1b).")
  String shape;

  @Option(names = "--contexts", split = ",", defaultValue = "4096,16384",
      description = "Attention context lengths (default: 4096,16384).")
  int[] contexts;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() {
    try (Backend backend = device.backend()) {
      if (!(backend instanceof CudaBackend gpu)) {
        throw new IllegalStateException("bench kernels measures the CUDA kernels and needs a GPU; this run got "
            + backend.name());
      }
      KernelBench bench = new KernelBench(gpu, System.out);
      bench.run(ModelShapes.byName(shape), contexts);
      if (bench.failures() > 0) {
        System.err.println("bench kernels: " + bench.failures() + " measurement(s) failed (see FAILED lines)");
        return 2;
      }
    }
    return 0;
  }
}
