package dev.tandem.backend.cuda;

import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * A stream of the backend; owned. A blocking stream (CU_STREAM_DEFAULT), on purpose: synchronous
 * copies (weights, tests' inputs) run on the legacy default stream and may return before their DMA
 * has finished (pageable host-to-device, device-to-device), and a blocking stream's kernels wait for
 * them. The hot path issues no legacy-stream work, so the implicit ordering costs nothing there.
 */
final class CudaStream implements AutoCloseable {
  private static final int CU_STREAM_DEFAULT = 0;

  /** Exposes the raw handle, which cuBLAS takes as a plain address. */
  private static final class Handle extends CUstream {
    long address() {
      return getNativePointer();
    }
  }

  private final Handle handle = new Handle();
  private boolean destroyed;

  CudaStream() {
    Cu.check("cuStreamCreate", () -> JCudaDriver.cuStreamCreate(handle, CU_STREAM_DEFAULT));
  }

  CUstream handle() { return handle; }
  long address() { return handle.address(); }

  void synchronize(String what) {
    Cu.check("cuStreamSynchronize (" + what + ")", () -> JCudaDriver.cuStreamSynchronize(handle));
  }

  @Override
  public void close() {
    if (destroyed) return;
    destroyed = true;
    Cu.check("cuStreamDestroy", () -> JCudaDriver.cuStreamDestroy(handle));
  }
}
