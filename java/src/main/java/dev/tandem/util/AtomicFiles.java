package dev.tandem.util;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Writes that never leave a half-written file under the final name: temp file, fsync, atomic move.
 *
 * <p>A temporary sits beside its target as {@code .NAME.<pid>-<start>.<random>.tmp} (a directory:
 * {@code .tmpdir}), naming the process that writes it ({@code start}: the process's start time in
 * milliseconds, so a reused pid is not mistaken for the writer). A process killed mid-write cannot
 * remove its temporary; the next write of the same target does: every {@link #temporaryFor} first
 * deletes the temporaries of that target whose writer is no longer running (those of older versions,
 * named {@code .NAME.<digits>.tmp}, included). Temporaries of a live writer are left alone.
 */
public final class AtomicFiles {
  private static final String OWNER = ownerTag();

  private AtomicFiles() {}

  public static void write(Path target, byte[] bytes) throws IOException {
    Path tmp = temporaryFor(target, false);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining()) ch.write(buffer);
        ch.force(true);
      }
      makeWorldReadable(tmp);
      Files.move(tmp, target.toAbsolutePath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Temp files are created owner-only; a model file should read like any other (rw-r--r--). */
  public static void makeWorldReadable(Path file) throws IOException {
    if (file.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    }
  }

  public static void writeString(Path target, String text) throws IOException {
    write(target, text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A fresh, empty temporary beside {@code target} (a file, or with {@code directory} a directory),
   * created after deleting the stale temporaries of the same target. Failures name {@code target}, not
   * the temporary, which the user never gave.
   */
  public static Path temporaryFor(Path target, boolean directory) throws IOException {
    Path abs = target.toAbsolutePath().normalize();
    Path dir = abs.getParent();
    try {
      Files.createDirectories(dir);
      removeStaleTemporaries(abs);
      String name = "." + abs.getFileName() + "." + OWNER + "."
          + Long.toHexString(ThreadLocalRandom.current().nextLong()) + (directory ? ".tmpdir" : ".tmp");
      Path tmp = dir.resolve(name);
      if (directory) Files.createDirectory(tmp);
      else Files.createFile(tmp);
      return tmp;
    } catch (IOException e) {
      throw new IOException("cannot write " + abs + ": " + reason(e), e);
    }
  }

  /** A short reason for a failed file operation (the exception's own message names a path). */
  public static String reason(IOException e) {
    if (e instanceof java.nio.file.NoSuchFileException) return "no such file or directory";
    if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
    if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
    return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
  }

  /**
   * Writes a directory under a temporary name with {@code fill} and renames it to {@code target} when
   * complete, so {@code target} never holds a partial directory. {@code target} must not exist, or be an
   * empty directory (replaced).
   */
  public static void writeDirectory(Path target, DirectoryFiller fill) throws IOException {
    Path abs = target.toAbsolutePath().normalize();
    Path tmp = temporaryFor(abs, true);
    try {
      fill.fill(tmp);
      if (Files.isDirectory(abs)) {
        try (Stream<Path> s = Files.list(abs)) {
          if (s.findAny().isPresent()) throw new FileAlreadyExistsException(abs + " is not empty");
        }
      }
      Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      deleteRecursively(tmp);
    }
  }

  /** What {@link #writeDirectory} calls to write the files of the directory. */
  @FunctionalInterface
  public interface DirectoryFiller {
    void fill(Path dir) throws IOException;
  }

  /** Deletes the temporaries of {@code target} left by processes that are no longer running. */
  public static void removeStaleTemporaries(Path target) throws IOException {
    Path abs = target.toAbsolutePath().normalize();
    Path dir = abs.getParent();
    if (dir == null || !Files.isDirectory(dir)) return;
    String prefix = "." + abs.getFileName() + ".";
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, p -> {
      String n = p.getFileName().toString();
      return n.startsWith(prefix) && (n.endsWith(".tmp") || n.endsWith(".tmpdir"));
    })) {
      for (Path p : entries) {
        String middle = p.getFileName().toString().substring(prefix.length());
        if (isStale(middle)) deleteRecursively(p);
      }
    }
  }

  /**
   * {@code middle}: what follows {@code .NAME.}: {@code <pid>-<start>.<random>.tmp[dir]} (this class) or
   * {@code <digits>.tmp} (Files.createTempFile of older versions). Anything else is not ours: kept.
   */
  static boolean isStale(String middle) {
    String[] parts = middle.split("\\.");
    if (parts.length == 2 && parts[0].matches("\\d+") && parts[1].equals("tmp")) return true;
    if (parts.length != 3 || !parts[0].matches("\\d+-\\d+") || !parts[1].matches("[0-9a-f]+")) return false;
    String[] owner = parts[0].split("-");
    long pid;
    long start;
    try {
      pid = Long.parseLong(owner[0]);
      start = Long.parseLong(owner[1]);
    } catch (NumberFormatException e) {
      return true;
    }
    return ProcessHandle.of(pid).map(h -> startMillis(h) != start).orElse(true);
  }

  private static long startMillis(ProcessHandle h) {
    return h.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
  }

  private static String ownerTag() {
    ProcessHandle self = ProcessHandle.current();
    return self.pid() + "-" + startMillis(self);
  }

  private static void deleteRecursively(Path p) throws IOException {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
    if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      try (Stream<Path> s = Files.walk(p)) {
        for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
      }
    } else {
      Files.deleteIfExists(p);
    }
  }
}
