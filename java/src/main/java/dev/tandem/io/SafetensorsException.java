package dev.tandem.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file cannot be used: it is missing, corrupt or truncated, or it lacks a tensor the caller
 * asked for, or holds it with another dtype or shape. The message names the file and the problem.
 */
public final class SafetensorsException extends IOException {

  private final Path file;

  /** @param message a complete sentence that names {@code file} and says what is wrong */
  public SafetensorsException(Path file, String message) {
    super(message);
    this.file = file;
  }

  /** @param message a complete sentence that names {@code file} and says what is wrong */
  public SafetensorsException(Path file, String message, Throwable cause) {
    super(message, cause);
    this.file = file;
  }

  /** The file the problem is in. */
  public Path file() {
    return file;
  }
}
