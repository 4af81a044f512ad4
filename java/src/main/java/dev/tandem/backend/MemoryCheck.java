package dev.tandem.backend;

import java.util.Locale;

/**
 * The memory a buffer sized by the context length needs, computed before it is allocated, and a clear
 * refusal when it cannot fit: a huge {@code --context} used to end in an OutOfMemoryError or an int
 * overflow after a minute of work. The host limit is what this JVM can still allocate (its maximum heap
 * less what live objects use); the device limit is the backend's free memory.
 */
public final class MemoryCheck {
  private MemoryCheck() {}

  /** Bytes this JVM can still allocate on its heap (after a collection when it looks short). */
  public static long hostAvailable() {
    Runtime rt = Runtime.getRuntime();
    return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
  }

  /**
   * Refuses {@code bytes} for {@code what} (with how it is computed) when more than {@code available}
   * bytes, or when one Java array would need more than 2^31 - 16 elements of {@code elementBytes}.
   */
  public static void require(String what, String formula, long bytes, long largestArrayElements, long available,
      String where, String remedy) {
    if (bytes < 0 || largestArrayElements < 0) {
      throw new IllegalArgumentException(what + " (" + formula + ") overflows 64-bit sizes; " + remedy);
    }
    if (largestArrayElements > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "%s needs %s (%s), one array of %,d elements,"
          + " more than the 2^31 a Java array holds; %s", what, gib(bytes), formula, largestArrayElements, remedy));
    }
    if (bytes > available && where.equals("host")) {
      System.gc();
      available = Math.max(available, hostAvailable());
    }
    if (bytes > available) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "%s needs %s (%s), more than the %s of %s memory"
          + " available; %s", what, gib(bytes), formula, gib(available), where, remedy));
    }
  }

  public static String gib(long bytes) {
    return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
        : String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
  }
}
