package dev.tandem.io.gguf;

import dev.tandem.io.DType;
import dev.tandem.io.FloatFormats;
import dev.tandem.util.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Builds a GGUF version 3 file: metadata in the order it was put, tensors in the order they were
 * added, each tensor's data aligned to {@code general.alignment} (32 unless that key is set). The
 * writer keeps references to the arrays and segments it is given and reads them in {@link #write},
 * which streams to a temporary file in the target's directory, forces it to disk and moves it over
 * the target atomically.
 */
public final class GgufWriter {
  private static final int CHUNK_BYTES = 1 << 20;

  private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
  private final Map<String, Entry> tensors = new LinkedHashMap<>();

  private record Entry(GgufTensorType type, long[] dims, long byteSize, Object payload) {}

  /** Sets a metadata entry (a later put of the same key replaces the value, keeping its place). */
  public GgufWriter put(String key, GgufValue value) {
    metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
    return this;
  }

  /**
   * Adds a tensor given as floats, stored as F32, F16 or BF16 (rounded to nearest even), or
   * quantized (Q8_0, Q4_0, Q4_K, Q6_K; {@link dev.tandem.io.quant.Quantize}) row by row.
   *
   * @param shape outermost first (as safetensors writes it); stored reversed as ggml dims
   */
  public GgufWriter add(String name, GgufTensorType type, long[] shape, float[] values) {
    long numel = numel(name, shape);
    if (type.quantized()) {
      int cols = shape.length == 0 ? 1 : (int) shape[shape.length - 1];
      if (cols % type.blockSize() != 0) {
        throw new IllegalArgumentException("tensor " + name + ": rows of " + cols + " weights cannot be " + type
            + " (blocks of " + type.blockSize() + ")");
      }
      if (values.length != numel) {
        throw new IllegalArgumentException("tensor " + name + ": shape has " + numel + " elements, " + values.length + " given");
      }
      byte[] bytes = dev.tandem.io.quant.Quantize.matrix(type, values, (int) (numel / cols), cols);
      return addRaw(name, type, shape, MemorySegment.ofArray(bytes));
    }
    if (values.length != numel) {
      throw new IllegalArgumentException("tensor " + name + ": shape has " + numel + " elements, " + values.length + " given");
    }
    return put(name, type, shape, type.byteSize(numel), values);
  }

  /** Adds a tensor given as its raw little-endian bytes of {@code type}, stored unchanged. */
  public GgufWriter addRaw(String name, GgufTensorType type, long[] shape, MemorySegment bytes) {
    long numel = numel(name, shape);
    if (shape.length > 0 && shape[shape.length - 1] % type.blockSize() != 0) {
      throw new IllegalArgumentException("tensor " + name + ": rows must be a multiple of " + type.blockSize());
    }
    long size = type.byteSize(numel);
    if (bytes.byteSize() != size) {
      throw new IllegalArgumentException("tensor " + name + ": " + type + " " + java.util.Arrays.toString(shape)
          + " needs " + size + " bytes, " + bytes.byteSize() + " given");
    }
    return put(name, type, shape, size, bytes);
  }

  private GgufWriter put(String name, GgufTensorType type, long[] shape, long byteSize, Object payload) {
    if (shape.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException("tensor " + name + " has more than 4 dims");
    long[] dims = new long[shape.length];
    for (int i = 0; i < shape.length; i++) dims[i] = shape[shape.length - 1 - i];
    if (tensors.putIfAbsent(name, new Entry(type, dims, byteSize, payload)) != null) {
      throw new IllegalArgumentException("duplicate tensor name " + name);
    }
    return this;
  }

  private static long numel(String name, long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) throw new IllegalArgumentException("tensor " + name + ": negative dimension");
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  private long alignment() {
    GgufValue a = metadata.get("general.alignment");
    if (a == null) return GgufFile.DEFAULT_ALIGNMENT;
    if (!a.type().isInteger() || Long.bitCount((long) a.value()) != 1) {
      throw new IllegalArgumentException("general.alignment must be a power of two, got " + a);
    }
    return (long) a.value();
  }

  /** Writes the file atomically. */
  public void write(Path file) throws IOException {
    long alignment = alignment();
    byte[] header = header(alignment);
    Path target = file.toAbsolutePath();
    Path temp = AtomicFiles.temporaryFor(target, false);
    try {
      try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE);
          Arena arena = Arena.ofConfined()) {
        writeFully(ch, ByteBuffer.wrap(header));
        long written = header.length;
        MemorySegment chunk = arena.allocate(CHUNK_BYTES);
        for (Entry e : tensors.values()) {
          writeData(ch, e, chunk);
          written += e.byteSize();
          long pad = (alignment - written % alignment) % alignment;
          writeFully(ch, ByteBuffer.allocate((int) pad));
          written += pad;
        }
        ch.force(true);
      }
      AtomicFiles.makeWorldReadable(temp);
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /** Everything before the data section, padded to the alignment. */
  private byte[] header(long alignment) {
    Out out = new Out();
    out.u32(GgufFile.MAGIC);
    out.u32(3);
    out.u64(tensors.size());
    out.u64(metadata.size());
    metadata.forEach((key, value) -> {
      out.string(key);
      out.u32(value.type().id());
      out.value(value);
    });
    long offset = 0;
    for (Map.Entry<String, Entry> t : tensors.entrySet()) {
      Entry e = t.getValue();
      out.string(t.getKey());
      out.u32(e.dims().length);
      for (long d : e.dims()) out.u64(d);
      out.u32(e.type().id());
      out.u64(offset);
      offset += (e.byteSize() + alignment - 1) / alignment * alignment;
    }
    while (out.size() % alignment != 0) out.write(0);
    return out.toByteArray();
  }

  private static void writeData(FileChannel ch, Entry e, MemorySegment chunk) throws IOException {
    switch (e.payload()) {
      case float[] values -> {
        DType dtype = switch (e.type()) {
          case F32 -> DType.F32;
          case F16 -> DType.F16;
          case BF16 -> DType.BF16;
          default -> throw new AssertionError(e.type());
        };
        int per = CHUNK_BYTES / dtype.byteSize();
        for (int from = 0; from < values.length; from += per) {
          int count = Math.min(per, values.length - from);
          FloatFormats.fromFloats(values, from, count, dtype, chunk);
          writeFully(ch, chunk.asSlice(0, (long) count * dtype.byteSize()).asByteBuffer());
        }
      }
      case MemorySegment bytes -> {
        for (long from = 0; from < bytes.byteSize(); from += CHUNK_BYTES) {
          long count = Math.min(CHUNK_BYTES, bytes.byteSize() - from);
          MemorySegment.copy(bytes, from, chunk, 0, count);
          writeFully(ch, chunk.asSlice(0, count).asByteBuffer());
        }
      }
      default -> throw new AssertionError(e.payload());
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) ch.write(b);
  }

  /** A little-endian byte sink for the header. */
  private static final class Out extends ByteArrayOutputStream {
    private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

    void u32(long v) {
      scratch.clear();
      scratch.putInt((int) v);
      write(scratch.array(), 0, 4);
    }

    void u64(long v) {
      scratch.clear();
      scratch.putLong(v);
      write(scratch.array(), 0, 8);
    }

    void string(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      u64(b.length);
      write(b, 0, b.length);
    }

    void value(GgufValue v) {
      if (v.type() == GgufValueType.ARRAY) {
        array(v);
        return;
      }
      scalar(v.type(), v.value());
    }

    private void scalar(GgufValueType type, Object value) {
      switch (type) {
        case UINT8, INT8 -> write((int) (long) (Long) value);
        case UINT16, INT16 -> {
          long l = (Long) value;
          write((int) (l & 0xFF));
          write((int) ((l >> 8) & 0xFF));
        }
        case UINT32, INT32 -> u32((Long) value);
        case UINT64, INT64 -> u64((Long) value);
        case FLOAT32 -> u32(Float.floatToRawIntBits((Float) value));
        case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) value));
        case BOOL -> write((Boolean) value ? 1 : 0);
        case STRING -> string((String) value);
        case ARRAY -> throw new AssertionError();
      }
    }

    private void array(GgufValue v) {
      u32(v.elementType().id());
      u64(v.length());
      switch (v.value()) {
        case String[] a -> { for (String s : a) string(s); }
        case float[] a -> { for (float f : a) u32(Float.floatToRawIntBits(f)); }
        case double[] a -> { for (double d : a) u64(Double.doubleToRawLongBits(d)); }
        case boolean[] a -> { for (boolean b : a) write(b ? 1 : 0); }
        case long[] a -> { for (long l : a) scalar(v.elementType(), l); }
        case GgufValue[] a -> { for (GgufValue x : a) array(x); }
        default -> throw new AssertionError(v.value());
      }
    }
  }
}
