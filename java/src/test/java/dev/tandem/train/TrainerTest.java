package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.io.SafetensorsFile;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.testing.Close;
import dev.tandem.train.data.PackedSequences;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training loop: learning, kill and resume (bitwise), atomic checkpoints. */
class TrainerTest {
  static final WorkerPool POOL = new WorkerPool(2);
  static final Gemm GEMM = new Gemm(POOL);
  static final LlamaConfig TINY = new LlamaConfig(24, 16, 32, 2, 2, 1, 10000.0, 1e-5, 64, false, "float32");

  @AfterAll
  static void close() {
    POOL.close();
  }

  /** A synthetic corpus: a repeated pattern with a little noise, easy to learn. */
  static int[] corpus(int n, long seed) {
    java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = r.nextInt(10) == 0 ? r.nextInt(24) : (i * 7 + i / 5) % 24;
    return t;
  }

  static Trainer.Options options(int steps, int checkpointEvery, int[] blockLengths) {
    return new Trainer.Options(steps, new LearningRate(3e-2, 3e-3, 3, steps), 1.0, 0.9, 0.95, 1e-8, 0.01, 5, 4,
        checkpointEvery, 7, blockLengths);
  }

  @Test
  void lossDecreasesOnASyntheticCorpus(@TempDir Path dir) throws IOException {
    PackedSequences train = new PackedSequences(corpus(4000, 1), 16, 1);
    PackedSequences val = new PackedSequences(corpus(600, 2), 16, 1);
    TrainModel model = TrainModel.plain(ModelWeights.random(TINY, 1));
    LanguageModelStep step = new LanguageModelStep(GEMM, model, null, 1f, 0f, 4, 16, true);
    Trainer trainer = new Trainer(dir, "test", step, train, val, options(60, 100, null)).progress(quiet());
    double before = trainer.validationLoss();
    Trainer.Summary s = trainer.run(false);
    assertThat(s.steps()).isEqualTo(60);
    assertThat(s.valLoss()).as("validation loss after 60 updates (before: %.3f)", before).isLessThan(before - 1.0);
    List<TrainLog.Row> rows = TrainLog.read(dir.resolve(TrainLog.FILE));
    assertThat(rows).hasSize(60);
    assertThat(rows.getLast().loss()).isLessThan(rows.getFirst().loss() - 1.0);
  }

  @Test
  void killedAndResumedRunMatchesAnUninterruptedRunBitwise(@TempDir Path dir) throws IOException {
    for (boolean tandem : new boolean[] {false, true}) {
      Path whole = dir.resolve("whole-" + tandem), killed = dir.resolve("killed-" + tandem);
      float[][] expected = runTiny(whole, tandem, null, false);
      // Killed after 5 updates, with checkpoints every 2: updates 5 is lost and redone after resuming.
      assertThat(runTiny(killed, tandem, 5L, false)).isNull();
      assertThat(Checkpoint.read(killed.resolve(Checkpoint.FILE), runTinyModel(tandem).params(), null).step())
          .isEqualTo(4);
      float[][] resumed = runTiny(killed, tandem, null, true);
      for (int i = 0; i < expected.length; i++) {
        Close.assertBitwise((tandem ? "tandem" : "plain") + " parameter " + i, expected[i], resumed[i],
            expected[i].length);
      }
      List<TrainLog.Row> a = TrainLog.read(whole.resolve(TrainLog.FILE));
      List<TrainLog.Row> b = TrainLog.read(killed.resolve(TrainLog.FILE));
      assertThat(b).hasSameSizeAs(a);
      for (int i = 0; i < a.size(); i++) {
        assertThat(b.get(i).loss()).as("loss at update %d", i + 1).isEqualTo(a.get(i).loss());
        assertThat(Double.valueOf(b.get(i).valLoss())).isEqualTo(Double.valueOf(a.get(i).valLoss()));
      }
    }
  }

  @Test
  void aCheckpointIsNotOverwrittenWithoutResume(@TempDir Path dir) throws IOException {
    runTiny(dir, false, 3L, false);
    assertThatThrownBy(() -> runTiny(dir, false, null, false)).hasMessageContaining("--resume");
  }

  private static TrainModel runTinyModel(boolean tandem) {
    if (!tandem) return TrainModel.plain(ModelWeights.random(TINY, 3));
    LlamaConfig primary = new LlamaConfig(24, 12, 20, 2, 2, 2, 10000.0, 1e-5, 64, false, "float32");
    return TrainModel.tandem(TandemWeights.random(
        new TandemConfig(TINY, new int[] {1, 2}, 2, PrimaryFingerprint.of(primary, "")), 3, 0.02));
  }

  /** 9 updates (checkpoints every 2); returns the final parameters, or null when stopped early. */
  private static float[][] runTiny(Path dir, boolean tandem, Long stopAfter, boolean resume) throws IOException {
    PackedSequences train = new PackedSequences(corpus(3000, 1), 16, 5);
    PackedSequences val = new PackedSequences(corpus(300, 2), 16, 5);
    TrainModel model = runTinyModel(tandem);
    TrainModel primary = tandem ? TrainModel.plain(ModelWeights.random(
        new LlamaConfig(24, 12, 20, 2, 2, 2, 10000.0, 1e-5, 64, false, "float32"), 4, 0.3)) : null;
    LanguageModelStep step = new LanguageModelStep(GEMM, model, primary, tandem ? 0.5f : 1f, tandem ? 0.5f : 0f, 3,
        16, true);
    Trainer trainer = new Trainer(dir, "test", step, train, val, options(9, 2, tandem ? new int[] {2, 3} : null))
        .progress(quiet());
    if (stopAfter != null) trainer.stopAfter(stopAfter);
    if (trainer.run(resume) == null) return null;
    return model.params().stream().map(p -> p.value.clone()).toArray(float[][]::new);
  }

  static Progress quiet() {
    return new Progress(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()), "test", 1, false, 1e9);
  }

  @Test
  void checkpointsAreReplacedAtomically(@TempDir Path dir) throws Exception {
    // A big parameter so each write takes a while; a reader polls the file during many writes and must
    // always find a complete checkpoint (the old one or the new one), never a partial one.
    Param big = new Param("big", 1024, 2048, new float[1024 * 2048]);
    List<Param> params = List.of(big);
    AdamW opt = new AdamW(params, 0.9, 0.95, 1e-8, 0);
    Path file = dir.resolve(Checkpoint.FILE);
    Checkpoint.write(file, params, opt, new Checkpoint.State(0, 0, 0, 0, 0));
    AtomicBoolean writing = new AtomicBoolean(true);
    AtomicInteger reads = new AtomicInteger();
    Thread writer = Thread.ofPlatform().start(() -> {
      try {
        for (int i = 1; i <= 6; i++) {
          java.util.Arrays.fill(big.value, i);
          Checkpoint.write(file, params, opt, new Checkpoint.State(i, i, i, i, i));
        }
      } catch (IOException e) {
        throw new RuntimeException(e);
      } finally {
        writing.set(false);
      }
    });
    while (writing.get()) {
      Param copy = new Param("big", 1024, 2048, new float[1024 * 2048]);
      Checkpoint.State s = Checkpoint.read(file, List.of(copy), null);
      assertThat(copy.value[0]).isEqualTo((float) s.step());
      assertThat(copy.value[copy.value.length - 1]).isEqualTo((float) s.step());
      reads.incrementAndGet();
    }
    writer.join();
    assertThat(reads.get()).isGreaterThan(0);
    // A kill in the middle of a write leaves at most a temporary file beside the checkpoint; it is ignored.
    Files.write(dir.resolve("." + Checkpoint.FILE + ".deadbeef.tmp"), new byte[] {1, 2, 3});
    Param copy = new Param("big", 1024, 2048, new float[1024 * 2048]);
    assertThat(Checkpoint.read(file, List.of(copy), null).step()).isEqualTo(6);
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertThat(f.metadata()).containsKey("train_state");
    }
  }
}
