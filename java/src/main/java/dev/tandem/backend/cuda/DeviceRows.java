package dev.tandem.backend.cuda;

import dev.tandem.backend.BatchRows;
import java.nio.IntBuffer;
import java.util.Arrays;
import jcuda.driver.JCudaDriver;

/**
 * The device copy of a {@link BatchRows}: tokens, positions, slots and draft references per row,
 * sequence starts and slots per sequence, in one int buffer, uploaded from page-locked memory on the backend's stream
 * whenever a different BatchRows or a new {@link BatchRows#version()} comes. Kernels read row
 * metadata only from here, so a captured graph replays with whatever was uploaded last.
 */
final class DeviceRows implements AutoCloseable {
  private final CudaStream stream;
  private int capacity;
  /**
   * Page-locked staging buffers used in turn, so that the host can queue a few passes ahead (SPEED's
   * draft steps) before it must wait for an upload to leave its buffer.
   */
  private static final int STAGING = 4;
  private DeviceBuffer device;       // [tokens cap][positions cap][slots cap][seqStarts cap+1][seqSlots cap][draftRefs cap]
  private final PinnedBuffer[] staging = new PinnedBuffer[STAGING];  // same layout
  private final CudaEvent[] copied = new CudaEvent[STAGING];
  private final boolean[] copyPending = new boolean[STAGING];
  private int next;                  // the staging buffer of the next upload
  private BatchRows last;
  private long lastVersion = -1;
  /** Changes whenever the device buffer moves (graphs captured before must not be replayed). */
  private long generation;

  DeviceRows(CudaStream stream) {
    this.stream = stream;
    for (int i = 0; i < STAGING; i++) copied[i] = new CudaEvent();
  }

  private static long ints(int capacity) {
    return 6L * capacity + 1;
  }

  /** Whether {@code rows} differs from what the device holds. */
  boolean needsUpload(BatchRows rows) {
    return rows != last || rows.version() != lastVersion;
  }

  /** Uploads {@code rows} unless it is what the device holds already; true when it uploaded. */
  boolean upload(BatchRows rows) {
    if (rows == last && rows.version() == lastVersion) return false;
    if (rows.capacity() > capacity) grow(rows.capacity());
    int b = next;
    next = (next + 1) % STAGING;
    if (copyPending[b]) {
      copied[b].synchronize();  // the upload that used this buffer has left it
      copyPending[b] = false;
    }
    IntBuffer ints = staging[b].buffer().asIntBuffer();
    int n = rows.rowCount(), s = rows.sequenceCount();
    ints.put(0, rows.tokensArray(), 0, n);
    ints.put(capacity, rows.positionsArray(), 0, n);
    ints.put(2 * capacity, rows.slotsArray(), 0, n);
    ints.put(3 * capacity, rows.sequenceStartsArray(), 0, s + 1);
    ints.put(4 * capacity + 1, rows.sequenceSlotsArray(), 0, s);
    ints.put(5 * capacity + 1, rows.draftRefsArray(), 0, n);
    long bytes = ints(capacity) * 4;
    Cu.check("cuMemcpyHtoDAsync(batch rows)",
        () -> JCudaDriver.cuMemcpyHtoDAsync(device.pointer(), staging[b].pointer(), bytes, stream.handle()));
    copied[b].record(stream);
    copyPending[b] = true;
    last = rows;
    lastVersion = rows.version();
    return true;
  }

  private void grow(int newCapacity) {
    if (device != null) {
      stream.synchronize("reallocating the batch rows");
      device.close();
      for (PinnedBuffer p : staging) p.close();
      Arrays.fill(copyPending, false);
    }
    capacity = newCapacity;
    device = new DeviceBuffer("batch rows (" + newCapacity + " rows)", ints(newCapacity) * 4);
    for (int i = 0; i < STAGING; i++) staging[i] = new PinnedBuffer("batch rows staging", ints(newCapacity) * 4);
    generation++;
    last = null;
  }

  long tokens() { return device.address(); }
  long positions() { return device.address() + 4L * capacity; }
  long slots() { return device.address() + 8L * capacity; }
  long sequenceStarts() { return device.address() + 12L * capacity; }
  long sequenceSlots() { return device.address() + 4L * (4L * capacity + 1); }
  long draftRefs() { return device.address() + 4L * (5L * capacity + 1); }
  long generation() { return generation; }

  @Override
  public void close() {
    if (device != null) device.close();
    for (PinnedBuffer p : staging) if (p != null) p.close();
    for (CudaEvent e : copied) e.close();
  }
}
