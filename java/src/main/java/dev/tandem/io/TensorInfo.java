package dev.tandem.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param name the tensor's name, e.g. {@code model.layers.0.self_attn.q_proj.weight}
 * @param dtype the element type
 * @param shape dimensions, outermost first, row-major; {@code []} for a scalar (copied on the way in and
 *     out)
 * @param begin first byte of the data, counted from the start of the data section (after the header)
 * @param end one past the last byte, counted the same way
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

  public TensorInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    shape = shape.clone();
  }

  /** A copy of the dimensions. */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Number of dimensions; 0 for a scalar. */
  public int rank() {
    return shape.length;
  }

  /** Number of elements: the product of the dimensions (1 for a scalar, 0 if any dimension is 0). */
  public long numel() {
    return Shapes.numel(shape);
  }

  /** Bytes of data: {@code end - begin}, which equals {@code numel() * dtype().byteSize()}. */
  public long byteSize() {
    return end - begin;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof TensorInfo that
        && name.equals(that.name) && dtype == that.dtype && Arrays.equals(shape, that.shape)
        && begin == that.begin && end == that.end;
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
  }

  @Override
  public String toString() {
    return name + " " + dtype + Shapes.format(shape) + " bytes [" + begin + ", " + end + ")";
  }
}
