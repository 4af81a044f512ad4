package dev.tandem.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUjit_option;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import jcuda.driver.JITOptions;

/**
 * The PTX modules of the jar, loaded into the current context with cuModuleLoadData (the driver
 * compiles them for the device on first load), and the kernel functions in them; owned.
 */
final class PtxModules implements AutoCloseable {
  /** A kernel function whose raw handle cuLaunchKernelEx (through the FFM API) can take. */
  static final class Function extends CUfunction {
    long address() {
      return getNativePointer();
    }
  }

  private final Map<String, CUmodule> modules = new HashMap<>();
  private final Map<Kernel, Function> functions = new EnumMap<>(Kernel.class);
  private final String variant;

  /**
   * @param variant the PTX folder under {@code /native/}: {@code ""} (compute_80) or {@code "sm90/"}
   *                (compute_90, with the programmatic-dependent-launch instructions)
   */
  PtxModules(String variant) {
    this.variant = variant;
  }

  /** The PTX compute capability a device of this major version loads: the sm90 PTX from Hopper on. */
  static String variantFor(int computeMajor) {
    return computeMajor >= 9 ? "sm90/" : "";
  }

  String variant() { return variant; }

  /** The function of a kernel, loading its module on first use. */
  Function function(Kernel kernel) {
    Function f = functions.get(kernel);
    if (f != null) return f;
    CUmodule module = modules.get(kernel.module);
    String resource = kernel.resource(variant);
    if (module == null) {
      byte[] ptx = readPtx(resource);
      CUmodule loaded = new CUmodule();
      try {
        Cu.check("cuModuleLoadData(" + resource + ")", () -> JCudaDriver.cuModuleLoadData(loaded, ptx));
      } catch (CudaCallException e) {
        throw new CudaCallException(e.getMessage() + jitLog(ptx), e);
      }
      modules.put(kernel.module, loaded);
      module = loaded;
    }
    Function function = new Function();
    CUmodule m = module;
    Cu.check("cuModuleGetFunction(" + kernel.entry + ")", () -> JCudaDriver.cuModuleGetFunction(function, m, kernel.entry));
    functions.put(kernel, function);
    return function;
  }

  /** The JIT compiler's error log for a module that failed to load (loading it again with a log buffer). */
  private static String jitLog(byte[] ptx) {
    JITOptions options = new JITOptions();
    options.putBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER, new byte[16384]);
    CUmodule again = new CUmodule();
    try {
      JCudaDriver.cuModuleLoadDataJIT(again, Pointer.to(ptx), options);
      JCudaDriver.cuModuleUnload(again);
      return "";
    } catch (RuntimeException e) {
      // failed again: the log says why
    }
    try {
      String log = options.getString(CUjit_option.CU_JIT_ERROR_LOG_BUFFER);
      return log == null || log.isBlank() ? "" : "; JIT log: " + log.trim();
    } catch (RuntimeException e) {
      return "";
    }
  }

  /** The PTX text as a NUL-terminated byte array (cuModuleLoadData reads a C string). */
  static byte[] readPtx(String resource) {
    try (InputStream in = PtxModules.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("PTX resource " + resource + " is missing from the jar; run ./build-native.sh"
            + " and rebuild");
      }
      byte[] text = in.readAllBytes();
      byte[] terminated = new byte[text.length + 1];
      System.arraycopy(text, 0, terminated, 0, text.length);
      return terminated;
    } catch (IOException e) {
      throw new IllegalStateException("cannot read PTX resource " + resource + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    for (Map.Entry<String, CUmodule> e : modules.entrySet()) {
      Cu.check("cuModuleUnload(" + e.getKey() + ")", () -> JCudaDriver.cuModuleUnload(e.getValue()));
    }
    modules.clear();
    functions.clear();
  }
}
