package dev.tandem.backend;

/**
 * Keys and values of every layer for a fixed number of sequence slots, preallocated to a capacity of
 * positions. Each slot has a length counter: a forward pass appends at the slot's length, and
 * rolling back rejected positions is only {@link #setLength} (EAGLE's habit; nothing is copied).
 *
 * <p>Storage, per layer: keys and values {@code [slot][capacity][kvDim]}.
 */
public abstract class KvCache implements AutoCloseable {
  private final int layers;
  private final int slots;
  private final int capacity;
  private final int kvDim;
  private final int[] lengths;  // [slot]

  protected KvCache(int layers, int slots, int capacity, int kvDim) {
    if (layers <= 0 || slots <= 0 || capacity <= 0 || kvDim <= 0) {
      throw new IllegalArgumentException("KV cache dimensions must be > 0: layers=" + layers + " slots=" + slots
          + " capacity=" + capacity + " kvDim=" + kvDim);
    }
    this.layers = layers;
    this.slots = slots;
    this.capacity = capacity;
    this.kvDim = kvDim;
    this.lengths = new int[slots];
  }

  public int layers() { return layers; }
  public int slots() { return slots; }
  /** Positions each slot can hold (the context length). */
  public int capacity() { return capacity; }
  public int kvDim() { return kvDim; }

  /** Number of positions of the sequence in {@code slot} whose keys and values are valid. */
  public int length(int slot) {
    checkSlot(slot);
    return lengths[slot];
  }

  /** Truncates (or, after a pass has written them, extends) the valid positions of a slot. */
  public void setLength(int slot, int length) {
    checkSlot(slot);
    if (length < 0 || length > capacity) {
      throw new IllegalArgumentException("length " + length + " outside [0, " + capacity + "] for slot " + slot);
    }
    lengths[slot] = length;
  }

  private void checkSlot(int slot) {
    if (slot < 0 || slot >= slots) throw new IllegalArgumentException("slot " + slot + " outside [0, " + slots + ")");
  }

  @Override
  public void close() {}
}
