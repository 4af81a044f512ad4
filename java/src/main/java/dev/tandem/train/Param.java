package dev.tandem.train;

/**
 * One trainable tensor: its Hugging Face name, shape, fp32 values and the gradient accumulated by
 * backward passes. Matrices are [rows][cols] row-major (a norm gain is [1][d]).
 */
public final class Param {
  public final String name;
  public final int rows;
  public final int cols;
  public final float[] value;  // [rows][cols]
  public final float[] grad;   // [rows][cols]
  /** Weight decay applies to matrices only (not to norm gains). */
  public final boolean decay;

  public Param(String name, int rows, int cols, float[] value) {
    if ((long) rows * cols != value.length) {
      throw new IllegalArgumentException(name + ": " + value.length + " values for shape [" + rows + ", " + cols + "]");
    }
    this.name = name;
    this.rows = rows;
    this.cols = cols;
    this.value = value;
    this.grad = new float[value.length];
    this.decay = rows > 1;
  }

  public int size() {
    return value.length;
  }

  public long[] shape() {
    return rows == 1 ? new long[] {cols} : new long[] {rows, cols};
  }

  public void zeroGrad() {
    java.util.Arrays.fill(grad, 0f);
  }

  @Override
  public String toString() {
    return name + "[" + rows + "x" + cols + "]";
  }
}
