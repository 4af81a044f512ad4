package dev.tandem.testing;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Runs code with the process's own stdout and stderr (file descriptors 1 and 2, which native libraries
 * such as llama.cpp write to directly) sent to a file, then restores them: a test stays quiet and can
 * show the log when it fails. Through libc's dup, dup2, creat and fflush (the FFM API).
 */
public final class NativeOutput {
  private static final Linker LINKER = Linker.nativeLinker();
  private static final SymbolLookup LIBC = LINKER.defaultLookup();
  private static final MethodHandle DUP = handle("dup", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
  private static final MethodHandle DUP2 = handle("dup2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
  private static final MethodHandle CREAT = handle("creat", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
  private static final MethodHandle FFLUSH = handle("fflush", FunctionDescriptor.of(JAVA_INT, ADDRESS));

  private NativeOutput() {}

  private static MethodHandle handle(String name, FunctionDescriptor d) {
    return LINKER.downcallHandle(LIBC.find(name).orElseThrow(), d);
  }

  /**
   * Waits until {@code log} has stopped growing for 150 ms (at most 3 s): llama.cpp's logger writes from
   * a worker thread of its own, after the call that logged has returned.
   */
  private static void settle(Path log) {
    long deadline = System.nanoTime() + 3_000_000_000L, size = -1, stableSince = System.nanoTime();
    while (System.nanoTime() < deadline) {
      long now = log.toFile().length();
      if (now != size) {
        size = now;
        stableSince = System.nanoTime();
      } else if (System.nanoTime() - stableSince > 150_000_000L) {
        return;
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** {@code body}'s result; everything written to fds 1 and 2 meanwhile is in {@code log}. */
  public static synchronized <T> T redirected(Path log, Callable<T> body) throws Exception {
    int file, out, err;
    try (Arena arena = Arena.ofConfined()) {
      try {
        file = (int) CREAT.invokeExact(arena.allocateFrom(log.toString()), 0644);
        if (file < 0) throw new IllegalStateException("cannot create " + log);
        int flushed = (int) FFLUSH.invokeExact(MemorySegment.NULL);
        out = (int) DUP.invokeExact(1);
        err = (int) DUP.invokeExact(2);
        int a = (int) DUP2.invokeExact(file, 1);
        int b = (int) DUP2.invokeExact(file, 2);
      } catch (Throwable t) {
        throw new IllegalStateException("cannot redirect the native output", t);
      }
    }
    try {
      return body.call();
    } finally {
      settle(log);
      try {
        int flushed = (int) FFLUSH.invokeExact(MemorySegment.NULL);
        int a = (int) DUP2.invokeExact(out, 1);
        int b = (int) DUP2.invokeExact(err, 2);
        int c = (int) CLOSE.invokeExact(out);
        int d = (int) CLOSE.invokeExact(err);
        int e = (int) CLOSE.invokeExact(file);
      } catch (Throwable t) {
        throw new IllegalStateException("cannot restore the native output", t);
      }
    }
  }
}
