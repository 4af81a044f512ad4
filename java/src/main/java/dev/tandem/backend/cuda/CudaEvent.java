package dev.tandem.backend.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/** A timing event; owned. */
final class CudaEvent implements AutoCloseable {
  private final CUevent event = new CUevent();
  private boolean destroyed;

  CudaEvent() {
    Cu.check("cuEventCreate", () -> JCudaDriver.cuEventCreate(event, 0));
  }

  void record(CudaStream stream) {
    Cu.check("cuEventRecord", () -> JCudaDriver.cuEventRecord(event, stream.handle()));
  }

  void synchronize() {
    Cu.check("cuEventSynchronize", () -> JCudaDriver.cuEventSynchronize(event));
  }

  /** Milliseconds from {@code start} to this event (both recorded and complete). */
  float millisSince(CudaEvent start) {
    float[] ms = new float[1];
    Cu.check("cuEventElapsedTime", () -> JCudaDriver.cuEventElapsedTime(ms, start.event, event));
    return ms[0];
  }

  @Override
  public void close() {
    if (destroyed) return;
    destroyed = true;
    Cu.check("cuEventDestroy", () -> JCudaDriver.cuEventDestroy(event));
  }
}
