package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.cli.CliTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18, items 5, 6, 8 and 9 for {@code tandem train}: a resume with other run-defining arguments is
 * refused naming the argument; output paths are checked before training; an existing model is never
 * overwritten; empty and binary text are reported.
 */
class TrainArgumentsTest {
  @TempDir static Path dir;
  static Path corpus, other, tokenizer;

  @BeforeAll
  static void text() throws Exception {
    StringBuilder text = new StringBuilder();
    java.util.SplittableRandom r = new java.util.SplittableRandom(1);
    String[] words = {"the", "king", "said", "unto", "them", "and", "it", "was", "so", "people", "of", "nation"};
    for (int i = 0; i < 3000; i++) text.append(words[r.nextInt(words.length)]).append(i % 13 == 0 ? ".\n" : " ");
    corpus = Files.writeString(dir.resolve("corpus.txt"), text);
    other = Files.writeString(dir.resolve("other.txt"), text.toString().replace("king", "queen"));
    Run tok = CliTest.run("train", "tokenizer", "--vocab", "280", "--out", dir.resolve("tok").toString(),
        "--segment-bytes", "256", "--val-fraction", "0.1", corpus.toString());
    assertThat(tok.exit()).as(tok.err()).isZero();
    tokenizer = dir.resolve("tok/tokenizer.json");
  }

  static Run train(String run, String out, String... extra) {
    List<String> a = new ArrayList<>(List.of("train", "primary", "--tokenizer", tokenizer.toString(), "--hidden", "16",
        "--layers", "1", "--heads", "2", "--intermediate", "24", "--seq-len", "16", "--batch", "2", "--val-every", "2",
        "--val-sequences", "2", "--checkpoint-every", "2", "--segment-bytes", "256", "--val-fraction", "0.1",
        "--warmup", "1", "--steps", "2", "--threads", "1", "--run", run, "--out", out));
    for (int i = 0; i < extra.length; i++) { // an option given again replaces its default value
      int at = a.indexOf(extra[i]);
      if (at >= 0 && extra[i].startsWith("--")) {
        a.set(at + 1, extra[++i]);
      } else {
        a.add(extra[i]);
      }
    }
    if (a.stream().noneMatch(s -> s.endsWith(".txt") || s.endsWith(".bin"))) a.add(corpus.toString());
    return CliTest.run(a.toArray(new String[0]));
  }

  /** Exit 1 with the error as one line at the end (after the run's own progress lines), no stack trace. */
  static void assertErrorExit1(Run r, String expected) {
    assertThat(r.exit()).as(r.err()).isEqualTo(1);
    List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
    assertThat(lines.getLast()).as(r.err()).startsWith("tandem: ").contains(expected);
    assertThat(lines.stream().filter(l -> l.startsWith("tandem: ") || l.startsWith("\tat ")).count()).as(r.err())
        .isEqualTo(1);
  }

  @Test
  void resumeWithOtherRunArgumentsIsRefusedNamingTheArgument() throws Exception {
    String run = dir.resolve("runs/a").toString();
    Run first = train(run, dir.resolve("a1").toString());
    assertThat(first.exit()).as(first.err()).isZero();
    // as if killed after its last checkpoint: the stage is not marked done
    Files.delete(dir.resolve("runs/a/ce/done.json"));

    assertErrorExit1(train(run, dir.resolve("a2").toString(), "--resume", "--seq-len", "8"),
        "made with --seq-len 16, this command gives 8");
    assertErrorExit1(train(run, dir.resolve("a2").toString(), "--resume", "--steps", "3"),
        "made with --steps 2, this command gives 3");
    assertErrorExit1(train(run, dir.resolve("a2").toString(), "--resume", "--seed", "9"), "--seed 1");
    assertErrorExit1(train(run, dir.resolve("a2").toString(), "--resume", other.toString()), "text files");
    assertThat(dir.resolve("a2")).doesNotExist();

    // reporting settings may change; the same arguments continue the run
    Run resumed = train(run, dir.resolve("a3").toString(), "--resume", "--val-every", "1", "--checkpoint-every", "1");
    assertThat(resumed.exit()).as(resumed.err()).isZero();
    // a finished stage rerun with other arguments is refused too, not silently reused
    assertErrorExit1(train(run, dir.resolve("a4").toString(), "--resume", "--lr", "0.5"), "--lr");
  }

  @Test
  void outputIsCheckedBeforeTrainingAndNeverOverwritten() throws Exception {
    Run first = train(dir.resolve("runs/b").toString(), dir.resolve("b").toString());
    assertThat(first.exit()).as(first.err()).isZero();
    byte[] weights = Files.readAllBytes(dir.resolve("b/model.safetensors"));

    Run again = train(dir.resolve("runs/b2").toString(), dir.resolve("b").toString());
    assertErrorExit1(again, "--out " + dir.resolve("b") + " already holds a model");
    assertThat(dir.resolve("runs/b2/ce")).as("trained before refusing").doesNotExist();
    assertThat(Files.readAllBytes(dir.resolve("b/model.safetensors"))).isEqualTo(weights);

    Path notADirectory = Files.writeString(dir.resolve("file.md"), "a file");
    Run unwritable = train(dir.resolve("runs/b3").toString(), notADirectory.resolve("x").toString());
    assertErrorExit1(unwritable, "cannot write " + notADirectory.resolve("x"));
    assertThat(dir.resolve("runs/b3")).as("trained before refusing").doesNotExist();

    assertErrorExit1(train(notADirectory.toString(), dir.resolve("b4").toString()),
        "--run " + notADirectory + " is a file, not a directory");
  }

  @Test
  void emptyAndBinaryTextAreReported() throws Exception {
    Path empty = Files.writeString(dir.resolve("empty.txt"), "");
    assertErrorExit1(train(dir.resolve("runs/c").toString(), dir.resolve("c").toString(), empty.toString()),
        "the training text is empty");

    byte[] bytes = Files.readAllBytes(corpus);
    byte[] mixed = java.util.Arrays.copyOf(bytes, bytes.length + 300);
    for (int i = 0; i < 300; i++) mixed[bytes.length + i] = (byte) (i % 2 == 0 ? 0x00 : 0xFF);
    Path binary = Files.write(dir.resolve("mixed.bin"), mixed);
    Run r = train(dir.resolve("runs/d").toString(), dir.resolve("d").toString(), binary.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.err()).contains("warning: 300 of " + String.format("%,d", mixed.length) + " bytes of the training"
        + " text are not text");
  }
}
