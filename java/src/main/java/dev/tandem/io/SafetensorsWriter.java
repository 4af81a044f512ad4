package dev.tandem.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Builds a safetensors file from named tensors, in the Hugging Face layout: 8-byte little-endian header
 * length, compact JSON header padded with spaces to a multiple of 8 bytes (so the data section starts
 * 8-byte aligned), then the tensors' bytes back to back with no gaps, in the order they were added.
 * (The Hugging Face writer also orders tensors by descending element size so each one is aligned to its
 * own size; this writer keeps the caller's order, which gives the same alignment when all tensors share a
 * dtype. Readers must not rely on more than byte alignment either way.)
 *
 * <p>The writer keeps references to the arrays and segments it is given and reads them during
 * {@link #write}; they must not change in between. {@link #write} streams the data through a small
 * buffer and replaces the target atomically.
 */
public final class SafetensorsWriter {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CHUNK_BYTES = 1 << 20;

  private final Map<String, Entry> tensors = new LinkedHashMap<>();
  private final Map<String, String> metadata = new LinkedHashMap<>();

  private record Entry(DType dtype, long[] shape, long byteSize, Payload payload) {}

  private sealed interface Payload {}

  private record FloatValues(float[] values) implements Payload {}

  private record RawBytes(MemorySegment bytes) implements Payload {}

  /**
   * Adds a tensor given as floats, to be stored converted to {@code dtype} (F32, F16 or BF16; rounding to
   * nearest even).
   *
   * @param shape dimensions, outermost first; {@code []} for a scalar
   * @param data {@code numel(shape)} values, row-major
   * @throws IllegalArgumentException if the name is taken or reserved, the dtype does not convert from
   *     float, a dimension is negative, or {@code data.length} is not the shape's element count
   */
  public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] data) {
    Objects.requireNonNull(data, "data");
    if (!dtype.convertsToFloat()) {
      throw new IllegalArgumentException("tensor " + name + ": cannot store floats as " + dtype
          + " (only F32, F16 and BF16); use addRaw");
    }
    long numel = checkedNumel(name, shape);
    if (data.length != numel) {
      throw new IllegalArgumentException("tensor " + name + ": shape " + Shapes.format(shape) + " has " + numel
          + " elements, but " + data.length + " values were given");
    }
    return put(name, dtype, shape, numel * dtype.byteSize(), new FloatValues(data));
  }

  /**
   * Adds a tensor given as raw little-endian bytes of {@code dtype}, stored unchanged.
   *
   * @throws IllegalArgumentException if the name is taken or reserved, a dimension is negative, or the
   *     byte count is not {@code numel(shape) * dtype.byteSize()}
   */
  public SafetensorsWriter addRaw(String name, DType dtype, long[] shape, MemorySegment bytes) {
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(bytes, "bytes");
    long numel = checkedNumel(name, shape);
    long byteSize;
    try {
      byteSize = Math.multiplyExact(numel, dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("tensor " + name + ": shape " + Shapes.format(shape) + " is too large");
    }
    if (bytes.byteSize() != byteSize) {
      throw new IllegalArgumentException("tensor " + name + ": dtype " + dtype + " and shape "
          + Shapes.format(shape) + " need " + byteSize + " bytes, but " + bytes.byteSize() + " were given");
    }
    return put(name, dtype, shape, byteSize, new RawBytes(bytes));
  }

  /** Sets a {@code __metadata__} entry (the last value for a key wins). */
  public SafetensorsWriter putMetadata(String key, String value) {
    metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
    return this;
  }

  /**
   * Writes the file. The bytes go to a temporary file in the same directory, which is flushed to disk and
   * then moved over {@code file} atomically, so that {@code file} is either its old self or complete,
   * never partial.
   */
  public void write(Path file) throws IOException {
    Path target = file.toAbsolutePath();
    byte[] header = header();
    Path temp = dev.tandem.util.AtomicFiles.temporaryFor(target, false);
    try {
      try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE);
          Arena arena = Arena.ofConfined()) {
        writeFully(channel, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
        writeFully(channel, ByteBuffer.wrap(header));
        MemorySegment chunk = arena.allocate(CHUNK_BYTES);
        for (Entry entry : tensors.values()) writeData(channel, entry, chunk);
        channel.force(true);
      }
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (Throwable e) {
      try {
        Files.deleteIfExists(temp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  private SafetensorsWriter put(String name, DType dtype, long[] shape, long byteSize, Payload payload) {
    if (tensors.containsKey(name)) throw new IllegalArgumentException("duplicate tensor name " + name);
    tensors.put(name, new Entry(dtype, shape.clone(), byteSize, payload));
    return this;
  }

  private static long checkedNumel(String name, long[] shape) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(shape, "shape");
    if (name.equals(SafetensorsHeader.METADATA_KEY)) {
      throw new IllegalArgumentException(SafetensorsHeader.METADATA_KEY + " is reserved and cannot name a tensor");
    }
    if (Arrays.stream(shape).anyMatch(dim -> dim < 0)) {
      throw new IllegalArgumentException("tensor " + name + ": negative dimension in shape " + Shapes.format(shape));
    }
    try {
      return Shapes.numel(shape);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("tensor " + name + ": shape " + Shapes.format(shape) + " is too large");
    }
  }

  /** The JSON header, space-padded to a multiple of 8 bytes. */
  private byte[] header() throws JsonProcessingException {
    ObjectNode root = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = root.putObject(SafetensorsHeader.METADATA_KEY);
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Map.Entry<String, Entry> tensor : tensors.entrySet()) {
      Entry entry = tensor.getValue();
      ObjectNode node = root.putObject(tensor.getKey());
      node.put("dtype", entry.dtype().safetensorsName());
      ArrayNode shape = node.putArray("shape");
      for (long dim : entry.shape()) shape.add(dim);
      long end = Math.addExact(offset, entry.byteSize());
      node.putArray("data_offsets").add(offset).add(end);
      offset = end;
    }
    byte[] json = JSON.writeValueAsBytes(root);
    byte[] padded = new byte[(json.length + 7) / 8 * 8];
    Arrays.fill(padded, (byte) ' ');
    System.arraycopy(json, 0, padded, 0, json.length);
    return padded;
  }

  /** Streams one tensor's bytes through {@code chunk}, converting floats on the way. */
  private static void writeData(FileChannel channel, Entry entry, MemorySegment chunk) throws IOException {
    switch (entry.payload()) {
      case FloatValues(float[] values) -> {
        int bytesPerValue = entry.dtype().byteSize();
        int perChunk = CHUNK_BYTES / bytesPerValue;
        for (int from = 0; from < values.length; from += perChunk) {
          int count = Math.min(perChunk, values.length - from);
          FloatFormats.fromFloats(values, from, count, entry.dtype(), chunk);
          writeFully(channel, chunk.asSlice(0, (long) count * bytesPerValue).asByteBuffer());
        }
      }
      case RawBytes(MemorySegment bytes) -> {
        for (long from = 0; from < bytes.byteSize(); from += CHUNK_BYTES) {
          long count = Math.min(CHUNK_BYTES, bytes.byteSize() - from);
          MemorySegment.copy(bytes, from, chunk, 0, count);
          writeFully(channel, chunk.asSlice(0, count).asByteBuffer());
        }
      }
    }
  }

  private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) channel.write(buffer);
  }
}
