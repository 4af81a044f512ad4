package dev.tandem.io.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GGUF writer and reader: every value type round-trips; each kind of corrupt file is a clear error. */
class GgufFileTest {
  @TempDir Path dir;

  private static final float[] MATRIX = {1, -2, 3.5f, 4, 5, 6}; // [2][3]

  private Path writeSample(String name) throws IOException {
    GgufWriter w = new GgufWriter();
    w.put("general.architecture", GgufValue.string("llama"));
    w.put("u8", new GgufValue(GgufValueType.UINT8, null, 200L));
    w.put("i8", new GgufValue(GgufValueType.INT8, null, -5L));
    w.put("u16", new GgufValue(GgufValueType.UINT16, null, 60000L));
    w.put("i16", new GgufValue(GgufValueType.INT16, null, -300L));
    w.put("u32", GgufValue.u32(4_000_000_000L));
    w.put("i32", GgufValue.i32(-7));
    w.put("u64", GgufValue.u64(1L << 40));
    w.put("i64", new GgufValue(GgufValueType.INT64, null, -(1L << 40)));
    w.put("f32", GgufValue.f32(0.25f));
    w.put("f64", new GgufValue(GgufValueType.FLOAT64, null, Math.PI));
    w.put("bool", GgufValue.bool(true));
    w.put("strings", GgufValue.strings("a", "\u00e4\u2581\uD83E\uDD99", ""));
    w.put("floats", GgufValue.f32s(1.5f, -2f));
    w.put("ints", GgufValue.i32s(3, -4, 5));
    w.put("bools", new GgufValue(GgufValueType.ARRAY, GgufValueType.BOOL, new boolean[] {true, false}));
    w.put("nested", new GgufValue(GgufValueType.ARRAY, GgufValueType.ARRAY,
        new GgufValue[] {GgufValue.strings("x"), GgufValue.f32s(2f)}));
    w.add("matrix", GgufTensorType.F32, new long[] {2, 3}, MATRIX);
    w.add("half", GgufTensorType.F16, new long[] {3}, new float[] {1, 2, 3});
    w.add("brain", GgufTensorType.BF16, new long[] {2, 3}, MATRIX);
    Path file = dir.resolve(name);
    w.write(file);
    return file;
  }

  @Test
  void everyValueTypeAndTensorRoundTrips() throws IOException {
    Path file = writeSample("sample.gguf");
    try (GgufFile f = GgufFile.open(file)) {
      assertThat(f.version()).isEqualTo(3);
      Map<String, GgufValue> m = f.metadata();
      assertThat(m.keySet()).startsWith("general.architecture", "u8", "i8", "u16");
      assertThat(m.get("u8").value()).isEqualTo(200L);
      assertThat(m.get("i8").value()).isEqualTo(-5L);
      assertThat(m.get("u16").value()).isEqualTo(60000L);
      assertThat(m.get("i16").value()).isEqualTo(-300L);
      assertThat(m.get("u32").value()).isEqualTo(4_000_000_000L);
      assertThat(m.get("i32").value()).isEqualTo(-7L);
      assertThat(m.get("u64").value()).isEqualTo(1L << 40);
      assertThat(m.get("i64").value()).isEqualTo(-(1L << 40));
      assertThat(f.number("f32")).hasValue(0.25);
      assertThat(f.number("f64")).hasValue(Math.PI);
      assertThat(f.bool("bool")).hasValue(true);
      assertThat((String[]) m.get("strings").value()).containsExactly("a", "\u00e4\u2581\uD83E\uDD99", "");
      assertThat(m.get("floats")).isEqualTo(GgufValue.f32s(1.5f, -2f));
      assertThat(m.get("ints")).isEqualTo(GgufValue.i32s(3, -4, 5));
      assertThat((boolean[]) m.get("bools").value()).containsExactly(true, false);
      assertThat(m.get("nested").length()).isEqualTo(2);
      GgufTensorInfo matrix = f.tensor("matrix");
      assertThat(matrix.dims()).containsExactly(3, 2);
      assertThat(matrix.shape()).containsExactly(2, 3);
      assertThat(f.readFloats("matrix")).containsExactly(MATRIX);
      assertThat(f.readFloats("half")).containsExactly(1, 2, 3);
      assertThat(f.readFloats("brain")).containsExactly(MATRIX);
      for (GgufTensorInfo t : f.tensors()) assertThat(t.offset() % 32).isZero();
    }
    // Written again from what was read: the same bytes.
    Path again = dir.resolve("again.gguf");
    try (GgufFile f = GgufFile.open(file)) {
      GgufWriter w = new GgufWriter();
      f.metadata().forEach(w::put);
      for (GgufTensorInfo t : f.tensors()) w.addRaw(t.name(), t.type(), t.shape(), f.data(t.name()));
      w.write(again);
    }
    assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(file));
  }

  @Test
  void q8ZeroIsDequantized() throws IOException {
    // One block: scale 0.5 (fp16 0x3800), then 32 int8 values -16..15.
    ByteBuffer block = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN);
    block.putShort((short) 0x3800);
    for (int i = 0; i < 32; i++) block.put((byte) (i - 16));
    GgufWriter w = new GgufWriter();
    w.addRaw("q", GgufTensorType.Q8_0, new long[] {32}, MemorySegment.ofArray(block.array()));
    Path file = dir.resolve("q8.gguf");
    w.write(file);
    try (GgufFile f = GgufFile.open(file)) {
      float[] v = f.readFloats("q");
      for (int i = 0; i < 32; i++) assertThat(v[i]).isEqualTo(0.5f * (i - 16));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Corrupt files

  private Path corrupt(String name, byte[] bytes) throws IOException {
    Path file = dir.resolve(name);
    Files.write(file, bytes);
    return file;
  }

  private static byte[] header(int version, long tensors, long kvs) {
    return ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).put(new byte[] {'G', 'G', 'U', 'F'})
        .putInt(version).putLong(tensors).putLong(kvs).array();
  }

  private static byte[] concat(byte[]... parts) {
    int n = Arrays.stream(parts).mapToInt(p -> p.length).sum();
    ByteBuffer b = ByteBuffer.allocate(n);
    for (byte[] p : parts) b.put(p);
    return b.array();
  }

  private void assertError(Path file, String... fragments) {
    var thrown = assertThatThrownBy(() -> GgufFile.open(file).close()).isInstanceOf(GgufException.class)
        .hasMessageContaining(file.toString());
    for (String f : fragments) thrown.hasMessageContaining(f);
  }

  @Test
  void badMagic() throws IOException {
    byte[] b = Files.readAllBytes(writeSample("ok.gguf"));
    b[0] = 'X';
    assertError(corrupt("magic.gguf", b), "bad magic", "58 47 55 46");
    assertError(corrupt("tiny.gguf", new byte[] {'G', 'G'}), "too short");
    assertError(corrupt("empty.gguf", new byte[0]), "too short");
  }

  @Test
  void unsupportedVersion() throws IOException {
    assertError(corrupt("v1.gguf", header(1, 0, 0)), "unsupported GGUF version 1");
    assertError(corrupt("v4.gguf", header(4, 0, 0)), "unsupported GGUF version 4");
  }

  @Test
  void countsBeyondTheFile() throws IOException {
    assertError(corrupt("tensors.gguf", header(3, 1_000_000, 0)), "tensor count 1000000 is beyond the file");
    assertError(corrupt("kvs.gguf", header(3, 0, -1)), "metadata count 18446744073709551615 is beyond the file");
  }

  @Test
  void stringLengthsBeyondTheFile() throws IOException {
    byte[] key = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array();
    assertError(corrupt("key.gguf", concat(header(3, 0, 1), key, new byte[8])), "string length 1099511627776",
        "beyond the file");
    // A string value whose length runs past the end.
    ByteBuffer kv = ByteBuffer.allocate(8 + 1 + 4 + 8 + 3).order(ByteOrder.LITTLE_ENDIAN);
    kv.putLong(1).put((byte) 'k').putInt(GgufValueType.STRING.id()).putLong(100).put(new byte[] {'a', 'b', 'c'});
    assertError(corrupt("value.gguf", concat(header(3, 0, 1), kv.array())), "string length 100", "the value of k");
    // An array whose element count cannot fit.
    ByteBuffer arr = ByteBuffer.allocate(8 + 1 + 4 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
    arr.putLong(1).put((byte) 'a').putInt(GgufValueType.ARRAY.id()).putInt(GgufValueType.UINT32.id()).putLong(1L << 33);
    assertError(corrupt("array.gguf", concat(header(3, 0, 1), arr.array())), "array length 8589934592", "of a");
  }

  @Test
  void truncatedHeaderAndData() throws IOException {
    byte[] ok = Files.readAllBytes(writeSample("ok.gguf"));
    assertError(corrupt("cut-counts.gguf", Arrays.copyOf(ok, 60)), "metadata count 17 is beyond the file");
    for (int cut = 4; cut < ok.length - 30; cut += 7) { // cut anywhere: header, metadata, tensor infos, data
      Path file = corrupt("cut.gguf", Arrays.copyOf(ok, cut));
      var thrown = assertThatThrownBy(() -> GgufFile.open(file).close()).as("cut at %d of %d", cut, ok.length)
          .isInstanceOf(GgufException.class);
      thrown.message().containsAnyOf("truncated header", "beyond the file", "truncated tensor data");
    }
    assertError(corrupt("cut-data.gguf", Arrays.copyOf(ok, ok.length - 21)), "truncated tensor data", "tensor brain");
  }

  @Test
  void unknownTensorTypeAndBadOffset() throws IOException {
    ByteBuffer t = ByteBuffer.allocate(8 + 1 + 4 + 8 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
    t.putLong(1).put((byte) 't').putInt(1).putLong(4).putInt(13).putLong(0); // ggml type 13 = Q5_K
    assertError(corrupt("q5k.gguf", concat(header(3, 1, 0), t.array(), new byte[64])), "tensor t has ggml type 13",
        "not supported");
    ByteBuffer u = ByteBuffer.allocate(8 + 1 + 4 + 8 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
    u.putLong(1).put((byte) 't').putInt(1).putLong(4).putInt(0).putLong(3);
    assertError(corrupt("offset.gguf", concat(header(3, 1, 0), u.array(), new byte[64])), "offset 3",
        "alignment 32");
  }

  /** A quantized tensor whose shape is not whole blocks, or whose bytes the file lacks, is named. */
  @Test
  void quantizedTensorWithWrongByteCount() throws IOException {
    ByteBuffer t = ByteBuffer.allocate(8 + 1 + 4 + 8 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
    t.putLong(1).put((byte) 't').putInt(1).putLong(100).putInt(12).putLong(0); // Q4_K, a row of 100
    assertError(corrupt("q4k-row.gguf", concat(header(3, 1, 0), t.array(), new byte[256])), "tensor t of type Q4_K",
        "block size 256");
    ByteBuffer u = ByteBuffer.allocate(8 + 1 + 4 + 8 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
    u.putLong(1).put((byte) 'u').putInt(1).putLong(512).putInt(14).putLong(0); // Q6_K [512]: 2 x 210 bytes
    assertError(corrupt("q6k-short.gguf", concat(header(3, 1, 0), u.array(), new byte[300])), "tensor u needs bytes [0, 420)");
  }

  @Test
  void missingFile() {
    Path missing = dir.resolve("nope.gguf");
    assertThatThrownBy(() -> GgufFile.open(missing)).isInstanceOf(GgufException.class).hasMessageContaining("nope.gguf");
  }
}
