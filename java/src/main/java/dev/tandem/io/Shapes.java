package dev.tandem.io;

import java.util.Arrays;

/** Element counts and printing of tensor shapes ({@code long[]}, outermost dimension first). */
final class Shapes {

  private Shapes() {}

  /**
   * Number of elements: the product of the dimensions, 1 for a scalar shape {@code []}.
   *
   * @throws ArithmeticException if the product overflows a long
   */
  static long numel(long[] shape) {
    long n = 1;
    for (long dim : shape) n = Math.multiplyExact(n, dim);
    return n;
  }

  /** {@code [2, 3]}, as messages print a shape. */
  static String format(long[] shape) {
    return Arrays.toString(shape);
  }
}
