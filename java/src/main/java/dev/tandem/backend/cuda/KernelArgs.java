package dev.tandem.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.NativePointerObject;
import jcuda.Pointer;

/**
 * The parameters of one launch, in order, each with the PTX kind the kernel declares: a device
 * pointer is {@code .u64}, a C {@code int} or {@code unsigned int} {@code .u32}, a {@code float}
 * {@code .f32}. Tests compare {@link #kinds()} with the {@code .entry} declarations of the PTX.
 */
final class KernelArgs {
  enum Kind { U64, U32, F32 }

  private final List<Kind> kinds = new ArrayList<>(16);
  private long[] raw = new long[16];  // each value's bits (pointer: the address; int, float: the low 32 bits)

  /** A device address (a kernel's pointer parameter). */
  KernelArgs ptr(long address) {
    kinds.add(Kind.U64);
    keep(address);
    return this;
  }

  /** An {@code int} (or {@code unsigned int}) parameter. */
  KernelArgs i32(int value) {
    kinds.add(Kind.U32);
    keep(value & 0xffffffffL);
    return this;
  }

  KernelArgs f32(float value) {
    kinds.add(Kind.F32);
    keep(Float.floatToRawIntBits(value) & 0xffffffffL);
    return this;
  }

  private void keep(long bits) {
    int i = kinds.size() - 1;
    if (i == raw.length) raw = Arrays.copyOf(raw, 2 * raw.length);
    raw[i] = bits;
  }

  /**
   * Writes each value into its own 8-byte slot of {@code slots} (a pointer as 8 bytes, an int or a
   * float as 4, little-endian as the GPU reads them), for a kernelParams array whose entry i points
   * at slot i; returns the number of values.
   */
  int writeValues(MemorySegment slots, int capacity) {
    if (kinds.size() > capacity) {
      throw new IllegalArgumentException(kinds.size() + " kernel parameters, at most " + capacity + " supported");
    }
    for (int i = 0; i < kinds.size(); i++) {
      if (kinds.get(i) == Kind.U64) slots.set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * i, raw[i]);
      else slots.set(ValueLayout.JAVA_INT_UNALIGNED, 8L * i, (int) raw[i]);
    }
    return kinds.size();
  }

  List<Kind> kinds() {
    return List.copyOf(kinds);
  }

  /** The kernelParams array of JCuda's cuLaunchKernel: a pointer to each argument's value (built on request). */
  Pointer toPointer() {
    NativePointerObject[] values = new NativePointerObject[kinds.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = switch (kinds.get(i)) {
        case U64 -> Pointer.to(new long[] {raw[i]});
        case U32 -> Pointer.to(new int[] {(int) raw[i]});
        case F32 -> Pointer.to(new float[] {Float.intBitsToFloat((int) raw[i])});
      };
    }
    return Pointer.to(values);
  }
}
