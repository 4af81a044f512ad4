package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

/**
 * The parameter table the sampling kernels read (kernels/sample.cu, SampleRow), and the geometry of
 * SPEED's device-round kernels: no GPU needed.
 */
class SampleParamsTest {
  @Test
  void rowParametersArePackedAsTheKernelsReadThem() {
    SamplingParams sampled = new SamplingParams(0.5f, 40, 0.9f, 0x1234_5678_9abc_def0L);
    int[] table = Sample.rowParams(2, new SamplingParams[] {sampled, SamplingParams.greedy()},
        new long[] {7L | (5L << 32), 3}, new int[] {100, 200});
    assertThat(table).hasSize(2 * Sample.PARAMS);
    // sequence: the low word, as Philox.uniform takes it; position; 1 / temperature as float bits
    assertThat(table[0]).isEqualTo(7);
    assertThat(table[1]).isEqualTo(100);
    assertThat(Float.intBitsToFloat(table[2])).isEqualTo(2f);
    assertThat(table[3]).isEqualTo(40);
    assertThat(Float.intBitsToFloat(table[4])).isEqualTo(0.9f);
    assertThat(table[5]).isEqualTo(0x9abc_def0);
    assertThat(table[6]).isEqualTo(0x1234_5678);
    assertThat(table[7]).as("stream: STREAM_SAMPLE").isZero();
    // greedy: 1 / temperature 0 (the kernel's argmax branch), no filter
    assertThat(table[Sample.PARAMS + 2]).isZero();
    assertThat(table[Sample.PARAMS + 3]).isZero();
    assertThat(Float.intBitsToFloat(table[Sample.PARAMS + 4])).isEqualTo(1f);
  }

  @Test
  void deviceRoundKernelsTakeAThreadPerRowOrABlockPerSequence() {
    assertThat(DraftRounds.geometry(1)).isEqualTo(new LaunchGeometry(1, 1, 1, DraftRounds.THREADS, 1, 1, 0));
    assertThat(DraftRounds.geometry(129)).isEqualTo(new LaunchGeometry(2, 1, 1, DraftRounds.THREADS, 1, 1, 0));
    assertThat(Sample.geometry(5)).isEqualTo(new LaunchGeometry(5, 1, 1, 1024, 1, 1, 0));
  }
}
