package dev.tandem.backend.cuda;

import jcuda.driver.CUdeviceptr;

/** A device pointer whose raw address can be read (for kernel parameters and cuBLAS). */
final class DevicePointer extends CUdeviceptr {
  /** The address this pointer holds (0 before an allocation filled it). */
  long address() {
    return getNativePointer() + getByteOffset();
  }

  /** A JCuda pointer to an arbitrary device address. */
  static CUdeviceptr at(long address) {
    return new CUdeviceptr().withByteOffset(address);
  }
}
