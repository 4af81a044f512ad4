package dev.tandem.io.gguf;

/**
 * The ggml tensor types this engine reads and writes: F32, F16 and BF16, and the block-quantized
 * Q8_0, Q4_0, Q4_K and Q6_K with llama.cpp's block layouts (ggml-common.h); {@link
 * dev.tandem.io.quant.Dequantize} says what each block means. Ids as in ggml's {@code enum ggml_type}.
 */
public enum GgufTensorType {
  F32(0, 1, 4),
  F16(1, 1, 2),
  /** Blocks of 32 weights: an fp16 scale d, then 32 int8 q; weight = d * q. */
  Q8_0(8, 32, 34),
  /** Blocks of 32: an fp16 scale d, then 16 bytes of nibbles (low: elements 0..15, high: 16..31); weight = d * (q - 8). */
  Q4_0(2, 32, 18),
  /**
   * Super-blocks of 256: fp16 d and dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32, 128
   * bytes of nibbles; weight = d * scale * q - dmin * min.
   */
  Q4_K(12, 256, 144),
  /**
   * Super-blocks of 256: 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 int8 scales (one per 16
   * weights), fp16 d; weight = d * scale * (q - 32), q of 6 bits.
   */
  Q6_K(14, 256, 210),
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

  /** Bytes of one block of {@link #blockSize} elements. */
  public int blockBytes() {
    return blockBytes;
  }

  /** Whether the type is block-quantized (not a plain float format). */
  public boolean quantized() {
    return blockSize > 1;
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
