package dev.tandem.io.gguf;

import java.util.Arrays;

/**
 * One tensor's entry in a GGUF header.
 *
 * @param name   e.g. {@code blk.0.attn_q.weight}
 * @param dims   ggml order: {@code dims[0]} is the innermost (contiguous) dimension; a Hugging Face
 *               {@code [rows][cols]} matrix has dims {@code {cols, rows}}
 * @param type   element type
 * @param offset first byte of the data, counted from the start of the data section
 */
public record GgufTensorInfo(String name, long[] dims, GgufTensorType type, long offset) {
  public GgufTensorInfo {
    dims = dims.clone();
  }

  @Override
  public long[] dims() {
    return dims.clone();
  }

  /** The shape outermost first (the reverse of {@link #dims}), as safetensors and PyTorch write it. */
  public long[] shape() {
    long[] shape = new long[dims.length];
    for (int i = 0; i < dims.length; i++) shape[i] = dims[dims.length - 1 - i];
    return shape;
  }

  public long numel() {
    long n = 1;
    for (long d : dims) n = Math.multiplyExact(n, d);
    return n;
  }

  public long byteSize() {
    return type.byteSize(numel());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GgufTensorInfo t && t.name.equals(name) && Arrays.equals(t.dims, dims) && t.type == type
        && t.offset == offset;
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(dims);
  }

  @Override
  public String toString() {
    return name + " " + type + Arrays.toString(shape()) + " @" + offset;
  }
}
