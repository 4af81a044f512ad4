package dev.tandem.backend;

import java.util.Arrays;

/**
 * The rows of one forward pass, as flat arrays with prefix-sum offsets (the ragged-batch layout).
 * Row {@code i} is token {@code tokens[i]} at position {@code positions[i]} of the sequence held in
 * KV-cache slot {@code slots[i]}. The rows of one sequence are contiguous and at consecutive
 * positions: sequence {@code s} owns rows {@code [sequenceStart(s), sequenceStart(s+1))}.
 *
 * <p>Allocated once with a row capacity and refilled for every pass ({@link #clear()}, then
 * {@link #addSequence}), so the decode loop allocates nothing. {@link #version()} changes on every
 * modification so a device backend can tell when to upload the arrays again.
 */
public final class BatchRows {
  private final int capacity;
  private final int[] tokens;     // [capacity]
  private final int[] positions;  // [capacity]
  private final int[] slots;      // [capacity]
  private final int[] sequenceSlots;   // [capacity]
  private final int[] sequenceStarts;  // [capacity + 1]
  private int rowCount;
  private int sequenceCount;
  private long version;

  public BatchRows(int capacity) {
    if (capacity <= 0) throw new IllegalArgumentException("capacity must be > 0, got " + capacity);
    this.capacity = capacity;
    this.tokens = new int[capacity];
    this.positions = new int[capacity];
    this.slots = new int[capacity];
    this.sequenceSlots = new int[capacity];
    this.sequenceStarts = new int[capacity + 1];
  }

  public void clear() {
    rowCount = 0;
    sequenceCount = 0;
    version++;
  }

  /** Appends {@code count} tokens of the sequence in {@code slot}, the first at {@code startPosition}. */
  public void addSequence(int slot, int[] sequenceTokens, int offset, int count, int startPosition) {
    if (count <= 0) throw new IllegalArgumentException("a sequence needs at least one row, got " + count);
    if (rowCount + count > capacity) {
      throw new IllegalArgumentException("batch of " + (rowCount + count) + " rows exceeds the capacity of "
          + capacity + " rows per pass");
    }
    for (int s = 0; s < sequenceCount; s++) {
      if (sequenceSlots[s] == slot) throw new IllegalArgumentException("slot " + slot + " appears twice in one pass");
    }
    sequenceSlots[sequenceCount] = slot;
    sequenceStarts[sequenceCount] = rowCount;
    for (int i = 0; i < count; i++) {
      tokens[rowCount + i] = sequenceTokens[offset + i];
      positions[rowCount + i] = startPosition + i;
      slots[rowCount + i] = slot;
    }
    rowCount += count;
    sequenceCount++;
    sequenceStarts[sequenceCount] = rowCount;
    version++;
  }

  public int capacity() { return capacity; }
  public int rowCount() { return rowCount; }
  public int sequenceCount() { return sequenceCount; }
  public long version() { return version; }
  public int token(int row) { return tokens[row]; }
  public int position(int row) { return positions[row]; }
  public int slot(int row) { return slots[row]; }
  public int sequenceSlot(int seq) { return sequenceSlots[seq]; }
  public int sequenceStart(int seq) { return sequenceStarts[seq]; }
  public int sequenceLength(int seq) { return sequenceStarts[seq + 1] - sequenceStarts[seq]; }
  /** Row index of the last row of sequence {@code seq}. */
  public int lastRow(int seq) { return sequenceStarts[seq + 1] - 1; }

  /** The backing arrays, read-only by convention (for device uploads). */
  public int[] tokensArray() { return tokens; }
  public int[] positionsArray() { return positions; }
  public int[] slotsArray() { return slots; }
  public int[] sequenceStartsArray() { return sequenceStarts; }
  public int[] sequenceSlotsArray() { return sequenceSlots; }

  @Override
  public String toString() {
    return "BatchRows{rows=" + rowCount + ", sequences=" + sequenceCount + ", tokens="
        + Arrays.toString(Arrays.copyOf(tokens, rowCount)) + ", positions="
        + Arrays.toString(Arrays.copyOf(positions, rowCount)) + "}";
  }
}
