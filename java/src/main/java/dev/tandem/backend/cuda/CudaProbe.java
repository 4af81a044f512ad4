package dev.tandem.backend.cuda;

import java.nio.charset.StandardCharsets;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * Whether this machine can run the CUDA backend: JCuda's native library loads (it needs the
 * driver's libcuda.so.1), the driver initialises, and there is a device of compute capability 8.0
 * or newer (the PTX targets compute_80). Never throws: on a machine without a driver, loading the
 * native library throws UnsatisfiedLinkError (an Error), which becomes the reason.
 *
 * @param reason why not (when {@code available} is false), else empty
 */
public record CudaProbe(boolean available, String reason, String device, int driverVersion, int computeMajor,
    int computeMinor, long totalMemory, int multiprocessors, long l2Bytes) {

  private static CudaProbe cached;

  /** The probe's result, computed once per JVM. */
  public static synchronized CudaProbe probe() {
    if (cached == null) cached = run();
    return cached;
  }

  /** Shorthand for {@code probe().available()}. */
  public static boolean isAvailable() {
    return probe().available();
  }

  private static CudaProbe run() {
    try {
      Cu.initialize();
      int[] count = new int[1];
      Cu.check("cuDeviceGetCount", () -> JCudaDriver.cuDeviceGetCount(count));
      int[] driver = new int[1];
      Cu.check("cuDriverGetVersion", () -> JCudaDriver.cuDriverGetVersion(driver));
      if (count[0] == 0) return unavailable("the CUDA driver (" + version(driver[0]) + ") sees no device");
      CUdevice device = new CUdevice();
      Cu.check("cuDeviceGet", () -> JCudaDriver.cuDeviceGet(device, 0));
      byte[] name = new byte[256];
      Cu.check("cuDeviceGetName", () -> JCudaDriver.cuDeviceGetName(name, name.length, device));
      int end = 0;
      while (end < name.length && name[end] != 0) end++;
      String deviceName = new String(name, 0, end, StandardCharsets.UTF_8);
      int major = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
      int minor = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
      int sms = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
      int l2 = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
      long[] memory = new long[1];
      Cu.check("cuDeviceTotalMem", () -> JCudaDriver.cuDeviceTotalMem(memory, device));
      if (major < 8) {
        return unavailable(deviceName + " has compute capability " + major + "." + minor
            + "; the kernels need 8.0 or newer");
      }
      return new CudaProbe(true, "", deviceName, driver[0], major, minor, memory[0], sms, l2);
    } catch (Throwable t) {
      String message = t.getMessage() == null ? "" : t.getMessage().lines().findFirst().orElse("");
      if (t instanceof UnsatisfiedLinkError || t instanceof NoClassDefFoundError) {
        return unavailable("no CUDA driver: JCuda's native library did not load (" + message + ")");
      }
      return unavailable(t.getClass().getSimpleName() + (message.isEmpty() ? "" : ": " + message));
    }
  }

  private static int attribute(CUdevice device, int attribute) {
    int[] value = new int[1];
    Cu.check("cuDeviceGetAttribute(" + attribute + ")", () -> JCudaDriver.cuDeviceGetAttribute(value, attribute, device));
    return value[0];
  }

  private static CudaProbe unavailable(String reason) {
    return new CudaProbe(false, reason, "", 0, 0, 0, 0, 0, 0);
  }

  static String version(int v) {
    return (v / 1000) + "." + (v % 1000) / 10;
  }

  /** One line: the device and driver, or "no GPU: reason". */
  public String describe() {
    if (!available) return "no GPU: " + reason;
    return String.format("%s (compute capability %d.%d, %d multiprocessors, %.1f GiB, L2 %.0f MB), CUDA driver %s",
        device, computeMajor, computeMinor, multiprocessors, totalMemory / (double) (1L << 30), l2Bytes / 1e6,
        version(driverVersion));
  }
}
