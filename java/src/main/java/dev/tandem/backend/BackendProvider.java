package dev.tandem.backend;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.backend.cuda.CudaBackend;
import dev.tandem.backend.cuda.CudaProbe;
import java.io.PrintStream;

/**
 * The one place a backend is chosen. {@code auto} probes for a CUDA driver and a usable GPU and
 * falls back to the CPU after one line on {@code log}; {@code cuda} without a GPU is an error
 * saying why; {@code cpu} never touches the driver.
 */
public final class BackendProvider {
  private BackendProvider() {}

  /**
   * @param threads   CPU threads (0: all cores); ignored on the GPU
   * @param reference the CPU scalar reference (CPU only)
   * @param log       where the fallback line goes (stderr in the CLI)
   */
  public static Backend open(Device device, int threads, boolean reference, PrintStream log) {
    if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
    if (reference && device == Device.CUDA) {
      throw new IllegalArgumentException("--reference runs the CPU scalar reference; it cannot run with --device cuda");
    }
    if (device == Device.CPU || reference) return cpu(threads, reference);
    CudaProbe probe = CudaProbe.probe();
    if (probe.available()) return CudaBackend.create();
    if (device == Device.CUDA) {
      throw new IllegalStateException("--device cuda: no GPU (" + probe.reason() + "); use --device cpu or auto");
    }
    log.println("no GPU (" + probe.reason() + "): running on the CPU");
    return cpu(threads, false);
  }

  private static Backend cpu(int threads, boolean reference) {
    return reference ? CpuBackend.reference() : CpuBackend.fast(threads);
  }

  /** A short description for reports: "cpu, 8 threads", "cuda: NVIDIA H100 ... , CUDA driver 13.0". */
  public static String describe(Backend backend) {
    if (backend instanceof CpuBackend cpu) return cpu.name() + ", " + cpu.threads() + " thread" + (cpu.threads() == 1 ? "" : "s");
    if (backend instanceof CudaBackend cuda) return "cuda: " + cuda.probe().describe() + "; " + cuda.launchMode();
    return backend.name();
  }
}
