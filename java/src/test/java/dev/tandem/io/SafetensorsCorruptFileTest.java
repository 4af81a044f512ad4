package dev.tandem.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each way a safetensors file can be broken, one test each: the right exception, naming file and problem. */
class SafetensorsCorruptFileTest {

  @TempDir Path dir;

  /** A file with this 8-byte header length, then {@code rest}. */
  private Path file(long headerLength, byte[] rest) throws IOException {
    Path file = dir.resolve("broken.safetensors");
    ByteBuffer bytes = ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN);
    bytes.putLong(headerLength).put(rest);
    Files.write(file, bytes.array());
    return file;
  }

  /** A file with this JSON header (exact length, no padding) and {@code dataBytes} zero bytes of data. */
  private Path file(String json, int dataBytes) throws IOException {
    byte[] header = json.getBytes(StandardCharsets.UTF_8);
    byte[] rest = new byte[header.length + dataBytes];
    System.arraycopy(header, 0, rest, 0, header.length);
    return file(header.length, rest);
  }

  /** Opening fails with a SafetensorsException whose message names the file and contains every phrase. */
  private static void assertOpenFails(Path file, String... phrases) {
    SafetensorsException e = catchThrowableOfType(SafetensorsException.class, () -> SafetensorsFile.open(file));
    assertThat(e).as("opening %s should fail", file).isNotNull();
    assertThat(e.file()).isEqualTo(file);
    assertThat(e.getMessage()).contains(file.toString());
    for (String phrase : phrases) assertThat(e.getMessage()).contains(phrase);
  }

  @Test
  void fileShorterThanTheHeaderLength() throws IOException {
    Path file = dir.resolve("short.safetensors");
    Files.write(file, new byte[] {1, 2, 3, 4, 5});
    assertOpenFails(file, "truncated", "5 bytes", "8-byte header length");
  }

  @Test
  void emptyFile() throws IOException {
    Path file = dir.resolve("empty.safetensors");
    Files.write(file, new byte[0]);
    assertOpenFails(file, "truncated", "0 bytes");
  }

  @Test
  void headerLengthBeyondTheEndOfTheFile() throws IOException {
    assertOpenFails(file(100, "{}".getBytes(StandardCharsets.UTF_8)), "truncated", "header of 100 bytes",
        "only 2 bytes follow");
  }

  @Test
  void absurdlyLargeHeaderLength() throws IOException {
    assertOpenFails(file(1L << 40, new byte[16]), "header of 1099511627776 bytes", "over the limit",
        "not a safetensors file");
  }

  @Test
  void headerLengthWithTheTopBitSet() throws IOException {
    assertOpenFails(file(-2, new byte[16]), "header of 18446744073709551614 bytes", "over the limit");
  }

  @Test
  void headerNotValidJson() throws IOException {
    assertOpenFails(file("{\"w\": {\"dtype\": \"F32\",", 0), "header", "not valid JSON");
  }

  @Test
  void headerWithTrailingGarbage() throws IOException {
    assertOpenFails(file("{} x", 0), "not valid JSON");
  }

  @Test
  void headerNotAnObject() throws IOException {
    assertOpenFails(file("[1, 2, 3]", 0), "must be a JSON object", "an array");
  }

  @Test
  void emptyHeader() throws IOException {
    assertOpenFails(file("", 0), "must be a JSON object", "nothing");
  }

  @Test
  void duplicateTensorName() throws IOException {
    String entry = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
    assertOpenFails(file("{\"w\":" + entry + ",\"w\":" + entry + "}", 4), "not valid JSON", "Duplicate", "w");
  }

  @Test
  void entryWithoutDtype() throws IOException {
    assertOpenFails(file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor w", "has no dtype");
  }

  @Test
  void entryWithoutShape() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor w", "has no shape");
  }

  @Test
  void entryWithoutDataOffsets() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor w", "has no data_offsets");
  }

  @Test
  void entryNotAnObject() throws IOException {
    assertOpenFails(file("{\"w\":[0,4]}", 4), "tensor w", "must be a JSON object", "an array");
  }

  @Test
  void dtypeNotAString() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
        "tensor w", "dtype 4", "a number", "must be a string");
  }

  @Test
  void shapeNotAnArray() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4),
        "tensor w", "a string", "must be an array of integers");
  }

  @Test
  void shapeWithANonIntegerDimension() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}}", 12),
        "tensor w", "[2,1.5]", "must be an integer");
  }

  @Test
  void dataOffsetsOfTheWrongType() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 4),
        "tensor w", "data_offsets", "[begin, end]");
  }

  @Test
  void metadataValueNotAString() throws IOException {
    assertOpenFails(file("{\"__metadata__\":{\"step\":5}}", 0), "__metadata__", "step", "a number",
        "strings to strings");
  }

  @Test
  void metadataNotAnObject() throws IOException {
    assertOpenFails(file("{\"__metadata__\":[\"a\"]}", 0), "__metadata__", "an array");
  }

  @Test
  void unknownDtype() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
        "tensor w", "unknown safetensors dtype \"Q4_K\"", "BF16");
  }

  @Test
  void negativeDimension() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24),
        "tensor w", "negative dimension", "[2, -3]");
  }

  @Test
  void dataOffsetsNotAPair() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4),
        "tensor w", "data_offsets [0]", "[begin, end]");
  }

  @Test
  void dataOffsetsBeginAfterEnd() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8),
        "tensor w", "data_offsets [8,4]", "begin <= end");
  }

  @Test
  void negativeDataOffset() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4),
        "tensor w", "non-negative");
  }

  @Test
  void tensorEndsBeyondTheDataSection() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 20),
        "truncated", "tensor w", "ends at byte 24", "only 20 bytes");
  }

  @Test
  void byteLengthNotNumelTimesByteSize() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24),
        "tensor w", "has 20 bytes", "F32", "[2, 3]", "need 24 bytes");
  }

  @Test
  void overlappingTensors() throws IOException {
    assertOpenFails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}", 28),
        "tensors a and b", "overlap", "[0, 16]", "[12, 28]");
  }

  @Test
  void tensorInsideAnotherOverlaps() throws IOException {
    assertOpenFails(file("{\"big\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
        + "\"mid\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
        + "\"end\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]}}", 36),
        "tensors big and mid", "overlap");
  }

  @Test
  void elementCountOverflowsALong() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4),
        "tensor w", "[4294967296, 4294967296]", "overflows 64 bits");
  }

  @Test
  void byteCountOverflowsALong() throws IOException {
    assertOpenFails(file("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8),
        "tensor w", "overflows 64 bits");
  }

  @Test
  void tensorTooLargeForAFloatArray() throws IOException {
    // 2^31 bf16 elements: 4 GiB of data, written as a sparse file (the data is never read).
    long numel = 1L << 31;
    String json = "{\"huge\":{\"dtype\":\"BF16\",\"shape\":[" + numel + "],\"data_offsets\":[0," + 2 * numel + "]}}";
    Path file = file(json, 0);
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.allocate(1), channel.size() + 2 * numel - 1);
    }
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThat(st.info("huge").numel()).isEqualTo(numel);
      SafetensorsException e = catchThrowableOfType(SafetensorsException.class, () -> st.readFloats("huge"));
      assertThat(e).isNotNull();
      assertThat(e.getMessage()).contains(file.toString(), "tensor huge", "2147483648 elements",
          "float[]", "cannot load a tensor that large").doesNotContain("data(");
    }
  }
}
