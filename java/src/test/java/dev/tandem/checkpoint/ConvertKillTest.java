package dev.tandem.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.io.DType;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.testing.CliProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code convert} killed with SIGKILL at random moments of its write, both ways: the final name holds
 * nothing or the complete result (never a partial directory or file), and the next conversion of the
 * same target succeeds and leaves no temporary behind (the killed writer's ones included).
 */
class ConvertKillTest {
  @TempDir Path dir;

  /** About 40 MB of F32 weights: a write takes long enough to be killed in the middle. */
  private static final LlamaConfig BIG = new LlamaConfig(4096, 512, 1024, 4, 8, 8, 10000.0, 1e-5, 256, false, "float32");
  private static final int KILLS = 6;

  @Test
  void killedConversionToGgufLeavesNoPartialFileAndNoTemporaries() throws Exception {
    Path model = dir.resolve("model");
    ModelWeights.random(BIG, 3).save(model, DType.F32);
    Path gguf = dir.resolve("out").resolve("m.gguf");
    ModelConverter.convert(model, gguf);
    byte[] ggufBytes = Files.readAllBytes(gguf);
    Path gguf2 = dir.resolve("out").resolve("m2.gguf");
    SplittableRandom random = new SplittableRandom(7);
    int midWrite = 0;
    for (int i = 0; i < KILLS; i++) {
      midWrite += killDuringWrite(gguf2, random, "convert", "--in", model.toString(), "--out", gguf2.toString());
      assertThat(!Files.exists(gguf2) || sameBytes(gguf2, ggufBytes)).as("a partial %s after a kill", gguf2).isTrue();
      if (Files.exists(gguf2)) { // renamed into place before the kill: complete, and a retry refuses to overwrite it
        assertThatThrownBy(() -> ModelConverter.convert(model, gguf2)).hasMessageContaining("already exists");
        Files.delete(gguf2);
      }
      ModelConverter.convert(model, gguf2);
      assertThat(Files.readAllBytes(gguf2)).isEqualTo(ggufBytes);
      assertNoTemporaries(gguf2.getParent());
      Files.delete(gguf2);
    }
    assertThat(midWrite).as("kills that landed while a temporary existed").isPositive();
  }

  @Test
  void killedConversionToDirectoryLeavesNoPartialDirectoryAndNoTemporaries() throws Exception {
    Path model = dir.resolve("model");
    ModelWeights.random(BIG, 3).save(model, DType.F32);
    Path gguf = dir.resolve("m.gguf");
    ModelConverter.convert(model, gguf);
    Path back = dir.resolve("back");
    ModelConverter.convert(gguf, back);
    byte[] backBytes = Files.readAllBytes(back.resolve(ModelWeights.WEIGHTS_FILE));
    SplittableRandom random = new SplittableRandom(11);
    int midWrite = 0;
    for (int i = 0; i < KILLS; i++) {
      Path out = dir.resolve("out").resolve("dir" + i);
      midWrite += killDuringWrite(out, random, "convert", "--in", gguf.toString(), "--out", out.toString());
      if (Files.exists(out)) { // renamed into place before the kill: complete, and a retry refuses to overwrite it
        assertThat(out.resolve(ModelWeights.WEIGHTS_FILE)).as("a partial directory %s after a kill", out).exists();
        assertThat(Files.readAllBytes(out.resolve(ModelWeights.WEIGHTS_FILE))).isEqualTo(backBytes);
        assertThat(out.resolve(ModelWeights.CONFIG_FILE)).as("a partial directory %s after a kill", out).exists();
        assertThatThrownBy(() -> ModelConverter.convert(gguf, out)).hasMessageContaining("already holds a model");
      } else {
        ModelConverter.convert(gguf, out);
      }
      assertThat(Files.readAllBytes(out.resolve(ModelWeights.WEIGHTS_FILE))).isEqualTo(backBytes);
      assertThat(ModelLoader.load(out).weights().config()).isEqualTo(BIG);
      assertNoTemporaries(out.getParent());
    }
    assertThat(midWrite).as("kills that landed while a temporary existed").isPositive();
  }

  /**
   * Runs the CLI, waits until it has begun writing {@code target} (a temporary beside it appears), then
   * kills it after a random part of the write's duration. Returns 1 when a temporary was still there
   * at the kill (the kill landed mid-write).
   */
  private int killDuringWrite(Path target, SplittableRandom random, String... args) throws Exception {
    Process p = CliProcess.start(dir.resolve("log.txt"), args);
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (!writing(target) && p.isAlive() && System.nanoTime() < deadline) Thread.onSpinWait();
    Thread.sleep(random.nextInt(0, 40)); // writes here take 50-300 ms: most kills land inside one
    int landed = writing(target) ? 1 : 0;
    CliProcess.kill9(p);
    return landed;
  }

  /** A temporary beside {@code target}, or inside it when it is a directory (a writer that is not atomic). */
  private static boolean writing(Path target) throws IOException {
    return !temporaries(target.getParent()).isEmpty() || (Files.isDirectory(target) && !temporaries(target).isEmpty());
  }

  private static boolean sameBytes(Path file, byte[] expected) throws IOException {
    return java.util.Arrays.equals(Files.readAllBytes(file), expected);
  }

  private static List<Path> temporaries(Path parent) throws IOException {
    if (!Files.isDirectory(parent)) return List.of();
    try (Stream<Path> s = Files.list(parent)) {
      return s.filter(p -> p.getFileName().toString().matches("\\..*\\.tmp(dir)?")).toList();
    }
  }

  private static void assertNoTemporaries(Path parent) throws IOException {
    assertThat(temporaries(parent)).as("temporaries left in %s", parent).isEmpty();
  }
}
