package dev.tandem.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.driver.JCudaDriver;

/** Page-locked host memory (cuMemAllocHost) for asynchronous copies; owned, freed once. */
final class PinnedBuffer implements AutoCloseable {
  private final String name;
  private final long bytes;
  private final Pointer pointer = new Pointer();
  private final ByteBuffer buffer;
  private boolean freed;

  PinnedBuffer(String name, long bytes) {
    this.name = name;
    this.bytes = bytes;
    Cu.check("cuMemAllocHost(" + name + ", " + Cu.mib(bytes) + ")", () -> JCudaDriver.cuMemAllocHost(pointer, bytes));
    this.buffer = pointer.getByteBuffer(0, bytes).order(ByteOrder.nativeOrder());
  }

  Pointer pointer() { return pointer; }
  ByteBuffer buffer() { return buffer; }
  long bytes() { return bytes; }

  @Override
  public void close() {
    if (freed) return;
    freed = true;
    Cu.check("cuMemFreeHost(" + name + ")", () -> JCudaDriver.cuMemFreeHost(pointer));
  }
}
