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
 *
 * <p>Draft rows ({@link #addSequenceWithDrafts}) take their token from a draft table on the backend
 * ({@link #useDraftTable}: [slots][maxDrafts], token ids stored as floats) instead of from the host:
 * row {@code i} reads {@code table[slot(i)][draftRef(i)]}, written by an earlier pass
 * ({@link Backend#argmaxToDraftTable}). SPEED's greedy rounds run so without a host round trip per
 * draft step. Such a row's {@link #token} is {@link #DEVICE_TOKEN}.
 */
public final class BatchRows {
  private final int capacity;
  private final int[] tokens;     // [capacity]
  private final int[] positions;  // [capacity]
  private final int[] slots;      // [capacity]
  private final int[] sequenceSlots;   // [capacity]
  private final int[] sequenceStarts;  // [capacity + 1]
  private final int[] draftRefs;       // [capacity]: draft column in the draft table, or -1 (host token)
  private int rowCount;
  private int sequenceCount;
  private int draftRows;
  private Tensor draftTable;
  private long version;

  /** The token of a draft row, which only the device knows. */
  public static final int DEVICE_TOKEN = -1;

  public BatchRows(int capacity) {
    if (capacity <= 0) throw new IllegalArgumentException("capacity must be > 0, got " + capacity);
    this.capacity = capacity;
    this.tokens = new int[capacity];
    this.positions = new int[capacity];
    this.slots = new int[capacity];
    this.sequenceSlots = new int[capacity];
    this.sequenceStarts = new int[capacity + 1];
    this.draftRefs = new int[capacity];
  }

  public void clear() {
    rowCount = 0;
    sequenceCount = 0;
    draftRows = 0;
    version++;
  }

  /** The draft table that draft rows read ([slots][maxDrafts] on the backend of the pass). */
  public void useDraftTable(Tensor table) {
    this.draftTable = table;
    version++;
  }

  /** Appends {@code count} tokens of the sequence in {@code slot}, the first at {@code startPosition}. */
  public void addSequence(int slot, int[] sequenceTokens, int offset, int count, int startPosition) {
    addSequenceWithDrafts(slot, sequenceTokens, offset, count, 0, 0, startPosition);
  }

  /**
   * Appends a sequence of {@code hostCount} tokens from {@code sequenceTokens} followed by
   * {@code draftCount} draft rows that read columns {@code firstDraft, firstDraft + 1, ...} of the
   * slot's row of the draft table, the first row at {@code startPosition}.
   */
  public void addSequenceWithDrafts(int slot, int[] sequenceTokens, int offset, int hostCount, int firstDraft,
      int draftCount, int startPosition) {
    int count = hostCount + draftCount;
    if (hostCount < 0 || draftCount < 0 || count <= 0) {
      throw new IllegalArgumentException("a sequence needs at least one row, got " + hostCount + " + " + draftCount);
    }
    if (draftCount > 0 && draftTable == null) throw new IllegalStateException("draft rows need a draft table (useDraftTable)");
    if (draftCount > 0 && (firstDraft < 0 || firstDraft + draftCount > draftTable.cols())) {
      throw new IllegalArgumentException("drafts " + firstDraft + ".." + (firstDraft + draftCount - 1)
          + " outside the draft table's " + draftTable.cols() + " columns");
    }
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
      boolean draft = i >= hostCount;
      tokens[rowCount + i] = draft ? DEVICE_TOKEN : sequenceTokens[offset + i];
      draftRefs[rowCount + i] = draft ? firstDraft + i - hostCount : -1;
      positions[rowCount + i] = startPosition + i;
      slots[rowCount + i] = slot;
    }
    rowCount += count;
    draftRows += draftCount;
    sequenceCount++;
    sequenceStarts[sequenceCount] = rowCount;
    version++;
  }

  public int capacity() { return capacity; }
  public int rowCount() { return rowCount; }
  public int sequenceCount() { return sequenceCount; }
  public long version() { return version; }
  /** The row's token, or {@link #DEVICE_TOKEN} for a draft row. */
  public int token(int row) { return tokens[row]; }
  /** The draft-table column a draft row reads, or -1 for a row with a host token. */
  public int draftRef(int row) { return draftRefs[row]; }
  /** Whether any row of the pass is a draft row. */
  public boolean hasDraftRows() { return draftRows > 0; }
  /** The draft table of the draft rows (null when none was set). */
  public Tensor draftTable() { return draftTable; }
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
  public int[] draftRefsArray() { return draftRefs; }

  @Override
  public String toString() {
    return "BatchRows{rows=" + rowCount + ", sequences=" + sequenceCount + ", tokens="
        + Arrays.toString(Arrays.copyOf(tokens, rowCount)) + ", positions="
        + Arrays.toString(Arrays.copyOf(positions, rowCount)) + "}";
  }
}
