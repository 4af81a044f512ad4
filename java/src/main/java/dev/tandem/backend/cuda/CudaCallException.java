package dev.tandem.backend.cuda;

/** A CUDA driver or cuBLAS call failed; the message names the call, the kernel or buffer, and the error. */
public final class CudaCallException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CudaCallException(String message) {
    super(message);
  }

  public CudaCallException(String message, Throwable cause) {
    super(message, cause);
  }
}
