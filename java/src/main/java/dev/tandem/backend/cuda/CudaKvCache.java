package dev.tandem.backend.cuda;

import dev.tandem.backend.KvCache;

/**
 * KV cache on the device in bf16: keys and values {@code [layer][slot][capacity][kvDim]}, one
 * allocation each. The lengths stay on the host (KvCache): the kernels need only each row's
 * position, which they read from the device copy of BatchRows.
 */
final class CudaKvCache extends KvCache {
  private final DeviceBuffer keys;    // [layer][slot][capacity][kvDim] bf16
  private final DeviceBuffer values;  // [layer][slot][capacity][kvDim] bf16
  private final long layerBytes;
  private final Runnable onClose;
  private boolean closed;

  CudaKvCache(int layers, int slots, int capacity, int kvDim, Runnable onClose) {
    super(layers, slots, capacity, kvDim);
    this.layerBytes = (long) slots * capacity * kvDim * 2;
    this.onClose = onClose;
    DeviceBuffer k = new DeviceBuffer("KV cache keys (" + layers + " layers x " + slots + " slots x " + capacity
        + " positions x " + kvDim + " bf16)", layerBytes * layers);
    DeviceBuffer v;
    try {
      v = new DeviceBuffer("KV cache values (" + layers + " layers x " + slots + " slots x " + capacity
          + " positions x " + kvDim + " bf16)", layerBytes * layers);
    } catch (RuntimeException e) {
      k.close();
      throw e;
    }
    this.keys = k;
    this.values = v;
  }

  long keysAddress(int layer) {
    checkLayer(layer);
    return keys.address() + layer * layerBytes;
  }

  long valuesAddress(int layer) {
    checkLayer(layer);
    return values.address() + layer * layerBytes;
  }

  long layerBytes() {
    return layerBytes;
  }

  private void checkLayer(int layer) {
    if (closed) throw new IllegalStateException("KV cache was closed");
    if (layer < 0 || layer >= layers()) throw new IllegalArgumentException("layer " + layer + " outside [0, " + layers() + ")");
  }

  static CudaKvCache of(KvCache cache) {
    if (cache instanceof CudaKvCache c) return c;
    throw new IllegalArgumentException("KV cache does not belong to the CUDA backend");
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    keys.close();
    values.close();
    onClose.run();
  }
}
