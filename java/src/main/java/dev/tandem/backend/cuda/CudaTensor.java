package dev.tandem.backend.cuda;

import dev.tandem.backend.Tensor;

/**
 * A tensor of the CUDA backend: a row-major {@code [rows][cols]} device buffer, fp32 (activations,
 * norm gains, tables) or bf16 (weight matrices).
 */
final class CudaTensor implements Tensor {
  enum Type {
    F32(4), BF16(2);

    final int bytes;

    Type(int bytes) {
      this.bytes = bytes;
    }
  }

  private final String name;
  private final int rows;
  private final int cols;
  private final Type type;
  private final DeviceBuffer buffer;

  CudaTensor(String name, int rows, int cols, Type type, DeviceBuffer buffer) {
    this.name = name;
    this.rows = rows;
    this.cols = cols;
    this.type = type;
    this.buffer = buffer;
  }

  @Override public int rows() { return rows; }
  @Override public int cols() { return cols; }
  @Override public String name() { return name; }
  Type type() { return type; }
  DeviceBuffer buffer() { return buffer; }

  long address() {
    if (buffer.isFreed()) throw new IllegalStateException("tensor " + name + " was released");
    return buffer.address();
  }

  /** Address of row {@code row}. */
  long rowAddress(int row) {
    return address() + (long) row * cols * type.bytes;
  }

  long bytes() {
    return (long) rows * cols * type.bytes;
  }

  @Override
  public String toString() {
    return "CudaTensor{" + name + " [" + rows + "][" + cols + "] " + type + "}";
  }
}
