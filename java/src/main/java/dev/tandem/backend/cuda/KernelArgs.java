package dev.tandem.backend.cuda;

import java.util.ArrayList;
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
  private final List<NativePointerObject> values = new ArrayList<>(16);

  /** A device address (a kernel's pointer parameter). */
  KernelArgs ptr(long address) {
    kinds.add(Kind.U64);
    values.add(Pointer.to(new long[] {address}));
    return this;
  }

  /** An {@code int} (or {@code unsigned int}) parameter. */
  KernelArgs i32(int value) {
    kinds.add(Kind.U32);
    values.add(Pointer.to(new int[] {value}));
    return this;
  }

  KernelArgs f32(float value) {
    kinds.add(Kind.F32);
    values.add(Pointer.to(new float[] {value}));
    return this;
  }

  List<Kind> kinds() {
    return List.copyOf(kinds);
  }

  /** The kernelParams array of cuLaunchKernel: a pointer to each argument's value. */
  Pointer toPointer() {
    return Pointer.to(values.toArray(new NativePointerObject[0]));
  }
}
