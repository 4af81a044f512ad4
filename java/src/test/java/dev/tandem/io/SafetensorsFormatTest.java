package dev.tandem.io;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer's output read back without our reader: the bytes are the standard Hugging Face layout. */
class SafetensorsFormatTest {

  @TempDir Path dir;

  /** The three parts of a safetensors file, split by hand: 8-byte little-endian length, JSON, data. */
  private record Parts(long headerLength, String header, byte[] data) {
    static Parts of(byte[] file) {
      long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      String header = new String(file, 8, (int) n, StandardCharsets.UTF_8);
      byte[] data = new byte[file.length - 8 - (int) n];
      System.arraycopy(file, 8 + (int) n, data, 0, data.length);
      return new Parts(n, header, data);
    }
  }

  @Test
  void headerIsTheStandardJsonReadableByHand() throws IOException {
    Path file = dir.resolve("standard.safetensors");
    new SafetensorsWriter()
        .add("w", DType.F32, new long[] {2, 3}, new float[] {0, 1, 2, 3, 4, 5})
        .putMetadata("format", "pt")
        .write(file);

    Parts parts = Parts.of(Files.readAllBytes(file));
    assertThat(parts.headerLength() % 8).as("header padded to 8 bytes").isZero();
    assertThat(parts.header().strip()).isEqualTo(
        "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}");
    JsonNode json = new ObjectMapper().readTree(parts.header());
    assertThat(json.get("w").get("data_offsets").get(1).asLong()).isEqualTo(24);

    ByteBuffer data = ByteBuffer.wrap(parts.data()).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(parts.data()).hasSize(24);
    for (int i = 0; i < 6; i++) assertThat(data.getFloat(4 * i)).isEqualTo(i);
  }

  /** Same bytes as the Hugging Face library writes for these inputs (its own serialization test cases). */
  @Test
  void bytesMatchTheHuggingFaceSerializer() throws IOException {
    Path file = dir.resolve("hf.safetensors");
    float[] values = {0, 1, 2, 3, 4, 5};
    new SafetensorsWriter().add("attn.0", DType.F32, new long[] {1, 2, 3}, values).write(file);
    Parts parts = Parts.of(Files.readAllBytes(file));
    assertThat(parts.headerLength()).isEqualTo(64);
    assertThat(parts.header()).isEqualTo("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}");

    new SafetensorsWriter().add("attn0", DType.F32, new long[] {1, 1, 2, 3}, values).write(file);
    parts = Parts.of(Files.readAllBytes(file));
    assertThat(parts.headerLength()).isEqualTo(72);
    assertThat(parts.header())
        .isEqualTo("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ");

    new SafetensorsWriter().write(file);
    assertThat(Files.readAllBytes(file)).containsExactly(8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' ');

    new SafetensorsWriter().putMetadata("framework", "pt").write(file);
    parts = Parts.of(Files.readAllBytes(file));
    assertThat(parts.headerLength()).isEqualTo(40);
    assertThat(parts.header()).isEqualTo("{\"__metadata__\":{\"framework\":\"pt\"}}     ");
  }

  /** A file written by hand in the standard layout opens, with tensors listed in data order. */
  @Test
  void handWrittenStandardFileOpens() throws IOException {
    String json = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
        + "\"__metadata__\":{\"format\":\"pt\"},"
        + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    byte[] header = json.getBytes(StandardCharsets.UTF_8);
    ByteBuffer bytes = ByteBuffer.allocate(8 + header.length + 12).order(ByteOrder.LITTLE_ENDIAN);
    bytes.putLong(header.length).put(header).putFloat(1.5f).putFloat(-2f);
    bytes.putShort((short) 0x3F80).putShort((short) 0xC000); // bf16 1 and -2
    Path file = dir.resolve("hand.safetensors");
    Files.write(file, bytes.array());
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThat(st.tensors()).extracting(TensorInfo::name).containsExactly("a", "b");
      assertThat(st.metadata()).containsEntry("format", "pt");
      assertThat(st.readFloats("a", 2)).containsExactly(1.5f, -2f);
      assertThat(st.readFloats("b", 2)).containsExactly(1f, -2f);
    }
  }
}
