package dev.tandem.backend.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * One device allocation (cuMemAlloc), owned: {@link #close} frees it once. Out of memory is an
 * error naming the buffer, its size and the free memory.
 */
final class DeviceBuffer implements AutoCloseable {
  private final String name;
  private final long bytes;
  private final DevicePointer pointer = new DevicePointer();
  private boolean freed;

  DeviceBuffer(String name, long bytes) {
    if (bytes <= 0) throw new IllegalArgumentException("device buffer " + name + ": size must be > 0, got " + bytes);
    this.name = name;
    this.bytes = bytes;
    try {
      Cu.check("cuMemAlloc(" + name + ", " + Cu.mib(bytes) + ")", () -> JCudaDriver.cuMemAlloc(pointer, bytes));
    } catch (CudaCallException e) {
      if (e.getMessage().contains("OUT_OF_MEMORY")) {
        long[] free = new long[1], total = new long[1];
        String state = "";
        try {
          JCudaDriver.cuMemGetInfo(free, total);
          state = ": " + Cu.mib(free[0]) + " of " + Cu.mib(total[0]) + " free";
        } catch (RuntimeException ignored) {
          // keep the original message
        }
        throw new CudaCallException("out of GPU memory allocating " + name + " (" + Cu.mib(bytes) + ")" + state
            + "; use a smaller model, context, batch or fewer rows per pass", e);
      }
      throw e;
    }
  }

  String name() { return name; }
  long bytes() { return bytes; }
  long address() { return pointer.address(); }
  CUdeviceptr pointer() { return pointer; }

  /** A JCuda pointer {@code offset} bytes into this buffer. */
  CUdeviceptr at(long offset) {
    return pointer.withByteOffset(offset);
  }

  boolean isFreed() { return freed; }

  @Override
  public void close() {
    if (freed) return;
    freed = true;
    Cu.check("cuMemFree(" + name + ")", () -> JCudaDriver.cuMemFree(pointer));
  }
}
