package dev.tandem.backend.cuda;

import dev.tandem.backend.BatchRows;
import java.nio.IntBuffer;
import jcuda.driver.JCudaDriver;

/**
 * The device copy of a {@link BatchRows}: tokens, positions and slots per row, sequence starts and
 * slots per sequence, in one int buffer, uploaded from page-locked memory on the backend's stream
 * whenever a different BatchRows or a new {@link BatchRows#version()} comes. Kernels read row
 * metadata only from here, so a captured graph replays with whatever was uploaded last.
 */
final class DeviceRows implements AutoCloseable {
  private final CudaStream stream;
  private int capacity;
  private DeviceBuffer device;       // [tokens cap][positions cap][slots cap][seqStarts cap+1][seqSlots cap]
  private PinnedBuffer staging;      // same layout
  private final CudaEvent copied = new CudaEvent();
  private boolean copyPending;
  private BatchRows last;
  private long lastVersion = -1;
  /** Changes whenever the device buffer moves (graphs captured before must not be replayed). */
  private long generation;

  DeviceRows(CudaStream stream) {
    this.stream = stream;
  }

  private static long ints(int capacity) {
    return 5L * capacity + 1;
  }

  /** Whether {@code rows} differs from what the device holds. */
  boolean needsUpload(BatchRows rows) {
    return rows != last || rows.version() != lastVersion;
  }

  /** Uploads {@code rows} unless it is what the device holds already. */
  void upload(BatchRows rows) {
    if (rows == last && rows.version() == lastVersion) return;
    if (rows.capacity() > capacity) grow(rows.capacity());
    if (copyPending) {
      copied.synchronize();  // the previous upload has left the staging buffer
      copyPending = false;
    }
    IntBuffer ints = staging.buffer().asIntBuffer();
    int n = rows.rowCount(), s = rows.sequenceCount();
    ints.put(0, rows.tokensArray(), 0, n);
    ints.put(capacity, rows.positionsArray(), 0, n);
    ints.put(2 * capacity, rows.slotsArray(), 0, n);
    ints.put(3 * capacity, rows.sequenceStartsArray(), 0, s + 1);
    ints.put(4 * capacity + 1, rows.sequenceSlotsArray(), 0, s);
    long bytes = ints(capacity) * 4;
    Cu.check("cuMemcpyHtoDAsync(batch rows)",
        () -> JCudaDriver.cuMemcpyHtoDAsync(device.pointer(), staging.pointer(), bytes, stream.handle()));
    copied.record(stream);
    copyPending = true;
    last = rows;
    lastVersion = rows.version();
  }

  private void grow(int newCapacity) {
    if (device != null) {
      stream.synchronize("reallocating the batch rows");
      device.close();
      staging.close();
    }
    capacity = newCapacity;
    device = new DeviceBuffer("batch rows (" + newCapacity + " rows)", ints(newCapacity) * 4);
    staging = new PinnedBuffer("batch rows staging", ints(newCapacity) * 4);
    generation++;
    last = null;
  }

  long tokens() { return device.address(); }
  long positions() { return device.address() + 4L * capacity; }
  long slots() { return device.address() + 8L * capacity; }
  long sequenceStarts() { return device.address() + 12L * capacity; }
  long sequenceSlots() { return device.address() + 4L * (4L * capacity + 1); }
  long generation() { return generation; }

  @Override
  public void close() {
    if (device != null) device.close();
    if (staging != null) staging.close();
    copied.close();
  }
}
