package dev.tandem.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {

  private static final ValueLayout.OfShort U16_LE =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  @TempDir Path dir;

  private static float[] gaussian(int n, long seed, double scale) {
    Random random = new Random(seed);
    float[] values = new float[n];
    for (int i = 0; i < n; i++) values[i] = (float) (random.nextGaussian() * scale);
    return values;
  }

  @Test
  void f32RoundTripIsBitwise() throws IOException {
    float[] values = {0f, -0f, 1f, -2.5f, Float.MIN_VALUE, Float.MAX_VALUE, Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7FC00123), Float.MIN_NORMAL, 1e-30f, 123456.79f};
    Path file = dir.resolve("f32.safetensors");
    new SafetensorsWriter().add("w", DType.F32, new long[] {3, 4}, values).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      float[] back = st.readFloats("w", 3, 4);
      for (int i = 0; i < values.length; i++) {
        assertThat(Float.floatToRawIntBits(back[i])).as("element %d", i)
            .isEqualTo(Float.floatToRawIntBits(values[i]));
      }
    }
  }

  @Test
  void f16RoundTripIsWithinHalfPrecision() throws IOException {
    float[] values = gaussian(97, 1, 20);
    Path file = dir.resolve("f16.safetensors");
    new SafetensorsWriter().add("w", DType.F16, new long[] {97}, values).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      float[] back = st.readFloats("w");
      for (int i = 0; i < values.length; i++) {
        // 11 significant bits: rounding to nearest errs by at most 2^-11 relative (normal range).
        assertThat(back[i]).as("element %d", i)
            .isCloseTo(values[i], within(Math.abs(values[i]) * 0x1p-11f + 0x1p-24f));
        assertThat(back[i]).isEqualTo(FloatFormats.f16ToFloat(FloatFormats.floatToF16(values[i])));
      }
    }
  }

  @Test
  void bf16RoundTripIsWithinBf16PrecisionAndStoresRoundedBits() throws IOException {
    float[] values = gaussian(97, 2, 1000);
    values[0] = Float.intBitsToFloat(0x3F818000); // a tie: must round to even 0x3F82
    values[1] = 1f / 3;                           // hand-computed: 0x3EAB
    Path file = dir.resolve("bf16.safetensors");
    new SafetensorsWriter().add("w", DType.BF16, new long[] {97}, values).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      MemorySegment raw = st.data("w");
      assertThat(raw.getAtIndex(U16_LE, 0)).isEqualTo((short) 0x3F82);
      assertThat(raw.getAtIndex(U16_LE, 1)).isEqualTo((short) 0x3EAB);
      float[] back = st.readFloats("w");
      assertThat(back[1]).isEqualTo(171f / 512);
      for (int i = 0; i < values.length; i++) {
        // 8 significant bits: at most 2^-8 relative.
        assertThat(back[i]).as("element %d", i).isCloseTo(values[i], within(Math.abs(values[i]) * 0x1p-8f));
        assertThat(raw.getAtIndex(U16_LE, i)).isEqualTo(FloatFormats.floatToBf16(values[i]));
      }
    }
  }

  @Test
  void metadataRoundTripsInOrder() throws IOException {
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("tandem.layer_map", "[0, 2, 4]");
    metadata.put("note", "ünïcode \"quoted\" \\ and\nnewline");
    SafetensorsWriter writer = new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1});
    metadata.forEach(writer::putMetadata);
    Path file = dir.resolve("meta.safetensors");
    writer.write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThat(st.metadata()).containsExactlyEntriesOf(metadata);
    }
  }

  @Test
  void fileWithoutMetadataHasEmptyMetadata() throws IOException {
    Path file = dir.resolve("nometa.safetensors");
    new SafetensorsWriter().write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThat(st.metadata()).isEmpty();
      assertThat(st.tensors()).isEmpty();
    }
  }

  @Test
  void emptyTensorWithAZeroDimension() throws IOException {
    Path file = dir.resolve("empty.safetensors");
    new SafetensorsWriter()
        .add("a", DType.F32, new long[] {2}, new float[] {1, 2})
        .add("empty", DType.F32, new long[] {0, 4}, new float[0])
        .add("alsoEmpty", DType.BF16, new long[] {3, 0}, new float[0])
        .add("b", DType.F32, new long[] {1}, new float[] {3})
        .write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      TensorInfo empty = st.info("empty");
      assertThat(empty.shape()).containsExactly(0, 4);
      assertThat(empty.numel()).isZero();
      assertThat(empty.begin()).isEqualTo(empty.end()).isEqualTo(8);
      assertThat(st.readFloats("empty", 0, 4)).isEmpty();
      assertThat(st.data("alsoEmpty").byteSize()).isZero();
      assertThat(st.readFloats("b")).containsExactly(3);
    }
  }

  @Test
  void scalarShape() throws IOException {
    Path file = dir.resolve("scalar.safetensors");
    new SafetensorsWriter().add("temperature", DType.F32, new long[0], new float[] {0.7f}).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      TensorInfo info = st.info("temperature");
      assertThat(info.rank()).isZero();
      assertThat(info.numel()).isEqualTo(1);
      assertThat(info.byteSize()).isEqualTo(4);
      assertThat(st.readFloats("temperature", new long[0])).containsExactly(0.7f);
    }
  }

  @Test
  void tensorsKeepInsertionOrderAndLieBackToBack() throws IOException {
    Path file = dir.resolve("mixed.safetensors");
    MemorySegment ids = MemorySegment.ofArray(new byte[12]);
    for (int i = 0; i < 3; i++) ids.setAtIndex(I32_LE, i, 1000 + i);
    new SafetensorsWriter()
        .add("z.last.alphabetically", DType.BF16, new long[] {3}, new float[] {1, 2, 3})
        .addRaw("ids", DType.I32, new long[] {3}, ids)
        .addRaw("mask", DType.BOOL, new long[] {2}, MemorySegment.ofArray(new byte[] {1, 0}))
        .add("a.first.alphabetically", DType.F16, new long[] {2, 1}, new float[] {0.5f, -0.25f})
        .write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      List<TensorInfo> tensors = st.tensors();
      assertThat(tensors).extracting(TensorInfo::name)
          .containsExactly("z.last.alphabetically", "ids", "mask", "a.first.alphabetically");
      long expectedBegin = 0;
      for (TensorInfo tensor : tensors) {
        assertThat(tensor.begin()).as(tensor.name()).isEqualTo(expectedBegin);
        expectedBegin = tensor.end();
      }
      assertThat(st.info("ids").dtype()).isEqualTo(DType.I32);
      assertThat(st.data("ids").getAtIndex(I32_LE, 2)).isEqualTo(1002);
      assertThat(st.data("mask").toArray(ValueLayout.JAVA_BYTE)).containsExactly(1, 0);
      assertThat(st.readFloats("a.first.alphabetically", 2, 1)).containsExactly(0.5f, -0.25f);
      assertThat(st.readFloats("z.last.alphabetically")).containsExactly(1, 2, 3);
      assertThat(st.has("ids")).isTrue();
      assertThat(st.has("nope")).isFalse();
    }
  }

  @Test
  void readFloatsIntoAnArrayAtAnOffset() throws IOException {
    Path file = dir.resolve("offset.safetensors");
    new SafetensorsWriter()
        .add("a", DType.F32, new long[] {2}, new float[] {1, 2})
        .add("b", DType.BF16, new long[] {3}, new float[] {3, 4, 5})
        .write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      float[] packed = new float[6];
      st.readFloats("a", packed, 1);
      st.readFloats("b", packed, 3);
      assertThat(packed).containsExactly(0, 1, 2, 3, 4, 5);
      assertThatThrownBy(() -> st.readFloats("b", packed, 4))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("tensor b").hasMessageContaining(file.toString()).hasMessageContaining("offset 4");
    }
  }

  @Test
  void missingTensorNamesTensorAndFile() throws IOException {
    Path file = dir.resolve("one.safetensors");
    new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1}).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThatThrownBy(() -> st.info("lm_head.weight"))
          .isInstanceOf(SafetensorsException.class)
          .hasMessage("tensor lm_head.weight missing from " + file);
      assertThatThrownBy(() -> st.readFloats("lm_head.weight")).isInstanceOf(SafetensorsException.class);
      assertThatThrownBy(() -> st.data("lm_head.weight")).isInstanceOf(SafetensorsException.class);
    }
  }

  @Test
  void wrongShapeNamesBothShapes() throws IOException {
    Path file = dir.resolve("shape.safetensors");
    new SafetensorsWriter().add("w", DType.F32, new long[] {2, 3}, new float[6]).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThatThrownBy(() -> st.readFloats("w", 3, 2))
          .isInstanceOf(SafetensorsException.class)
          .hasMessage("tensor w in " + file + " has shape [2, 3], expected [3, 2]");
    }
  }

  @Test
  void readFloatsOfAnIntegerTensorIsAClearError() throws IOException {
    Path file = dir.resolve("ints.safetensors");
    new SafetensorsWriter().addRaw("ids", DType.I64, new long[] {2}, MemorySegment.ofArray(new byte[16])).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThatThrownBy(() -> st.readFloats("ids"))
          .isInstanceOf(SafetensorsException.class)
          .hasMessageContaining("tensor ids").hasMessageContaining(file.toString()).hasMessageContaining("I64")
          .hasMessageContaining("model weights must be F32, F16 or BF16")
          .hasMessageNotContaining("data(");  // issue 18, item 9: it named an internal method
    }
  }

  @Test
  void missingFileIsASafetensorsException() {
    Path file = dir.resolve("absent.safetensors");
    assertThatThrownBy(() -> SafetensorsFile.open(file))
        .isInstanceOf(SafetensorsException.class)
        .hasMessageContaining(file.toString()).hasMessageContaining("no such file");
  }

  @Test
  void dataIsUnusableAfterClose() throws IOException {
    Path file = dir.resolve("closed.safetensors");
    new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1}).write(file);
    SafetensorsFile st = SafetensorsFile.open(file);
    MemorySegment data = st.data("w");
    st.close();
    st.close(); // idempotent
    assertThatThrownBy(() -> data.get(ValueLayout.JAVA_BYTE, 0)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> st.readFloats("w")).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(file.toString());
  }

  @Test
  void writeReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws IOException {
    Path file = dir.resolve("model.safetensors");
    new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1}).write(file);
    new SafetensorsWriter().add("w", DType.F32, new long[] {2}, new float[] {7, 8}).write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThat(st.readFloats("w")).containsExactly(7, 8);
    }
    try (Stream<Path> files = Files.list(dir)) {
      assertThat(files).containsExactly(file);
    }
  }

  @Test
  void failedWriteLeavesTheOldFileIntact() throws IOException {
    Path file = dir.resolve("model.safetensors");
    new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1}).write(file);
    byte[] before = Files.readAllBytes(file);

    MemorySegment gone;
    try (Arena arena = Arena.ofConfined()) {
      gone = arena.allocate(8);
    }
    SafetensorsWriter failing = new SafetensorsWriter()
        .add("big", DType.F32, new long[] {300_000}, new float[300_000]) // written before the failure
        .addRaw("gone", DType.F32, new long[] {2}, gone);                  // its memory is freed: fails
    assertThatThrownBy(() -> failing.write(file)).isInstanceOf(IllegalStateException.class);

    assertThat(Files.readAllBytes(file)).isEqualTo(before);
    try (Stream<Path> files = Files.list(dir)) {
      assertThat(files).containsExactly(file);
    }
  }

  @Test
  void largeTensorStreamsThroughSeveralChunks() throws IOException {
    float[] values = gaussian(700_001, 3, 1); // F32: 2.8 MB, three 1 MiB chunks
    Path file = dir.resolve("large.safetensors");
    new SafetensorsWriter()
        .add("f32", DType.F32, new long[] {values.length}, values)
        .add("bf16", DType.BF16, new long[] {values.length}, values)
        .write(file);
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      assertThat(st.readFloats("f32")).isEqualTo(values);
      float[] bf16 = st.readFloats("bf16");
      for (int i : new int[] {0, 524_288, values.length - 1}) {
        assertThat(bf16[i]).isEqualTo(FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(values[i])));
      }
    }
  }

  @Test
  void writerRejectsInconsistentTensors() {
    SafetensorsWriter writer = new SafetensorsWriter().add("w", DType.F32, new long[] {2}, new float[2]);
    assertThatThrownBy(() -> writer.add("w", DType.F32, new long[] {1}, new float[1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("duplicate").hasMessageContaining("w");
    assertThatThrownBy(() -> writer.addRaw("w", DType.U8, new long[] {1}, MemorySegment.ofArray(new byte[1])))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("duplicate");
    assertThatThrownBy(() -> writer.add("x", DType.F32, new long[] {2, 3}, new float[5]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2, 3]").hasMessageContaining("5");
    assertThatThrownBy(() -> writer.addRaw("x", DType.F32, new long[] {2}, MemorySegment.ofArray(new byte[7])))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("8 bytes").hasMessageContaining("7");
    assertThatThrownBy(() -> writer.add("x", DType.F32, new long[] {-1}, new float[0]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("negative");
    assertThatThrownBy(() -> writer.add("x", DType.I32, new long[] {1}, new float[1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("addRaw");
    assertThatThrownBy(() -> writer.add("__metadata__", DType.F32, new long[] {1}, new float[1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("reserved");
  }
}
