package dev.tandem.io.gguf;

import dev.tandem.io.DType;
import dev.tandem.io.FloatFormats;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF file (llama.cpp's model format, versions 2 and 3), memory-mapped read-only through the FFM
 * API and validated on {@link #open}: every length, count and offset in the header is checked
 * against the file's size before it is used, so a corrupt or truncated file is a
 * {@link GgufException} naming the file and the problem, never a crash or a huge allocation.
 *
 * <p>Layout (little-endian): magic {@code "GGUF"}, u32 version, u64 tensor count, u64 metadata
 * count, the metadata key/value pairs, the tensor infos (name, u32 rank, u64 dims innermost first,
 * u32 ggml type, u64 offset), padding to {@code general.alignment} (default 32), the data section.
 */
public final class GgufFile implements AutoCloseable {
  public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
  public static final int DEFAULT_ALIGNMENT = 32;
  static final int MAX_DIMS = 4;

  private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final int version;
  private final Map<String, GgufValue> metadata;
  private final Map<String, GgufTensorInfo> tensors;
  private final long alignment;
  private final MemorySegment data; // the data section

  private GgufFile(Path path, Arena arena, int version, Map<String, GgufValue> metadata,
      Map<String, GgufTensorInfo> tensors, long alignment, MemorySegment data) {
    this.path = path;
    this.arena = arena;
    this.version = version;
    this.metadata = Collections.unmodifiableMap(metadata);
    this.tensors = Collections.unmodifiableMap(tensors);
    this.alignment = alignment;
    this.data = data;
  }

  /**
   * Maps and validates a GGUF file.
   *
   * @throws GgufException if the file is missing, not GGUF, of an unsupported version, or corrupt or
   *     truncated (the message says where)
   */
  public static GgufFile open(Path path) throws IOException {
    return open(path, false);
  }

  /**
   * As {@link #open(Path)}; with {@code unmappedByGc} the mapping lives until every slice of it
   * ({@link #data}) is unreachable (an automatic arena; {@link #close} then does nothing): the weights
   * of a model kept in their stored format are such slices.
   */
  public static GgufFile open(Path path, boolean unmappedByGc) throws IOException {
    Arena arena = unmappedByGc ? Arena.ofAuto() : Arena.ofShared();
    try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
      MemorySegment whole = channel.size() == 0 ? MemorySegment.ofArray(new byte[0])
          : channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
      return parse(path, arena, whole);
    } catch (NoSuchFileException e) {
      if (!unmappedByGc) arena.close();
      throw new GgufException(path, "no such file", e);
    } catch (Throwable e) {
      if (!unmappedByGc) arena.close();
      throw e;
    }
  }

  private static GgufFile parse(Path path, Arena arena, MemorySegment whole) throws GgufException {
    Cursor in = new Cursor(path, whole);
    if (whole.byteSize() < 4) {
      throw new GgufException(path, "not a GGUF file: " + whole.byteSize() + " bytes, too short for the magic");
    }
    int magic = whole.get(U32, 0);
    if (magic != MAGIC) {
      throw new GgufException(path, String.format("bad magic: not a GGUF file (expected the bytes 'GGUF', found %02X %02X"
          + " %02X %02X)", magic & 0xFF, (magic >> 8) & 0xFF, (magic >> 16) & 0xFF, (magic >>> 24) & 0xFF));
    }
    in.pos = 4;
    long version = in.u32("the version");
    if (version != 2 && version != 3) {
      throw new GgufException(path, "unsupported GGUF version " + version + " (supported: 2 and 3)");
    }
    long tensorCount = in.u64("the tensor count");
    long kvCount = in.u64("the metadata count");
    // The smallest tensor info is 24 bytes (name length, rank, type, offset); the smallest pair 13.
    if (Long.compareUnsigned(kvCount, in.remaining() / 13) > 0) {
      throw new GgufException(path, "metadata count " + Long.toUnsignedString(kvCount) + " is beyond the file: "
          + in.remaining() + " bytes remain after the header, at least 13 per key/value pair");
    }
    if (Long.compareUnsigned(tensorCount, in.remaining() / 24) > 0) {
      throw new GgufException(path, "tensor count " + Long.toUnsignedString(tensorCount) + " is beyond the file: "
          + in.remaining() + " bytes remain after the header, at least 24 per tensor");
    }
    Map<String, GgufValue> metadata = new LinkedHashMap<>();
    for (long i = 0; i < kvCount; i++) {
      String key = in.string("key of metadata entry " + i);
      long typeId = in.u32("the type of metadata " + key);
      GgufValueType type = GgufValueType.of(typeId);
      if (type == null) throw new GgufException(path, "metadata " + key + " has unknown value type " + typeId);
      GgufValue value = in.value(type, key, 0);
      if (metadata.put(key, value) != null) throw new GgufException(path, "metadata key " + key + " appears twice");
    }
    long alignment = DEFAULT_ALIGNMENT;
    GgufValue a = metadata.get("general.alignment");
    if (a != null) {
      if (!a.type().isInteger() || (long) a.value() <= 0 || Long.bitCount((long) a.value()) != 1) {
        throw new GgufException(path, "general.alignment must be a power of two, got " + a);
      }
      alignment = (long) a.value();
    }
    Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
    for (long i = 0; i < tensorCount; i++) {
      String name = in.string("name of tensor " + i);
      long rank = in.u32("the rank of tensor " + name);
      if (rank > MAX_DIMS) {
        throw new GgufException(path, "tensor " + name + " has " + rank + " dimensions (at most " + MAX_DIMS + ")");
      }
      long[] dims = new long[(int) rank];
      for (int d = 0; d < rank; d++) {
        dims[d] = in.u64("dimension " + d + " of tensor " + name);
        if (dims[d] < 0 || dims[d] > (1L << 48)) {
          throw new GgufException(path, "tensor " + name + " has dimension " + Long.toUnsignedString(dims[d]));
        }
      }
      long typeId = in.u32("the type of tensor " + name);
      GgufTensorType type = GgufTensorType.of(typeId);
      if (type == null) {
        throw new GgufException(path, "tensor " + name + " has ggml type " + typeId + ", which is not supported"
            + " (supported: F32, F16, BF16, Q8_0)");
      }
      long offset = in.u64("the offset of tensor " + name);
      GgufTensorInfo info = new GgufTensorInfo(name, dims, type, offset);
      long numel;
      try {
        numel = info.numel();
      } catch (ArithmeticException e) {
        throw new GgufException(path, "tensor " + name + " has too many elements");
      }
      if (dims.length > 0 && dims[0] % type.blockSize() != 0) {
        throw new GgufException(path, "tensor " + name + " of type " + type + " has a row of " + dims[0]
            + " elements, not a multiple of its block size " + type.blockSize());
      }
      if (offset < 0 || offset % alignment != 0) {
        throw new GgufException(path, "tensor " + name + " has offset " + Long.toUnsignedString(offset)
            + ", not a multiple of the alignment " + alignment);
      }
      if (numel > (1L << 50)) throw new GgufException(path, "tensor " + name + " has too many elements");
      if (tensors.put(name, info) != null) throw new GgufException(path, "tensor " + name + " appears twice");
    }
    long dataStart = (in.pos + alignment - 1) / alignment * alignment;
    long dataSize = Math.max(0, whole.byteSize() - dataStart);
    for (GgufTensorInfo t : tensors.values()) {
      long end = t.offset() + t.byteSize();
      if (end > dataSize || end < 0) {
        throw new GgufException(path, "truncated tensor data: tensor " + t.name() + " needs bytes [" + t.offset()
            + ", " + end + ") of the data section, which has " + dataSize + " bytes (from file offset " + dataStart
            + ")");
      }
    }
    MemorySegment data = whole.asSlice(Math.min(dataStart, whole.byteSize()));
    return new GgufFile(path, arena, (int) version, metadata, tensors, alignment, data);
  }

  /** Reads the header fields one by one, checking each against the bytes that remain. */
  private static final class Cursor {
    final Path path;
    final MemorySegment seg;
    long pos;

    Cursor(Path path, MemorySegment seg) {
      this.path = path;
      this.seg = seg;
    }

    long remaining() {
      return seg.byteSize() - pos;
    }

    void need(long bytes, String what) throws GgufException {
      if (bytes < 0 || bytes > remaining()) {
        throw new GgufException(path, "truncated header: " + what + " needs " + Long.toUnsignedString(bytes)
            + " bytes at offset " + pos + ", beyond the end of the file (size " + seg.byteSize() + ")");
      }
    }

    long u32(String what) throws GgufException {
      need(4, what);
      long v = seg.get(U32, pos) & 0xFFFFFFFFL;
      pos += 4;
      return v;
    }

    long u64(String what) throws GgufException {
      need(8, what);
      long v = seg.get(U64, pos);
      pos += 8;
      return v;
    }

    String string(String what) throws GgufException {
      long at = pos;
      long length = u64("the length of " + what);
      if (length < 0 || length > remaining()) {
        throw new GgufException(path, "string length " + Long.toUnsignedString(length) + " of " + what + " (at offset "
            + at + ") is beyond the file: " + remaining() + " bytes remain");
      }
      byte[] bytes = seg.asSlice(pos, length).toArray(ValueLayout.JAVA_BYTE);
      pos += length;
      return new String(bytes, StandardCharsets.UTF_8);
    }

    GgufValue value(GgufValueType type, String key, int depth) throws GgufException {
      return switch (type) {
        case UINT8 -> scalar(type, seg.get(ValueLayout.JAVA_BYTE, check(1, key)) & 0xFFL);
        case INT8 -> scalar(type, (long) seg.get(ValueLayout.JAVA_BYTE, check(1, key)));
        case UINT16 -> scalar(type, seg.get(U16, check(2, key)) & 0xFFFFL);
        case INT16 -> scalar(type, (long) seg.get(U16, check(2, key)));
        case UINT32 -> scalar(type, seg.get(U32, check(4, key)) & 0xFFFFFFFFL);
        case INT32 -> scalar(type, (long) seg.get(U32, check(4, key)));
        case UINT64, INT64 -> scalar(type, seg.get(U64, check(8, key)));
        case FLOAT32 -> new GgufValue(type, null, Float.intBitsToFloat(seg.get(U32, check(4, key))));
        case FLOAT64 -> new GgufValue(type, null, Double.longBitsToDouble(seg.get(U64, check(8, key))));
        case BOOL -> new GgufValue(type, null, seg.get(ValueLayout.JAVA_BYTE, check(1, key)) != 0);
        case STRING -> new GgufValue(type, null, string("the value of " + key));
        case ARRAY -> array(key, depth);
      };
    }

    private long check(int bytes, String key) throws GgufException {
      need(bytes, "the value of " + key);
      long at = pos;
      pos += bytes;
      return at;
    }

    private static GgufValue scalar(GgufValueType type, long v) {
      return new GgufValue(type, null, v);
    }

    private GgufValue array(String key, int depth) throws GgufException {
      if (depth > 8) throw new GgufException(path, "metadata " + key + " nests arrays more than 8 deep");
      long typeId = u32("the element type of " + key);
      GgufValueType element = GgufValueType.of(typeId);
      if (element == null) throw new GgufException(path, "metadata " + key + " is an array of unknown type " + typeId);
      long count = u64("the length of " + key);
      if (count < 0 || count > remaining() / element.minBytes() || count > Integer.MAX_VALUE - 16) {
        throw new GgufException(path, "array length " + Long.toUnsignedString(count) + " of " + key
            + " is beyond the file: " + remaining() + " bytes remain, at least " + element.minBytes() + " per element");
      }
      int n = (int) count;
      Object values = switch (element) {
        case STRING -> {
          String[] a = new String[n];
          for (int i = 0; i < n; i++) a[i] = string("element " + i + " of " + key);
          yield a;
        }
        case FLOAT32 -> {
          float[] a = new float[n];
          for (int i = 0; i < n; i++) a[i] = (float) value(element, key, depth).value();
          yield a;
        }
        case FLOAT64 -> {
          double[] a = new double[n];
          for (int i = 0; i < n; i++) a[i] = (double) value(element, key, depth).value();
          yield a;
        }
        case BOOL -> {
          boolean[] a = new boolean[n];
          for (int i = 0; i < n; i++) a[i] = (boolean) value(element, key, depth).value();
          yield a;
        }
        case ARRAY -> {
          GgufValue[] a = new GgufValue[n];
          for (int i = 0; i < n; i++) a[i] = array(key, depth + 1);
          yield a;
        }
        default -> {
          long[] a = new long[n];
          for (int i = 0; i < n; i++) a[i] = (long) value(element, key, depth).value();
          yield a;
        }
      };
      return new GgufValue(GgufValueType.ARRAY, element, values);
    }
  }

  public Path path() {
    return path;
  }

  public int version() {
    return version;
  }

  public long alignment() {
    return alignment;
  }

  /** Every metadata entry, in file order, unmodifiable. */
  public Map<String, GgufValue> metadata() {
    return metadata;
  }

  /** Every tensor, in file order. */
  public List<GgufTensorInfo> tensors() {
    return List.copyOf(tensors.values());
  }

  public boolean has(String tensorName) {
    return tensors.containsKey(tensorName);
  }

  public GgufTensorInfo tensor(String name) throws GgufException {
    GgufTensorInfo t = tensors.get(name);
    if (t == null) throw new GgufException(path, "tensor " + name + " is missing");
    return t;
  }

  public Optional<GgufValue> value(String key) {
    return Optional.ofNullable(metadata.get(key));
  }

  /** A string entry, or empty when the key is absent. */
  public Optional<String> string(String key) throws GgufException {
    GgufValue v = metadata.get(key);
    if (v == null) return Optional.empty();
    if (v.type() != GgufValueType.STRING) throw new GgufException(path, "metadata " + key + " is " + v + ", not a string");
    return Optional.of((String) v.value());
  }

  /** An integer entry of any integer type, or empty when the key is absent. */
  public Optional<Long> integer(String key) throws GgufException {
    GgufValue v = metadata.get(key);
    if (v == null) return Optional.empty();
    if (!v.type().isInteger()) throw new GgufException(path, "metadata " + key + " is " + v + ", not an integer");
    return Optional.of((Long) v.value());
  }

  /**
   * A FLOAT32 or FLOAT64 entry (or an integer one), or empty when the key is absent. A FLOAT32 is
   * returned as the shortest decimal that rounds to it (1e-5f gives 1e-5, not 9.99999974e-6), which is
   * what the value was before it was stored as fp32.
   */
  public Optional<Double> number(String key) throws GgufException {
    GgufValue v = metadata.get(key);
    if (v == null) return Optional.empty();
    return Optional.of(switch (v.value()) {
      case Float f -> Double.parseDouble(Float.toString(f));
      case Double d -> d;
      case Long l when v.type().isInteger() -> (double) l;
      default -> throw new GgufException(path, "metadata " + key + " is " + v + ", not a number");
    });
  }

  public Optional<Boolean> bool(String key) throws GgufException {
    GgufValue v = metadata.get(key);
    if (v == null) return Optional.empty();
    if (v.type() != GgufValueType.BOOL) throw new GgufException(path, "metadata " + key + " is " + v + ", not a bool");
    return Optional.of((Boolean) v.value());
  }

  /** An integer entry that must be present. */
  public long requireInteger(String key) throws GgufException {
    return integer(key).orElseThrow(() -> new GgufException(path, "metadata " + key + " is missing"));
  }

  /** The raw bytes of a tensor: a read-only slice of the mapping, valid until {@link #close}. */
  public MemorySegment data(String name) throws GgufException {
    GgufTensorInfo t = tensor(name);
    if (!arena.scope().isAlive()) throw new IllegalStateException(path + " is closed");
    return data.asSlice(t.offset(), t.byteSize());
  }

  /** A tensor's elements as fp32 (F32, F16 and BF16 converted exactly; quantized types dequantized). */
  public float[] readFloats(String name) throws GgufException {
    GgufTensorInfo t = tensor(name);
    long numel = t.numel();
    if (numel > Integer.MAX_VALUE - 16) {
      throw new GgufException(path, "tensor " + name + " has " + numel + " elements, more than a Java array holds");
    }
    MemorySegment bytes = data(name);
    float[] out = new float[(int) numel];
    switch (t.type()) {
      case F32 -> FloatFormats.toFloats(bytes, DType.F32, out, 0, out.length);
      case F16 -> FloatFormats.toFloats(bytes, DType.F16, out, 0, out.length);
      case BF16 -> FloatFormats.toFloats(bytes, DType.BF16, out, 0, out.length);
      default -> dev.tandem.io.quant.Dequantize.row(t.type(), bytes, 0, out.length, out, 0);
    }
    return out;
  }

  /** Unmaps the file. Calling it again does nothing. */
  @Override
  public void close() {
    if (arena.scope().isAlive()) {
      try {
        arena.close();
      } catch (UnsupportedOperationException automatic) {
        // an automatic arena (unmappedByGc): the collector unmaps it
      }
    }
  }

  @Override
  public String toString() {
    return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
  }
}
