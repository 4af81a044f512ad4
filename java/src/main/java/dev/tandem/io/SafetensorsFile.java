package dev.tandem.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped read-only and validated on {@link #open}. Tensor data is read from
 * the mapping on demand, as raw bytes ({@link #data}) or converted to floats ({@link #readFloats}).
 *
 * <p>The mapping belongs to a shared arena, so any thread may read; {@link #close} unmaps the file, after
 * which every segment obtained from {@link #data} is invalid.
 */
public final class SafetensorsFile implements AutoCloseable {

  /** The largest element count a {@code float[]} can hold. */
  private static final long MAX_FLOAT_ARRAY = Integer.MAX_VALUE;

  private final Path path;
  private final Arena arena;
  private final boolean unmappedByGc;      // an automatic arena: close() leaves it to the collector
  private final MemorySegment dataSection; // [dataSize] bytes after the header
  private final SafetensorsHeader header;
  private final Map<String, TensorInfo> byName;

  private SafetensorsFile(Path path, Arena arena, boolean unmappedByGc, MemorySegment dataSection,
      SafetensorsHeader header) {
    this.path = path;
    this.arena = arena;
    this.unmappedByGc = unmappedByGc;
    this.dataSection = dataSection;
    this.header = header;
    this.byName = new LinkedHashMap<>();
    for (TensorInfo tensor : header.tensors()) byName.put(tensor.name(), tensor);
  }

  /**
   * Maps and validates a safetensors file.
   *
   * @throws SafetensorsException if the file does not exist, or is truncated or corrupt (the message says
   *     how)
   * @throws IOException if the file cannot be read
   */
  public static SafetensorsFile open(Path path) throws IOException {
    return open(path, false);
  }

  /**
   * As {@link #open(Path)}; with {@code unmappedByGc} the mapping lives until the file object is
   * unreachable (an automatic arena; {@link #close} then does nothing), for weights read on demand.
   */
  public static SafetensorsFile open(Path path, boolean unmappedByGc) throws IOException {
    Arena arena = unmappedByGc ? Arena.ofAuto() : Arena.ofShared();
    try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
      MemorySegment whole = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
      SafetensorsHeader header = SafetensorsHeader.parse(path, whole);
      return new SafetensorsFile(path, arena, unmappedByGc, whole.asSlice(header.dataStart()), header);
    } catch (NoSuchFileException e) {
      if (!unmappedByGc) arena.close();
      throw new SafetensorsException(path, "cannot open " + path + ": no such file", e);
    } catch (Throwable e) {
      if (!unmappedByGc) arena.close();
      throw e;
    }
  }

  /** The file's path, as given to {@link #open}. */
  public Path path() {
    return path;
  }

  /** The header's {@code __metadata__} (empty if it has none), unmodifiable, in header order. */
  public Map<String, String> metadata() {
    return header.metadata();
  }

  /** Every tensor, in file order (by position of the data), unmodifiable. */
  public List<TensorInfo> tensors() {
    return header.tensors();
  }

  /** Whether the file holds a tensor of this name. */
  public boolean has(String name) {
    return byName.containsKey(name);
  }

  /**
   * The header entry of a tensor.
   *
   * @throws SafetensorsException if the file holds no tensor of that name
   */
  public TensorInfo info(String name) throws SafetensorsException {
    TensorInfo tensor = byName.get(name);
    if (tensor == null) throw new SafetensorsException(path, "tensor " + name + " missing from " + path);
    return tensor;
  }

  /**
   * The raw little-endian bytes of a tensor: a read-only slice of the mapping, valid until {@link #close}.
   *
   * @throws SafetensorsException if the file holds no tensor of that name
   */
  public MemorySegment data(String name) throws SafetensorsException {
    return slice(info(name));
  }

  /**
   * A tensor's elements converted to float.
   *
   * @throws SafetensorsException if the tensor is missing, its dtype is not F32, F16 or BF16, or it has
   *     more elements than a {@code float[]} holds
   */
  public float[] readFloats(String name) throws SafetensorsException {
    TensorInfo tensor = info(name);
    int count = floatCount(tensor);
    float[] values = new float[count];
    FloatFormats.toFloats(slice(tensor), tensor.dtype(), values, 0, count);
    return values;
  }

  /**
   * A tensor's elements converted to float, after checking its shape.
   *
   * @param expectedShape the shape the caller requires; no dimensions means a scalar
   * @throws SafetensorsException as {@link #readFloats(String)}, or if the shape differs
   */
  public float[] readFloats(String name, long... expectedShape) throws SafetensorsException {
    checkFloats(name, expectedShape);
    return readFloats(name);
  }

  /**
   * Checks, without reading it, that a tensor exists, has the expected shape and converts to a
   * {@code float[]}: what {@link #readFloats(String, long...)} would reject.
   */
  public void checkFloats(String name, long... expectedShape) throws SafetensorsException {
    TensorInfo tensor = info(name);
    long[] shape = tensor.shape();
    if (!Arrays.equals(shape, expectedShape)) {
      throw new SafetensorsException(path, "tensor " + name + " in " + path + " has shape " + Shapes.format(shape)
          + ", expected " + Shapes.format(expectedShape));
    }
    floatCount(tensor);
  }

  /**
   * Converts a tensor's elements to float into {@code dst[dstOffset .. dstOffset + numel)}.
   *
   * @throws SafetensorsException as {@link #readFloats(String)}
   * @throws IllegalArgumentException if {@code dst} has no room for the tensor from {@code dstOffset}
   */
  public void readFloats(String name, float[] dst, int dstOffset) throws SafetensorsException {
    TensorInfo tensor = info(name);
    int count = floatCount(tensor);
    if (dstOffset < 0 || dstOffset > dst.length || dst.length - dstOffset < count) {
      throw new IllegalArgumentException("tensor " + name + " in " + path + " has " + count
          + " elements, but the destination (length " + dst.length + ") has no room for them from offset "
          + dstOffset);
    }
    FloatFormats.toFloats(slice(tensor), tensor.dtype(), dst, dstOffset, count);
  }

  /** Unmaps the file. Calling it again does nothing. */
  @Override
  public void close() {
    if (!unmappedByGc && arena.scope().isAlive()) arena.close();
  }

  @Override
  public String toString() {
    return "SafetensorsFile[" + path + ", " + header.tensors().size() + " tensors]";
  }

  private MemorySegment slice(TensorInfo tensor) {
    if (!arena.scope().isAlive()) throw new IllegalStateException(path + " is closed");
    return dataSection.asSlice(tensor.begin(), tensor.byteSize());
  }

  private int floatCount(TensorInfo tensor) throws SafetensorsException {
    if (!tensor.dtype().convertsToFloat()) {
      throw new SafetensorsException(path, "tensor " + tensor.name() + " in " + path + " has dtype "
          + tensor.dtype() + "; model weights must be F32, F16 or BF16");
    }
    long numel = tensor.numel();
    if (numel > MAX_FLOAT_ARRAY) {
      throw new SafetensorsException(path, "tensor " + tensor.name() + " in " + path + " has " + numel
          + " elements, more than the " + MAX_FLOAT_ARRAY + " a Java float[] can hold; this engine cannot load"
          + " a tensor that large");
    }
    return (int) numel;
  }
}
