package dev.tandem.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * cuBLAS through the Foreign Function API: the four entry points the backend needs, declared by
 * hand (jextract is not on Maven Central), bound against whichever libcublas loads first:
 * {@code $TANDEM_CUBLAS} (a path, or {@code off} for the own kernel), {@code libcublas.so.13}, {@code .12}, {@code .11}, {@code libcublas.so}
 * by the loader's search path, then the usual CUDA install folders. Create it while the backend's
 * context is current on the thread (cuBLAS uses the current context). Owned: {@link #close}
 * destroys the handle.
 */
final class Cublas implements AutoCloseable {
  // cublasOperation_t, cudaDataType_t, cublasComputeType_t, cublasGemmAlgo_t.
  static final int OP_N = 0;
  static final int OP_T = 1;
  static final int CUDA_R_32F = 0;
  static final int CUDA_R_16BF = 14;
  static final int COMPUTE_32F = 68;
  static final int GEMM_DEFAULT = -1;

  private final Arena arena = Arena.ofShared();
  private final String library;
  private final MethodHandle gemmEx;
  private final MethodHandle destroy;
  private final MemorySegment handle;
  private final MemorySegment alpha;
  private final MemorySegment beta;
  private boolean closed;

  private Cublas(String library, SymbolLookup lookup, long stream) throws Throwable {
    this.library = library;
    Linker linker = Linker.nativeLinker();
    MethodHandle create = linker.downcallHandle(find(lookup, "cublasCreate_v2"),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    MethodHandle setStream = linker.downcallHandle(find(lookup, "cublasSetStream_v2"),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    this.destroy = linker.downcallHandle(find(lookup, "cublasDestroy_v2"),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    ValueLayout.OfInt i = ValueLayout.JAVA_INT;
    ValueLayout a = ValueLayout.ADDRESS;
    this.gemmEx = linker.downcallHandle(find(lookup, "cublasGemmEx"),
        FunctionDescriptor.of(i, a, i, i, i, i, i, a, a, i, i, a, i, i, a, a, i, i, i, i));
    MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
    check("cublasCreate_v2", (int) create.invokeExact(out));
    this.handle = out.get(ValueLayout.ADDRESS, 0);
    check("cublasSetStream_v2", (int) setStream.invokeExact(handle, MemorySegment.ofAddress(stream)));
    this.alpha = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
    this.beta = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
  }

  private static MemorySegment find(SymbolLookup lookup, String name) {
    return lookup.find(name).orElseThrow(() -> new IllegalStateException("cuBLAS has no symbol " + name));
  }

  /** The library names and paths tried, in order. */
  static List<String> candidates() {
    List<String> names = new ArrayList<>();
    String env = System.getenv("TANDEM_CUBLAS");
    if (env != null && !env.isBlank()) names.add(env);
    for (String v : new String[] {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}) names.add(v);
    for (String dir : new String[] {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
        "/usr/lib/x86_64-linux-gnu"}) {
      for (String v : new String[] {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}) {
        if (Files.exists(Path.of(dir, v))) names.add(dir + "/" + v);
      }
    }
    return names;
  }

  /** cuBLAS from Python's CUDA wheels (nvidia-cublas), searched only when nothing else loaded. */
  static List<String> wheelCandidates() {
    List<String> names = new ArrayList<>();
    for (String base : new String[] {"/opt", "/usr/local/lib", "/usr/lib"}) {
      try (java.util.stream.Stream<Path> found = Files.find(Path.of(base), 9,
          (p, attributes) -> p.getFileName().toString().matches("libcublas\\.so\\.1[1-3]"))) {
        found.limit(4).forEach(p -> names.add(p.toString()));
      } catch (java.io.IOException | RuntimeException e) {
        // not there
      }
    }
    return names;
  }

  /**
   * Binds the first cuBLAS that loads and creates a handle on {@code stream}; null (with the reasons
   * in {@code why}) when none does.
   */
  static Cublas load(long stream, StringBuilder why) {
    if ("off".equalsIgnoreCase(System.getenv("TANDEM_CUBLAS"))) {
      why.append("TANDEM_CUBLAS=off");
      return null;
    }
    Cublas found = load(candidates(), stream, why);
    return found != null ? found : load(wheelCandidates(), stream, why);
  }

  private static Cublas load(List<String> names, long stream, StringBuilder why) {
    for (String name : names) {
      Arena lookupArena = Arena.global();
      SymbolLookup lookup;
      try {
        lookup = SymbolLookup.libraryLookup(name.contains("/") ? Path.of(name).toString() : name, lookupArena);
      } catch (IllegalArgumentException | IllegalCallerException e) {
        why.append(name).append(": ").append(e.getMessage()).append("; ");
        continue;
      }
      try {
        return new Cublas(name, lookup, stream);
      } catch (Throwable e) {
        why.append(name).append(": ").append(e.getMessage()).append("; ");
      }
    }
    return null;
  }

  String library() {
    return library;
  }

  /**
   * Row-major out[n][m] = x[n][k] * w[m][k]^T with bf16 x and w, fp32 out and fp32 accumulation. In
   * cuBLAS's column-major terms: out^T (m x n, ld m) = op_T(w as k x m, ld k) * (x as k x n, ld k).
   */
  void gemm(long xBf16, long wBf16, long out, int n, int k, int m) {
    int status;
    try {
      status = (int) gemmEx.invokeExact(handle, OP_T, OP_N, m, n, k, alpha, MemorySegment.ofAddress(wBf16),
          CUDA_R_16BF, k, MemorySegment.ofAddress(xBf16), CUDA_R_16BF, k, beta, MemorySegment.ofAddress(out),
          CUDA_R_32F, m, COMPUTE_32F, GEMM_DEFAULT);
    } catch (Throwable e) {
      throw new CudaCallException("cublasGemmEx failed: " + e, e);
    }
    check("cublasGemmEx(n=" + n + ", k=" + k + ", m=" + m + ")", status);
  }

  private static void check(String call, int status) {
    if (status != 0) throw new CudaCallException(call + " failed: cuBLAS status " + status);
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    try {
      check("cublasDestroy_v2", (int) destroy.invokeExact(handle));
    } catch (CudaCallException e) {
      throw e;
    } catch (Throwable e) {
      throw new CudaCallException("cublasDestroy_v2 failed: " + e, e);
    } finally {
      arena.close();
    }
  }
}
