package dev.tandem.backend.cuda;

import java.util.function.IntSupplier;
import jcuda.CudaException;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * The one place CUDA driver calls are checked: JCuda's exceptions are switched on once, and every
 * failure becomes a {@link CudaCallException} naming the call and what it was for.
 */
final class Cu {
  private Cu() {}

  private static boolean initialized;

  /** Loads JCuda's native library (an Error without a driver) and switches its exceptions on. */
  static synchronized void initialize() {
    if (initialized) return;
    JCudaDriver.setExceptionsEnabled(true);
    check("cuInit", () -> JCudaDriver.cuInit(0));
    initialized = true;
  }

  /** Runs a driver call; {@code what} names it and its object, e.g. "cuMemAlloc(logits, 1.0 MiB)". */
  static void check(String what, IntSupplier call) {
    int result;
    try {
      result = call.getAsInt();
    } catch (CudaException e) {
      throw new CudaCallException(what + " failed: " + e.getMessage(), e);
    }
    if (result != CUresult.CUDA_SUCCESS) {
      throw new CudaCallException(what + " failed: " + CUresult.stringFor(result));
    }
  }

  /**
   * Waits for every stream of the current context: a synchronous host-to-device (pageable) or
   * device-to-device copy may return before its DMA is done, and the backend's non-blocking stream
   * would not wait for it.
   */
  static void afterSynchronousCopy(String what) {
    check("cuCtxSynchronize (after " + what + ")", JCudaDriver::cuCtxSynchronize);
  }

  static String mib(long bytes) {
    return String.format("%.1f MiB", bytes / (1024.0 * 1024.0));
  }
}
