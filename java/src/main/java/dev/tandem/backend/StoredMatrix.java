package dev.tandem.backend;

import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.io.quant.Dequantize;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix {@code [rows][cols]} in the format it was stored in (F32, F16, BF16, Q8_0, Q4_0,
 * Q4_K, Q6_K): {@code bytes} holds the stored rows one after the other, each a whole number of blocks
 * ({@link GgufTensorType#byteSize} of cols bytes). Usually a slice of a memory-mapped checkpoint, so
 * holding it costs no heap. {@code rowOrder}, when not null, says which stored row is logical row r
 * (a GGUF file keeps the query and key rows in llama.cpp's rotary order; reading through the order
 * avoids copying them back).
 */
public record StoredMatrix(String name, GgufTensorType format, int rows, int cols, MemorySegment bytes, int[] rowOrder) {
  public StoredMatrix {
    if (cols % format.blockSize() != 0) {
      throw new IllegalArgumentException(name + ": " + format + " rows of " + cols + " weights are not whole blocks of "
          + format.blockSize());
    }
    long expected = Math.multiplyExact(format.byteSize(cols), (long) rows);
    if (bytes.byteSize() != expected) {
      throw new IllegalArgumentException(name + ": " + format + " [" + rows + "][" + cols + "] needs " + expected
          + " bytes, found " + bytes.byteSize());
    }
    if (rowOrder != null && rowOrder.length != rows) {
      throw new IllegalArgumentException(name + ": row order of " + rowOrder.length + " for " + rows + " rows");
    }
  }

  /** An fp32 matrix held in a float array (row-major); {@link #toFloats} gives that array back. */
  public static StoredMatrix ofFloats(String name, float[] data, int rows, int cols) {
    if ((long) rows * cols != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " floats for shape [" + rows + ", " + cols + "]");
    }
    return new StoredMatrix(name, GgufTensorType.F32, rows, cols, MemorySegment.ofArray(data), null);
  }

  /** Bytes of one stored row. */
  public long rowBytes() {
    return format.byteSize(cols);
  }

  /** The byte offset of logical row r. */
  public long rowOffset(int r) {
    return (rowOrder == null ? r : rowOrder[r]) * rowBytes();
  }

  /** Bytes the matrix occupies as stored. */
  public long byteSize() {
    return bytes.byteSize();
  }

  /** Logical row r as fp32 into {@code out[offset ..]}. */
  public void dequantizeRow(int r, float[] out, int offset) {
    Dequantize.row(format, bytes, rowOffset(r), cols, out, offset);
  }

  /**
   * The matrix as fp32, row-major in logical order: the backing array itself for {@link #ofFloats}
   * (ownership passes to the caller), else a new array.
   */
  public float[] toFloats() {
    if (rowOrder == null && bytes.heapBase().orElse(null) instanceof float[] f && f.length == (long) rows * cols) {
      return f;
    }
    float[] out = new float[Math.multiplyExact(rows, cols)];
    for (int r = 0; r < rows; r++) dequantizeRow(r, out, r * cols);
    return out;
  }

  @Override
  public String toString() {
    return name + " " + format + "[" + rows + "][" + cols + "]";
  }
}
