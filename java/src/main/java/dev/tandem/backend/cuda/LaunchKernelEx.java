package dev.tandem.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Kernel launches through {@code cuLaunchKernelEx}, bound with the FFM API (JCuda 12.6 does not bind it):
 * a launch writes into native memory the backend owns and calls the driver directly, with none of the
 * per-launch objects and JNI copies of JCuda's cuLaunchKernel (on an H200 host a decode step of
 * about 100 kernels launched this way took 1.1 ms instead of 2.7 ms; docs/CUDA.md).
 *
 * <p>Optionally with programmatic dependent launch (PDL): the attribute
 * {@code CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION} lets a kernel start while its
 * predecessor on the stream is still running; the kernels wait for it themselves (pdl_wait in
 * kernels/common.cuh), so only their prologue (the first weight prefetch) overlaps the predecessor's
 * tail. Stream capture records such launches as programmatic graph edges (CUDA 12.3 and later).
 *
 * <p>The structures, declared by hand from cuda.h (CUDA 12 and 13):
 * <pre>
 *   CUlaunchConfig    { u32 gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
 *                       [4 pad]; CUstream hStream; CUlaunchAttribute* attrs; u32 numAttrs; [4 pad] }   56 bytes
 *   CUlaunchAttribute { u32 id; [4 pad]; union CUlaunchAttributeValue (64 bytes) value }                72 bytes
 * </pre>
 * One config, one attribute and one parameter block are reused for every launch (the driver copies
 * the parameters at launch), so a launch allocates nothing. Not thread-safe (the backend is not).
 * Owned: {@link #close} frees them.
 */
final class LaunchKernelEx implements AutoCloseable {
  static final int CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;
  static final int MAX_PARAMETERS = 32;

  static final StructLayout CONFIG = MemoryLayout.structLayout(
      ValueLayout.JAVA_INT.withName("gridDimX"), ValueLayout.JAVA_INT.withName("gridDimY"),
      ValueLayout.JAVA_INT.withName("gridDimZ"), ValueLayout.JAVA_INT.withName("blockDimX"),
      ValueLayout.JAVA_INT.withName("blockDimY"), ValueLayout.JAVA_INT.withName("blockDimZ"),
      ValueLayout.JAVA_INT.withName("sharedMemBytes"), MemoryLayout.paddingLayout(4),
      ValueLayout.ADDRESS.withName("hStream"), ValueLayout.ADDRESS.withName("attrs"),
      ValueLayout.JAVA_INT.withName("numAttrs"), MemoryLayout.paddingLayout(4));
  static final StructLayout ATTRIBUTE = MemoryLayout.structLayout(
      ValueLayout.JAVA_INT.withName("id"), MemoryLayout.paddingLayout(4),
      MemoryLayout.sequenceLayout(64, ValueLayout.JAVA_BYTE).withName("value"));

  private final Arena arena = Arena.ofShared();
  private final MethodHandle launchKernelEx;
  private final MemorySegment config = arena.allocate(CONFIG);
  private final MemorySegment attribute = arena.allocate(ATTRIBUTE);
  private final MemorySegment values = arena.allocate(8L * MAX_PARAMETERS, 8);      // [MAX_PARAMETERS] 8-byte slots
  private final MemorySegment pointers = arena.allocate(8L * MAX_PARAMETERS, 8);    // [MAX_PARAMETERS] void*
  private boolean closed;

  /** {@code symbol}: cuLaunchKernelEx, or in tests a stand-in with its signature. */
  LaunchKernelEx(MemorySegment symbol) {
    ValueLayout a = ValueLayout.ADDRESS;
    this.launchKernelEx = Linker.nativeLinker().downcallHandle(symbol,
        FunctionDescriptor.of(ValueLayout.JAVA_INT, a, a, a, a));
    attribute.set(ValueLayout.JAVA_INT, 0, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
    attribute.set(ValueLayout.JAVA_INT, 8, 1);  // value.programmaticStreamSerializationAllowed = 1
    config.set(ValueLayout.ADDRESS, CONFIG.byteOffset(MemoryLayout.PathElement.groupElement("attrs")), attribute);
    for (int i = 0; i < MAX_PARAMETERS; i++) pointers.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice(8L * i, 8));
  }

  /**
   * Binds cuLaunchKernelEx from the driver library JCuda loaded ({@code libcuda.so.1}); empty, with the
   * reason appended to {@code why}, when the driver has no such entry point (drivers before CUDA 11.8).
   */
  static Optional<LaunchKernelEx> bind(StringBuilder why) {
    try {
      SymbolLookup driver = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
      Optional<MemorySegment> symbol = driver.find("cuLaunchKernelEx");
      if (symbol.isEmpty()) {
        why.append("the driver has no cuLaunchKernelEx");
        return Optional.empty();
      }
      return Optional.of(new LaunchKernelEx(symbol.get()));
    } catch (IllegalArgumentException | IllegalCallerException e) {
      why.append("libcuda.so.1 not bound through the FFM API: ").append(e.getMessage());
      return Optional.empty();
    }
  }

  /**
   * Launches {@code function} (a CUfunction address) on {@code stream}, with programmatic dependent
   * launch when {@code programmatic}; the CUresult.
   */
  int launch(long function, LaunchGeometry g, long stream, KernelArgs args, boolean programmatic) {
    if (closed) throw new IllegalStateException("cuLaunchKernelEx binding was closed");
    write(config, g, stream);
    config.set(ValueLayout.JAVA_INT, CONFIG.byteOffset(MemoryLayout.PathElement.groupElement("numAttrs")),
        programmatic ? 1 : 0);
    int count = args.writeValues(values, MAX_PARAMETERS);
    // Locals of type MemorySegment: invokeExact matches the static types of its arguments exactly (a
    // conditional expression there would be typed Object).
    MemorySegment kernel = MemorySegment.ofAddress(function);
    MemorySegment params = count == 0 ? MemorySegment.NULL : pointers;
    try {
      return (int) launchKernelEx.invokeExact(config, kernel, params, MemorySegment.NULL);
    } catch (Throwable t) {
      throw new CudaCallException("cuLaunchKernelEx failed in the foreign call: " + t, t);
    }
  }

  /** Fills a CUlaunchConfig's geometry and stream (attrs and numAttrs are set once). */
  static void write(MemorySegment config, LaunchGeometry g, long stream) {
    config.set(ValueLayout.JAVA_INT, 0, g.gridX());
    config.set(ValueLayout.JAVA_INT, 4, g.gridY());
    config.set(ValueLayout.JAVA_INT, 8, g.gridZ());
    config.set(ValueLayout.JAVA_INT, 12, g.blockX());
    config.set(ValueLayout.JAVA_INT, 16, g.blockY());
    config.set(ValueLayout.JAVA_INT, 20, g.blockZ());
    config.set(ValueLayout.JAVA_INT, 24, g.sharedBytes());
    config.set(ValueLayout.ADDRESS, CONFIG.byteOffset(MemoryLayout.PathElement.groupElement("hStream")),
        MemorySegment.ofAddress(stream));
  }

  /** The reused config (tests read it back). */
  MemorySegment config() { return config; }

  MemorySegment attribute() { return attribute; }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    arena.close();
  }
}
