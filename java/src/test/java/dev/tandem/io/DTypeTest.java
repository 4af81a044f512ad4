package dev.tandem.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DTypeTest {

  @Test
  void everyTypeRoundTripsThroughItsSafetensorsName() {
    for (DType type : DType.values()) {
      assertThat(DType.fromSafetensorsName(type.safetensorsName())).isSameAs(type);
    }
  }

  @Test
  void byteSizesAreThoseOfTheFormat() {
    assertThat(DType.F32.byteSize()).isEqualTo(4);
    assertThat(DType.F16.byteSize()).isEqualTo(2);
    assertThat(DType.BF16.byteSize()).isEqualTo(2);
    assertThat(DType.F64.byteSize()).isEqualTo(8);
    assertThat(DType.I64.byteSize()).isEqualTo(8);
    assertThat(DType.I32.byteSize()).isEqualTo(4);
    assertThat(DType.I16.byteSize()).isEqualTo(2);
    assertThat(DType.I8.byteSize()).isEqualTo(1);
    assertThat(DType.U8.byteSize()).isEqualTo(1);
    assertThat(DType.BOOL.byteSize()).isEqualTo(1);
  }

  @Test
  void onlyTheComputeTypesConvertToFloat() {
    for (DType type : DType.values()) {
      assertThat(type.convertsToFloat()).as(type.name())
          .isEqualTo(type == DType.F32 || type == DType.F16 || type == DType.BF16);
    }
  }

  @Test
  void unknownNameIsRejectedWithTheName() {
    assertThatThrownBy(() -> DType.fromSafetensorsName("Q4_K"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Q4_K");
    assertThatThrownBy(() -> DType.fromSafetensorsName("f32")).isInstanceOf(IllegalArgumentException.class);
  }
}
