package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The launch geometry of every kernel, a pure function of the shapes (no GPU needed). */
class LaunchGeometryTest {
  @Test
  void linearLaunchesCoverEveryElementOnce() {
    for (int count : new int[] {1, 7, 255, 256, 257, 4097}) {
      LaunchGeometry g = Swiglu.geometry(count);
      assertThat((long) g.gridX() * g.blockX()).isGreaterThanOrEqualTo(count).isLessThan(count + 256L);
    }
    assertThat(Rope.geometry(17, 3, 64).gridX() * 256L).isGreaterThanOrEqualTo(17 * 3 * 32);
  }

  @Test
  void rowKernelsTakeOneBlockPerRow() {
    assertThat(RmsNorm.geometry(97)).isEqualTo(new LaunchGeometry(97, 1, 1, 256, 1, 1, 0));
    assertThat(Argmax.geometry(17)).isEqualTo(new LaunchGeometry(17, 1, 1, 1024, 1, 1, 0));
    assertThat(Embed.geometry(5, 4097)).isEqualTo(new LaunchGeometry(17, 5, 1, 256, 1, 1, 0));
    assertThat(KvStore.geometry(3, 33)).isEqualTo(new LaunchGeometry(1, 3, 1, 256, 1, 1, 0));
  }

  @Test
  void smallMatmulTakesFourColumnsPerBlockAcrossWeights() {
    assertThat(Matmul.smallGeometry(2048, 512, 512).gridX()).isEqualTo(512 + 128 + 128);
    assertThat(Matmul.smallGeometry(7, 0, 0).gridX()).isEqualTo(2);
    assertThat(Matmul.smallGeometry(128256, 0, 0).gridX()).isEqualTo(32064);
    assertThat(Matmul.smallKernel(1)).isEqualTo(Kernel.MATMUL_N1);
    assertThat(Matmul.smallKernel(2)).isEqualTo(Kernel.MATMUL_N2);
    assertThat(Matmul.smallKernel(3)).isEqualTo(Kernel.MATMUL_N4);
    assertThat(Matmul.smallKernel(5)).isEqualTo(Kernel.MATMUL_N8);
    assertThat(Matmul.smallKernel(64)).isEqualTo(Kernel.MATMUL_N8);
    assertThatThrownBy(() -> Matmul.smallKernel(65)).isInstanceOf(IllegalArgumentException.class);
    assertThat(Matmul.tiledGeometry(97, 33)).isEqualTo(new LaunchGeometry(2, 4, 1, 256, 1, 1, 0));
  }

  @Test
  void attentionGeometryFitsTheSharedMemoryAndPairLimits() {
    // Llama-3.2-1B: 32 heads over 8 KV heads (group 4), head dim 64.
    assertThat(Attention.rowsPerBlock(32, 8)).isEqualTo(4);
    assertThat(Attention.blockGeometry(97, 32, 8, 64)).isEqualTo(new LaunchGeometry(25, 8, 1, 128, 1, 1,
        4 * (16 * 64 + 32 * 65 + 32 * 64)));
    assertThat(Attention.rowsPerBlock(5, 5)).isEqualTo(16);
    assertThat(Attention.rowsPerBlock(6, 2)).isEqualTo(5);
    assertThat(Attention.sharedBytes(128)).isEqualTo(41_088).isLessThanOrEqualTo(LaunchGeometry.MAX_SHARED_BYTES);
    assertThat(Attention.decodeGeometry(17, 8, 16384)).isEqualTo(new LaunchGeometry(8, 64, 17, 256, 1, 1, 0));
    assertThat(Attention.decodeKernel(32)).isEqualTo(Kernel.ATTENTION_DECODE_D64);
    assertThat(Attention.decodeKernel(64)).isEqualTo(Kernel.ATTENTION_DECODE_D64);
    assertThat(Attention.decodeKernel(72)).isEqualTo(Kernel.ATTENTION_DECODE_D128);
    assertThat(Attention.decodeKernel(128)).isEqualTo(Kernel.ATTENTION_DECODE_D128);
    assertThat(Attention.decodeSupported(34)).isFalse();  // 16-byte key loads: multiples of 8 only
    assertThatThrownBy(() -> Attention.decodeKernel(6)).isInstanceOf(IllegalArgumentException.class);
    assertThat(Attention.maxChunks(1)).isEqualTo(1);
    assertThat(Attention.maxChunks(257)).isEqualTo(2);
    assertThat(Attention.partialFloats(2, 4, 64, 512)).isEqualTo(2L * 4 * 2 * 66);
    assertThatThrownBy(() -> Attention.checkShape(32, 8, 256)).isInstanceOf(UnsupportedOperationException.class)
        .hasMessageContaining("head dimensions up to 128");
    assertThatThrownBy(() -> Attention.checkShape(64, 2, 64)).hasMessageContaining("up to 16 query heads");
    assertThatThrownBy(() -> Attention.checkShape(6, 4, 8)).hasMessageContaining("not a multiple");
  }

  @Test
  void geometryRejectsWhatNoDeviceLaunches() {
    assertThatThrownBy(() -> new LaunchGeometry(1, 70000, 1, 32, 1, 1, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new LaunchGeometry(1, 1, 1, 2048, 1, 1, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new LaunchGeometry(1, 1, 1, 32, 1, 1, 64 * 1024)).isInstanceOf(IllegalArgumentException.class);
  }
}
