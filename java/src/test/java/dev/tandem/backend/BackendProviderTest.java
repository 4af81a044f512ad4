package dev.tandem.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.tandem.backend.cuda.CudaProbe;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The backend choice: cpu, cuda, auto (probe, else the CPU after one line). */
class BackendProviderTest {
  private final ByteArrayOutputStream logged = new ByteArrayOutputStream();
  private final PrintStream log = new PrintStream(logged, true, StandardCharsets.UTF_8);

  @Test
  void cpuNeverProbes() {
    try (Backend b = BackendProvider.open(Device.CPU, 1, false, log)) {
      assertThat(b.name()).isEqualTo("cpu");
    }
    try (Backend b = BackendProvider.open(Device.AUTO, 1, true, log)) {
      assertThat(b.name()).isEqualTo("cpu-reference");
    }
    assertThat(logged.toString(StandardCharsets.UTF_8)).isEmpty();
  }

  @Test
  void autoFallsBackToTheCpuWithOneLineWhenThereIsNoGpu() {
    assumeFalse(CudaProbe.isAvailable(), "this machine has a GPU");
    try (Backend b = BackendProvider.open(Device.AUTO, 1, false, log)) {
      assertThat(b.name()).isEqualTo("cpu");
    }
    String text = logged.toString(StandardCharsets.UTF_8);
    assertThat(text.lines().toList()).hasSize(1);
    assertThat(text).startsWith("no GPU (").contains("): running on the CPU");
  }

  @Test
  void cudaWithoutAGpuIsAClearError() {
    assumeFalse(CudaProbe.isAvailable(), "this machine has a GPU");
    assertThatThrownBy(() -> BackendProvider.open(Device.CUDA, 1, false, log))
        .isInstanceOf(IllegalStateException.class).hasMessageStartingWith("--device cuda: no GPU (");
  }

  @Test
  void autoTakesTheGpuWhenThereIsOne() {
    org.junit.jupiter.api.Assumptions.assumeTrue(CudaProbe.isAvailable(), "no GPU here");
    try (Backend b = BackendProvider.open(Device.AUTO, 1, false, log)) {
      assertThat(b.name()).isEqualTo("cuda");
    }
    assertThat(logged.toString(StandardCharsets.UTF_8)).isEmpty();
  }

  @Test
  void parsesDeviceNamesAndRejectsOthers() {
    assertThat(Device.parse("CUDA")).isEqualTo(Device.CUDA);
    assertThat(Device.parse(" auto")).isEqualTo(Device.AUTO);
    assertThatThrownBy(() -> Device.parse("gpu")).hasMessageContaining("cpu, cuda or auto");
    assertThatThrownBy(() -> BackendProvider.open(Device.CUDA, 1, true, log)).hasMessageContaining("--reference");
  }
}
