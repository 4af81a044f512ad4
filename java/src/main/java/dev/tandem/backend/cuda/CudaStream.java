package dev.tandem.backend.cuda;

import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * A non-blocking stream (no implicit ordering with the legacy default stream, the usual kind for
 * graph capture); owned. Synchronous copies run on the legacy stream and may return before their
 * DMA has finished (pageable host-to-device, device-to-device), so the backend waits for the whole
 * context after each ({@code Cu.afterSynchronousCopy}) and synchronizes this stream before one.
 */
final class CudaStream implements AutoCloseable {
  private static final int CU_STREAM_NON_BLOCKING = 1;

  /** Exposes the raw handle, which cuBLAS takes as a plain address. */
  private static final class Handle extends CUstream {
    long address() {
      return getNativePointer();
    }
  }

  private final Handle handle = new Handle();
  private boolean destroyed;

  CudaStream() {
    Cu.check("cuStreamCreate", () -> JCudaDriver.cuStreamCreate(handle, CU_STREAM_NON_BLOCKING));
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
