package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * Needs no GPU: the hand-declared cuLaunchKernelEx structures have cuda.h's layout (x86-64), and the
 * parameter block holds each argument where the kernelParams entry points.
 */
class ProgrammaticLaunchTest {
  private static long offset(String field) {
    return ProgrammaticLaunch.CONFIG.byteOffset(PathElement.groupElement(field));
  }

  @Test
  void launchConfigAndAttributeHaveTheDriversLayout() {
    assertThat(ProgrammaticLaunch.CONFIG.byteSize()).isEqualTo(56);
    assertThat(offset("sharedMemBytes")).isEqualTo(24);
    assertThat(offset("hStream")).isEqualTo(32);
    assertThat(offset("attrs")).isEqualTo(40);
    assertThat(offset("numAttrs")).isEqualTo(48);
    assertThat(ProgrammaticLaunch.ATTRIBUTE.byteSize()).isEqualTo(72);
    assertThat(ProgrammaticLaunch.ATTRIBUTE.byteOffset(PathElement.groupElement("value"))).isEqualTo(8);
    assertThat(ProgrammaticLaunch.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION).isEqualTo(6);
  }

  @Test
  void configCarriesGeometryAndStream() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment config = arena.allocate(ProgrammaticLaunch.CONFIG);
      LaunchGeometry g = new LaunchGeometry(7, 3, 1, 256, 1, 1, 4096);
      ProgrammaticLaunch.write(config, g, 0x1234_5678_9abcL);
      int[] expected = {7, 3, 1, 256, 1, 1, 4096};
      for (int i = 0; i < expected.length; i++) {
        assertThat(config.get(ValueLayout.JAVA_INT, 4L * i)).as("field %d", i).isEqualTo(expected[i]);
      }
      assertThat(config.get(ValueLayout.JAVA_LONG, 32)).isEqualTo(0x1234_5678_9abcL);
    }
  }

  @Test
  void parameterBlockHoldsEachValueInItsSlot() {
    KernelArgs args = new KernelArgs().ptr(0x7f00_0000_1000L).i32(-5).f32(1.5f).i32(42);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment slots = arena.allocate(8L * 8, 8);
      assertThat(args.writeValues(slots, 8)).isEqualTo(4);
      assertThat(slots.get(ValueLayout.JAVA_LONG, 0)).isEqualTo(0x7f00_0000_1000L);
      assertThat(slots.get(ValueLayout.JAVA_INT, 8)).isEqualTo(-5);
      assertThat(slots.get(ValueLayout.JAVA_FLOAT, 16)).isEqualTo(1.5f);
      assertThat(slots.get(ValueLayout.JAVA_INT, 24)).isEqualTo(42);
      assertThatThrownBy(() -> args.writeValues(slots, 3)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("4 kernel parameters");
    }
  }

  @Test
  void everyKernelsParametersFitTheBlock() {
    for (var e : PtxContractTest.samples().entrySet()) {
      assertThat(e.getValue().kinds().size()).as(e.getKey().entry).isLessThanOrEqualTo(ProgrammaticLaunch.MAX_PARAMETERS);
    }
  }
}
