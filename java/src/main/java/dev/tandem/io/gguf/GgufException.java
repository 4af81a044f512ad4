package dev.tandem.io.gguf;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A GGUF file cannot be used: bad magic, an unsupported version, truncated or corrupt header or
 * data, or a tensor or key the caller needs is missing or of another type. The message names the
 * file and the problem.
 */
public final class GgufException extends IOException {
  private final Path file;

  public GgufException(Path file, String message) {
    super(file + ": " + message);
    this.file = file;
  }

  public GgufException(Path file, String message, Throwable cause) {
    super(file + ": " + message, cause);
    this.file = file;
  }

  /** The file the problem is in. */
  public Path file() {
    return file;
  }
}
