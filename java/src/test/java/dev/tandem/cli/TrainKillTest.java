package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.testing.CliProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tandem train} killed with SIGKILL at random moments and resumed, until it finishes: after every
 * kill the output directory is absent or complete (never partial), the final model is byte-identical to
 * an uninterrupted run's, and no temporary is left anywhere in the run or beside the output.
 */
class TrainKillTest {
  @TempDir Path dir;

  private List<String> args(Path corpus, Path tokenizer, String run, String out, boolean resume) {
    List<String> a = new ArrayList<>(List.of("train", "primary", "--tokenizer", tokenizer.toString(), "--hidden", "48",
        "--layers", "2", "--heads", "4", "--intermediate", "128", "--seq-len", "32", "--batch", "4", "--val-every",
        "10", "--val-sequences", "2", "--checkpoint-every", "3", "--segment-bytes", "256", "--val-fraction", "0.1",
        "--warmup", "2", "--steps", "12", "--threads", "1", "--run", dir.resolve(run).toString(), "--out",
        dir.resolve(out).toString()));
    if (resume) a.add("--resume");
    a.add(corpus.toString());
    return a;
  }

  @Test
  void killedTrainingResumesToTheSameModelAndLeavesNothingPartial() throws Exception {
    StringBuilder text = new StringBuilder();
    SplittableRandom r = new SplittableRandom(1);
    String[] words = {"the", "king", "said", "unto", "them", "and", "it", "was", "so", "people", "of", "nation"};
    for (int i = 0; i < 8000; i++) text.append(words[r.nextInt(words.length)]).append(i % 13 == 0 ? ".\n" : " ");
    Path corpus = Files.writeString(dir.resolve("corpus.txt"), text);
    CliTest.Run tok = CliTest.run("train", "tokenizer", "--vocab", "300", "--out", dir.resolve("tok").toString(),
        "--segment-bytes", "256", "--val-fraction", "0.1", corpus.toString());
    assertThat(tok.exit()).as(tok.err()).isZero();
    Path tokenizer = dir.resolve("tok/tokenizer.json");

    long start = System.nanoTime();
    Process whole = CliProcess.start(dir.resolve("whole.log"), args(corpus, tokenizer, "run-whole", "whole", false)
        .toArray(new String[0]));
    assertThat(whole.waitFor()).as(Files.readString(dir.resolve("whole.log"))).isZero();
    long wholeMillis = (System.nanoTime() - start) / 1_000_000;
    byte[] expected = Files.readAllBytes(dir.resolve("whole/model.safetensors"));

    // Kills: as soon as a checkpoint is being written (a temporary beside it); at a random moment; as soon
    // as the output directory is being written (its temporary, or the directory itself when not atomic);
    // then a last resume runs to the end.
    SplittableRandom random = new SplittableRandom(3);
    Path out = dir.resolve("killed");
    Path stage = dir.resolve("run-killed").resolve("ce");
    int kills = 0;
    for (String when : new String[] {"checkpoint", "random", "output", "end"}) {
      Process p = CliProcess.start(dir.resolve("killed.log"), args(corpus, tokenizer, "run-killed", "killed", kills > 0)
          .toArray(new String[0]));
      switch (when) {
        case "random" -> Thread.sleep(random.nextLong(wholeMillis / 8, wholeMillis / 2));
        case "checkpoint" -> awaitWhileAlive(p, () -> !temporaries(stage).isEmpty());
        case "output" -> awaitWhileAlive(p, () -> !temporaries(dir).isEmpty() || Files.exists(out));
        default -> { }
      }
      if (!when.equals("end") && p.isAlive()) {
        CliProcess.kill9(p);
        kills++;
        assertThat(!Files.exists(out) || Files.isRegularFile(out.resolve("training.json")))
            .as("a partial output directory after the kill at %s", when).isTrue();
        if (Files.exists(out)) break; // killed after the output was complete
        continue;
      }
      assertThat(p.waitFor()).as(Files.readString(dir.resolve("killed.log"))).isZero();
      if (Files.exists(out)) break;
    }
    assertThat(kills).as("kills before the run finished").isPositive();
    assertThat(Files.readAllBytes(out.resolve("model.safetensors"))).as("the model after %d kills", kills)
        .isEqualTo(expected);
    try (Stream<Path> all = Stream.concat(Files.walk(dir.resolve("run-killed")), Files.list(dir))) {
      assertThat(all.filter(f -> f.getFileName().toString().matches("\\..*\\.tmp(dir)?")).toList())
          .as("temporaries left behind").isEmpty();
    }
  }

  private static java.util.List<Path> temporaries(Path parent) throws java.io.IOException {
    if (!Files.isDirectory(parent)) return List.of();
    try (Stream<Path> s = Files.list(parent)) {
      return s.filter(f -> f.getFileName().toString().matches("\\..*\\.tmp(dir)?")).toList();
    } catch (java.nio.file.NoSuchFileException e) {
      return List.of();
    }
  }

  interface Condition {
    boolean holds() throws java.io.IOException;
  }

  /** Spins until {@code c} holds or {@code p} ends (at most a minute). */
  private static void awaitWhileAlive(Process p, Condition c) throws java.io.IOException {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (p.isAlive() && System.nanoTime() < deadline && !c.holds()) Thread.onSpinWait();
  }
}
