package dev.tandem.cli;

import static dev.tandem.cli.CliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tandem demo and tandem bench paper on a demo-models directory laid out like models/demo (random weights). */
class DemoCliTest {
  @TempDir static Path dir;
  static Path models;

  static void ok(CliTest.Run r) {
    assertThat(r.exit()).as(r.err()).isZero();
  }

  @BeforeAll
  static void demoModels() throws Exception {
    models = dir.resolve("demo");
    Path primary = models.resolve("primary");
    ok(run("init", "--config", SpeedCliTest.config(dir, "p", 32, 3, 300).toString(), "--out", primary.toString()));
    for (String plain : new String[] {"drafter", "drafter-distil"}) {
      ok(run("init", "--config", SpeedCliTest.config(dir, "d", 16, 2, 300).toString(), "--out",
          models.resolve(plain).toString(), "--tokenizer", primary.resolve("tokenizer.json").toString()));
    }
    for (String tandem : new String[] {"tandem-ce", "tandem-distil"}) {
      ok(run("init", "--config", SpeedCliTest.config(dir, "s", 16, 2, 300).toString(), "--out",
          models.resolve(tandem).toString(), "--secondary-of", primary.toString()));
    }
    ok(run("init-router", "--drafter", models.resolve("tandem-distil").toString(), "--out",
        models.resolve("router").toString(), "--threshold", "0.5"));
  }

  @Test
  void demoComparesThePrimaryAloneWithBothDrafters() {
    CliTest.Run r = run("demo", "--models", models.toString(), "--max-tokens", "6", "--device", "cpu");
    ok(r);
    assertThat(r.out()).contains("primary alone").contains("SPEED, distilled drafter")
        .contains("SPEED, Tandem-Distil secondary");
    assertThat(r.out()).doesNotContain(" NO");  // greedy SPEED is identical to the primary
    assertThat(r.out()).contains("median of 3 rounds").contains("one at a time (batch 1)");
    CliTest.Run together = run("demo", "--models", models.toString(), "--max-tokens", "6", "--batch", "--repeats", "1",
        "--device", "cpu");
    ok(together);
    assertThat(together.out()).contains("as one batch of 4").doesNotContain(" NO");
    CliTest.Run bad = run("demo", "--models", models.toString(), "--repeats", "0", "--device", "cpu");
    assertThat(bad.exit()).isEqualTo(1);
    assertThat(bad.err()).contains("--repeats must be >= 1");
  }

  @Test
  void paperBenchWritesTheTables() throws Exception {
    Path text = dir.resolve("corpus.txt");
    StringBuilder corpus = new StringBuilder();
    for (int i = 0; i < 400; i++) corpus.append("Chapter ").append(i).append(". It was a bright cold day in April. ");
    Files.writeString(text, corpus.toString());
    Path report = dir.resolve("paper.md");
    CliTest.Run r = run("bench", "paper", text.toString(), "--models", models.toString(), "--out", report.toString(),
        "--eval-positions", "40", "--prompts", "2", "--prompt-tokens", "8", "--max-tokens", "6", "--gammas", "2,3",
        "--gamma-max", "4", "--val-fraction", "0.5", "--segment-bytes", "256", "--device", "cpu", "--repeats", "2");
    ok(r);
    String md = Files.readString(report);
    assertThat(md).contains("## Table 1").contains("Tandem-Distil").contains("## Table 2").contains("## Tables 4 and 5")
        .contains("`./tandem bench paper " + text).doesNotContain("bench paper bench paper").contains("measured 2 times")
        .contains("| vs distilled drafter |").contains("Best against best")
        .contains("router as stored (token rule, threshold 0.500)")
        .contains("router, threshold 0.15").contains("router, survival rule, threshold 0.30")
        .containsPattern("\\| vs fixed gamma [23] \\|").doesNotContain("| NO |");
  }
}
