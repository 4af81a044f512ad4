package dev.tandem.io.gguf;

/**
 * The ggml tensor types this engine reads: F32, F16 and BF16 (read and written), and Q8_0 (read and
 * dequantized to fp32). Ids as in ggml's {@code enum ggml_type}.
 */
public enum GgufTensorType {
  F32(0, 1, 4),
  F16(1, 1, 2),
  /** Blocks of 32 weights: an fp16 scale d, then 32 int8 q; weight = d * q. */
  Q8_0(8, 32, 34),
  BF16(30, 1, 2);

  private final int id;
  private final int blockSize; // elements per block
  private final int blockBytes;

  GgufTensorType(int id, int blockSize, int blockBytes) {
    this.id = id;
    this.blockSize = blockSize;
    this.blockBytes = blockBytes;
  }

  public int id() {
    return id;
  }

  public int blockSize() {
    return blockSize;
  }

  /** Bytes of {@code elements} elements (a multiple of the block size). */
  public long byteSize(long elements) {
    return Math.multiplyExact(elements / blockSize, blockBytes);
  }

  /** The type with this ggml id, or null if this engine does not support it. */
  public static GgufTensorType of(long id) {
    for (GgufTensorType t : values()) if (t.id == id) return t;
    return null;
  }
}
