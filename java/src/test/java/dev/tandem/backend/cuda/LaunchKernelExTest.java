package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import org.junit.jupiter.api.Test;

/**
 * Needs no GPU: the hand-declared cuLaunchKernelEx structures have cuda.h's layout (x86-64), and the
 * parameter block holds each argument where the kernelParams entry points.
 */
class LaunchKernelExTest {
  private static long offset(String field) {
    return LaunchKernelEx.CONFIG.byteOffset(PathElement.groupElement(field));
  }

  @Test
  void launchConfigAndAttributeHaveTheDriversLayout() {
    assertThat(LaunchKernelEx.CONFIG.byteSize()).isEqualTo(56);
    assertThat(offset("sharedMemBytes")).isEqualTo(24);
    assertThat(offset("hStream")).isEqualTo(32);
    assertThat(offset("attrs")).isEqualTo(40);
    assertThat(offset("numAttrs")).isEqualTo(48);
    assertThat(LaunchKernelEx.ATTRIBUTE.byteSize()).isEqualTo(72);
    assertThat(LaunchKernelEx.ATTRIBUTE.byteOffset(PathElement.groupElement("value"))).isEqualTo(8);
    assertThat(LaunchKernelEx.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION).isEqualTo(6);
  }

  @Test
  void configCarriesGeometryAndStream() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment config = arena.allocate(LaunchKernelEx.CONFIG);
      LaunchGeometry g = new LaunchGeometry(7, 3, 1, 256, 1, 1, 4096);
      LaunchKernelEx.write(config, g, 0x1234_5678_9abcL);
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
      assertThat(e.getValue().kinds().size()).as(e.getKey().entry).isLessThanOrEqualTo(LaunchKernelEx.MAX_PARAMETERS);
    }
  }
  // What the stand-in for cuLaunchKernelEx saw.
  private static int[] seenGeometry;
  private static long seenStream, seenFunction, seenAttributeId, seenAttributeValue;
  private static long seenPointer;
  private static int seenAttributeCount;
  private static int seenInt;
  private static float seenFloat;

  /** cuLaunchKernelEx's signature: reads everything the driver would read, returns CUDA_SUCCESS. */
  static int fakeLaunchKernelEx(MemorySegment config, MemorySegment function, MemorySegment params, MemorySegment extra) {
    MemorySegment c = config.reinterpret(LaunchKernelEx.CONFIG.byteSize());
    seenGeometry = new int[7];
    for (int i = 0; i < 7; i++) seenGeometry[i] = c.get(ValueLayout.JAVA_INT, 4L * i);
    seenStream = c.get(ValueLayout.JAVA_LONG, 32);
    MemorySegment attribute = c.get(ValueLayout.ADDRESS, 40).reinterpret(LaunchKernelEx.ATTRIBUTE.byteSize());
    seenAttributeCount = c.get(ValueLayout.JAVA_INT, 48);
    seenAttributeId = attribute.get(ValueLayout.JAVA_INT, 0);
    seenAttributeValue = attribute.get(ValueLayout.JAVA_INT, 8);
    seenFunction = function.address();
    MemorySegment p = params.reinterpret(3 * 8);
    seenPointer = p.getAtIndex(ValueLayout.ADDRESS, 0).reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
    seenInt = p.getAtIndex(ValueLayout.ADDRESS, 1).reinterpret(4).get(ValueLayout.JAVA_INT, 0);
    seenFloat = p.getAtIndex(ValueLayout.ADDRESS, 2).reinterpret(4).get(ValueLayout.JAVA_FLOAT, 0);
    assertThat(extra.address()).as("extra").isZero();
    return 0;
  }

  /** The whole foreign call, against a Java stand-in with cuLaunchKernelEx's signature. */
  @Test
  void launchPassesConfigAttributeFunctionAndParametersToTheDriver() throws Exception {
    ValueLayout a = ValueLayout.ADDRESS;
    var target = MethodHandles.lookup().findStatic(LaunchKernelExTest.class, "fakeLaunchKernelEx",
        MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class, MemorySegment.class, MemorySegment.class));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment stub = Linker.nativeLinker().upcallStub(target, FunctionDescriptor.of(ValueLayout.JAVA_INT, a, a, a, a),
          arena);
      try (LaunchKernelEx launch = new LaunchKernelEx(stub)) {
        int result = launch.launch(0xabc0L, new LaunchGeometry(5, 2, 1, 128, 1, 1, 64), 0xdef0L,
            new KernelArgs().ptr(0x1122_3344_5566L).i32(-9).f32(0.25f), true);
        assertThat(result).isZero();
        assertThat(seenAttributeCount).as("PDL: one attribute").isEqualTo(1);
        launch.launch(0xabc0L, new LaunchGeometry(5, 2, 1, 128, 1, 1, 64), 0xdef0L,
            new KernelArgs().ptr(0x1122_3344_5566L).i32(-9).f32(0.25f), false);
        assertThat(seenAttributeCount).as("no PDL: no attribute").isZero();
      }
    }
    assertThat(seenGeometry).containsExactly(5, 2, 1, 128, 1, 1, 64);
    assertThat(seenStream).isEqualTo(0xdef0L);
    assertThat(seenFunction).isEqualTo(0xabc0L);
    assertThat(seenAttributeId).isEqualTo(LaunchKernelEx.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
    assertThat(seenAttributeValue).isEqualTo(1);
    assertThat(seenPointer).isEqualTo(0x1122_3344_5566L);
    assertThat(seenInt).isEqualTo(-9);
    assertThat(seenFloat).isEqualTo(0.25f);
  }
}
