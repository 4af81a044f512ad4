package dev.tandem.backend.cpu;

import dev.tandem.backend.KvCache;

/** KV cache in Java arrays: per layer, keys and values {@code [slot][capacity][kvDim]}. */
final class CpuKvCache extends KvCache {
  final float[][] keys;    // [layer][slot * capacity * kvDim]
  final float[][] values;  // [layer][slot * capacity * kvDim]

  CpuKvCache(int layers, int slots, int capacity, int kvDim) {
    super(layers, slots, capacity, kvDim);
    long perLayer = (long) slots * capacity * kvDim;
    if (perLayer > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("a KV cache layer of " + slots + " slots x " + capacity + " positions x "
          + kvDim + " floats exceeds the 2^31 elements of a Java array; use fewer slots or a shorter context");
    }
    keys = new float[layers][(int) perLayer];
    values = new float[layers][(int) perLayer];
  }

  /** Offset of (slot, position) in a layer's array. */
  int offset(int slot, int position) {
    return (slot * capacity() + position) * kvDim();
  }

  static CpuKvCache of(KvCache cache) {
    if (cache instanceof CpuKvCache c) return c;
    throw new IllegalArgumentException("KV cache does not belong to the CPU backend");
  }
}
