package dev.tandem.backend.cpu;

import dev.tandem.backend.Tensor;

/** A tensor of the CPU backend: a row-major float array {@code [rows][cols]}. */
public record CpuTensor(String name, float[] data, int rows, int cols) implements Tensor {
  public CpuTensor {
    if ((long) rows * cols > data.length) {
      throw new IllegalArgumentException(name + ": " + rows + "x" + cols + " does not fit " + data.length + " floats");
    }
  }

  static CpuTensor of(Tensor t) {
    if (t instanceof CpuTensor c) return c;
    throw new IllegalArgumentException("tensor " + t.name() + " does not belong to the CPU backend");
  }
}
