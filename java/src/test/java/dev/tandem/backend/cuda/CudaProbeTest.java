package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The probe answers on every machine, with or without a driver, and never crashes the JVM. */
class CudaProbeTest {
  @Test
  void probeReportsAGpuOrWhyNot() {
    CudaProbe probe = CudaProbe.probe();
    if (probe.available()) {
      assertThat(probe.device()).isNotBlank();
      assertThat(probe.computeMajor()).isGreaterThanOrEqualTo(8);
      assertThat(probe.describe()).contains(probe.device()).contains("CUDA driver");
    } else {
      assertThat(probe.reason()).isNotBlank();
      assertThat(probe.describe()).startsWith("no GPU: ");
    }
    assertThat(CudaProbe.probe()).isSameAs(probe);
  }
}
